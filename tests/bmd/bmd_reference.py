"""Helpers of the BOLD Moments plugin tests: the store writer call and an independent float64 reference.

The store is written by the plugin's ``berg_write_synthetic_store`` hook in
BERG 2.0's real formats (seeded; 3 SVD components and a small volume). The
reference is computed here without the plugin's code: frame indices by integer
arithmetic, the S3D transform in NumPy float64 (bilinear resize without
antialias, centre crop, scaling, Kinetics normalisation), torchvision's own
``create_feature_extractor`` on a float64 copy of S3D, and the notes' sklearn
math in float64 on the files as ``np.load`` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

MODEL_ID = "fmri-bmd-s3d"
STORE_SEED = 5
N_COMPONENTS = 3
VOLUME_SHAPE = (9, 10, 8)
N_VOXELS = 60
S3D_SEED = 4321
NODES = ["features.2", "features.5.cat", "features.7", "features.9.cat", "features.11.cat", "features.13", "avgpool"]
MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)
MODEL_DIR = "encoding_models/modality-fmri/train_dataset-bmd/model-s3d"
STORE_OPTIONS = {"n_components": N_COMPONENTS, "volume_shape": list(VOLUME_SHAPE), "n_voxels": N_VOXELS}


def pca_path(root: Path) -> Path:
    return root / MODEL_DIR / "encoding_models_weights" / "pca_weights.npy"


def weights_path(root: Path, subject: int) -> Path:
    return root / MODEL_DIR / "encoding_models_weights" / f"weights_sub-{subject:02d}.npy"


def metadata_path(root: Path, subject: int) -> Path:
    return root / MODEL_DIR / "metadata" / f"metadata_sub-{subject:02d}.npy"


def write_store(root: Path, subjects: list[int], seed: int = STORE_SEED, **options: Any) -> list[str]:
    """Write a synthetic store through the plugin's hook, as ``berg demo`` does."""
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry.get(MODEL_ID)
    hook = pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)
    return hook(card=reg.card, root=str(root), subjects=subjects, seed=seed, options={**STORE_OPTIONS, **options})  # type: ignore[no-any-return]


def load_pickled(path: Path) -> dict[str, Any]:
    """The test's own reader of a file it wrote itself (never used by the code under test)."""
    return np.load(path, allow_pickle=True).item()  # type: ignore[no-any-return]


def write_s3d_weights(path: Path, seed: int = S3D_SEED) -> Path:
    """Seeded torchvision ``s3d`` weights in its real file format (a state dict saved by ``torch.save``)."""
    from torchvision.models.video import s3d

    torch.manual_seed(seed)
    model = s3d(weights=None)
    # non-trivial batch-norm statistics, so the running mean and variance are really read
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


# ---- independent reference --------------------------------------------------------------------
def reference_indices(n_frames: int, mode: str = "train") -> np.ndarray:
    """np.linspace(0, T - 1, 14, dtype=int) by integer arithmetic; short clips padded with the last frame (train)."""
    if n_frames < 14:
        assert mode == "train"
        return np.array([min(i, n_frames - 1) for i in range(14)])
    return np.array([(i * (n_frames - 1)) // 13 for i in range(14)])


def _resize_axis(x: np.ndarray, axis: int, out: int) -> np.ndarray:
    """Bilinear resize along ``axis`` (half-pixel centres, edge-clamped, no antialias), float64."""
    n = x.shape[axis]
    src = np.maximum((np.arange(out) + 0.5) * (n / out) - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    shape = [1] * x.ndim
    shape[axis] = out
    return np.take(x, i0, axis=axis) * (1 - lam).reshape(shape) + np.take(x, i1, axis=axis) * lam.reshape(shape)


def reference_transform(clip: np.ndarray, mode: str = "train") -> np.ndarray:
    """``(T, 3, H, W)`` uint8 -> ``(3, 14, 224, 224)`` float64: frames, resize 256x256 (rounded to uint8), crop, normalise."""
    frames = clip[reference_indices(clip.shape[0], mode)].astype(np.float64)
    resized = _resize_axis(_resize_axis(frames, 2, 256), 3, 256)
    resized = np.clip(np.round(resized), 0, 255)  # the resize runs on uint8 frames: rounded back
    cropped = resized[:, :, 16:240, 16:240] / 255.0
    x = (cropped - np.array(MEAN).reshape(1, 3, 1, 1)) / np.array(STD).reshape(1, 3, 1, 1)
    return x.transpose(1, 0, 2, 3)


def reference_extractor(weights_file: Path) -> torch.nn.Module:
    """torchvision's ``create_feature_extractor`` with BERG 2.0's nodes, in float64."""
    from torchvision.models.feature_extraction import create_feature_extractor
    from torchvision.models.video import s3d

    model = s3d(weights=None)
    model.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    return create_feature_extractor(model.double().eval(), return_nodes=NODES)


def reference_features(extractor: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """``(B, 4084096)`` float64 node outputs, flattened C-major and concatenated in node order."""
    with torch.no_grad():
        out = extractor(torch.from_numpy(np.ascontiguousarray(x)))
    return torch.cat([out[n].flatten(1) for n in NODES], dim=1).numpy()


def reference_bmd(features: np.ndarray, pca: dict[str, Any], weights: dict[str, Any], rows: Any = None) -> np.ndarray:
    """StandardScaler -> TruncatedSVD (no centring) -> LinearRegression, float64."""
    sc, svd = pca["scaler_param"], pca["pca_param"]
    z = ((features - sc["mean_"]) / sc["scale_"]) @ svd["components_"].T
    coef, intercept = weights["coef_"], weights["intercept_"]
    if rows is not None:
        coef, intercept = coef[rows], intercept[rows]
    return z @ coef.T + intercept


def assert_matches_reference(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference, relative to the output's scale."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
