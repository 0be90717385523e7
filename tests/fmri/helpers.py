"""Independent reference implementations and readers used by the fMRI tests.

Everything here follows the store reference document directly with plain
NumPy / torch operations; none of it calls the plugin's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
FSAVERAGE_DIR = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"


def load_npy_dict(path: Path) -> dict[str, Any]:
    """Read one of the test's own pickled ``.npy`` dicts (trusted: the tests wrote it)."""
    return np.load(path, allow_pickle=True).item()  # type: ignore[no-any-return]


def fsaverage_weights(root: Path, subject: int) -> dict[str, Any]:
    return load_npy_dict(root / FSAVERAGE_DIR / "encoding_models_weights" / f"weights_subject-{subject:02d}.npy")


def fsaverage_meta(root: Path, subject: int) -> dict[str, Any]:
    return load_npy_dict(root / FSAVERAGE_DIR / "metadata" / f"metadata_subject-{subject:02d}.npy")


def imagenet_normalise(images_uint8: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] and normalise with ImageNet statistics (images already 224 x 224)."""
    return (images_uint8.astype(np.float64) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


def fsaverage_reference(weights: dict[str, Any], features: np.ndarray, lh: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """The reference math in float64: scaler, PCA, one regression per hemisphere; lh columns first."""
    sc, pca = weights["scaler_param"], weights["pca_param"]
    z = ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"].astype(np.float64)) @ pca["components_"].astype(np.float64).T
    parts = []
    for hemi, idx in (("lh", lh), ("rh", rh)):
        reg = weights[f"{hemi}_reg_param"]
        parts.append(z @ reg["coef_"][idx].astype(np.float64).T + reg["intercept_"][idx])
    return np.concatenate(parts, axis=1)


def fwrf_checkpoint(root: Path, subject: int, roi: str, split: int | None = None) -> dict[str, Any]:
    """Load one of the test's own fwRF checkpoints with plain torch (trusted: the tests wrote it)."""
    import torch

    suffix = f"_split-{split}" if split else ""
    path = root / FWRF_DIR / "encoding_models_weights" / f"weights_sub-{subject:02d}_roi-{roi}{suffix}.pt"
    return torch.load(path, map_location="cpu", weights_only=False)  # type: ignore[no-any-return]


def fwrf_meta(root: Path, subject: int, roi: str) -> dict[str, Any]:
    return load_npy_dict(root / FWRF_DIR / "metadata" / f"metadata_sub-{subject:02d}_roi-{roi}.npy")


def fwrf_reference(enc: dict[str, Any], fwrf: dict[str, Any], x: Any) -> np.ndarray:
    """The fwRF model of the reference text, with plain tensor ops on the state dicts.

    ``x``: (B, 3, 227, 227) float32 tensor in [0, 1]. Returns (B, voxels) float64.
    """
    import torch
    import torch.nn.functional as F

    def bn(h: Any, p: str) -> Any:
        return F.batch_norm(h, enc[f"{p}.running_mean"], enc[f"{p}.running_var"], enc[f"{p}.weight"], enc[f"{p}.bias"],
                            training=False, eps=1e-5)

    def conv(h: Any, p: str, **kw: Any) -> Any:
        return F.conv2d(h, enc[f"{p}.weight"], enc[f"{p}.bias"], **kw)

    def block(h: Any, name: str) -> Any:  # bn -> (dropout off) -> conv k3 pad 1 -> ReLU
        return torch.relu(conv(bn(h, f"enc.{name}.bn1"), f"enc.{name}.conv1", padding=1))

    def nl(t: Any) -> Any:
        return torch.log(1 + torch.abs(t)) * torch.tanh(t)

    with torch.no_grad():
        x = x.double() - enc["mu"].double()
        enc = {k: v.double() for k, v in enc.items()}
        fwrf = {k: v.double() for k, v in fwrf.items()}
        c1 = F.max_pool2d(torch.relu(conv(x, "pre.conv1.0", stride=4, padding=2)), 3, 2)
        y = torch.relu(conv(c1, "pre.conv2.0", padding=2))
        c3 = torch.relu(conv(bn(y, "enc.bn1"), "enc.conv3"))
        c4a = block(c3, "conv4a")
        c4b = block(c4a, "conv4b")
        c5a = block(F.max_pool2d(c4b, 3, 2, padding=1), "conv5a")
        c5b = block(c5a, "conv5b")
        c6a = block(c5b, "conv6a")
        c6b = block(c6a, "conv6b")
        fmaps = [torch.cat([c1, y], 1), torch.cat([c3, c4a[:, :64], c4b[:, :64]], 1),
                 torch.cat([c5a[:, :64], c5b[:, :64], c6a[:, :64], c6b], 1)]
        phis = []
        for k, fm in enumerate(fmaps):
            g = torch.softmax(fwrf[f"rf{k}"].flatten(1), dim=1)  # (V, S)
            phis.append(torch.einsum("vs,ncs->vnc", g, nl(fm.flatten(2))))
        phi = nl(torch.cat(phis, dim=2))  # (V, N, 768)
        out = torch.einsum("vnc,vc->nv", phi, fwrf["w"]) + fwrf["b"]
    return out.numpy()
