"""An independent reference of the ViT-B/32 models' math, for checking the demo's outputs.

Features come from torchvision's ``create_feature_extractor`` on the 12
``encoder.layers.encoder_layer_{i}.add_1`` nodes; the read-outs follow the
store reference document in float64 NumPy on the weights as the test reads
them itself (``np.load`` of files the demo wrote, never used by berg).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

NODES = [f"encoder.layers.encoder_layer_{i}.add_1" for i in range(12)]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_pickled(path: Path) -> dict[str, Any]:
    """The test's own reader of a BERG 2.0 ``.npy`` dict."""
    return np.load(path, allow_pickle=True).item()  # type: ignore[no-any-return]


def vit_features(weights_file: Path, images: np.ndarray) -> np.ndarray:
    """``(N, 460800)`` float64 features of uint8 ``(N, 3, H, W)`` images, fitting-time preparation."""
    from torchvision.models import vit_b_32
    from torchvision.models.feature_extraction import create_feature_extractor
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    vit = vit_b_32(weights=None)
    vit.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    extractor = create_feature_extractor(vit.eval(), return_nodes=NODES)
    x = torch.from_numpy(images)
    side = min(x.shape[-2:])
    x = TF.center_crop(x, [side, side])
    x = TF.resize(x, [224, 224], interpolation=InterpolationMode.BILINEAR, antialias=True)
    x = TF.normalize(x.float() / 255.0, list(IMAGENET_MEAN), list(IMAGENET_STD))
    with torch.no_grad():
        out = extractor(x)
    return torch.cat([out[n].flatten(1) for n in NODES], dim=1).double().numpy()


def pca_scores(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T``."""
    sc, pca = weights["scaler_param"], weights["pca_param"]
    return ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ np.asarray(pca["components_"], dtype=np.float64).T


def eeg_responses(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """``(N, 4, 63, 140)``: one regression per repetition, outputs channel-major."""
    z = pca_scores(features, weights)
    reps = [z @ weights["reg_param"][f"rep-{r}"]["coef_"].T + weights["reg_param"][f"rep-{r}"]["intercept_"] for r in range(1, 5)]
    return np.stack(reps, axis=1).reshape(len(features), 4, 63, 140)


def fsaverage_responses(features: np.ndarray, weights: dict[str, Any], hemi: str, vertices: np.ndarray) -> np.ndarray:
    """``(N, len(vertices))`` responses of some vertices of one hemisphere."""
    reg = weights[f"{hemi}_reg_param"]
    coef = np.asarray(reg["coef_"], dtype=np.float64)[vertices]
    return pca_scores(features, weights) @ coef.T + np.asarray(reg["intercept_"], dtype=np.float64)[vertices]


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference, relative to the output's scale."""
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
