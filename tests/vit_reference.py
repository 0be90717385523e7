"""The independent ViT-B/32 reference that the THINGS-fMRI1 and TVSD tests share.

ViT-B/32 block features from torchvision's ``create_feature_extractor`` (nodes
``encoder.layers.encoder_layer_{0..11}.add_1``, i.e. the blocks' outputs), both image
preparations written with torchvision's own functions, and BERG 2.0's sklearn math
(StandardScaler -> PCA -> LinearRegression) in NumPy float64 on the weights as ``np.load``
reads the files the tests themselves wrote. Nothing here calls the code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

NODES = [f"encoder.layers.encoder_layer_{i}.add_1" for i in range(12)]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_pickled(path: Path) -> dict[str, Any]:
    """The test's own reader of a file it wrote itself (never used by the code under test)."""
    return np.load(path, allow_pickle=True).item()  # type: ignore[no-any-return]


def reference_extractor(weights_file: Path) -> torch.nn.Module:
    from torchvision.models import vit_b_32
    from torchvision.models.feature_extraction import create_feature_extractor

    vit = vit_b_32(weights=None)
    vit.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    return create_feature_extractor(vit.eval(), return_nodes=NODES)


def reference_features(extractor: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """``(B, 460800)`` float64 features: each block's (50, 768) tokens flattened, blocks in order."""
    with torch.no_grad():
        out = extractor(x)
    return torch.cat([out[n].flatten(1) for n in NODES], dim=1).double().numpy()


def train_transform(images: np.ndarray) -> torch.Tensor:
    """Fitting-time preparation: centre square crop, bilinear resize to 224, [0, 1], ImageNet normalisation."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    x = torch.from_numpy(images)
    side = min(x.shape[-2:])
    x = TF.resize(TF.center_crop(x, [side, side]), [224, 224], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.normalize(x.float() / 255.0, list(MEAN), list(STD))


def berg2_transform(images: np.ndarray) -> torch.Tensor:
    """BERG 2.0's inference transform: torchvision's IMAGENET1K_V1 preset on the uint8 batch."""
    from torchvision.models import ViT_B_32_Weights

    return ViT_B_32_Weights.IMAGENET1K_V1.transforms()(torch.from_numpy(images))


def reference_linear(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """StandardScaler -> PCA -> LinearRegression in float64: ``(images, outputs)``."""
    sc, pca, reg = weights["scaler_param"], weights["pca_param"], weights["reg_param"]
    z = ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"].astype(np.float64)) @ pca["components_"].astype(np.float64).T
    return z @ reg["coef_"].astype(np.float64).T + reg["intercept_"].astype(np.float64)
