"""Helpers of the THINGS-MEG1 plugin tests: the store writer call and the independent reference.

The store is written by the plugin's ``berg_write_synthetic_store`` hook in
BERG 2.0's real formats (seeded, 8 PCA components instead of 250). The
reference outputs are computed independently here: forward hooks on the
modules ``encoder.layers.encoder_layer_k`` of torchvision's ViT-B/32 (what
BERG 2.0's MEG code extracts with ``torchextractor``), then the reference
notes' sklearn math in NumPy float64 on the weights as the test reads them
with ``np.load`` (files the test itself wrote).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

MODEL_ID = "meg-things_meg_1-vit_b_32"
STORE_SEED = 5
N_COMPONENTS = 8
N_SENSORS, N_TIMES = 271, 281
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_DIR = "encoding_models/modality-meg/train_dataset-things_meg_1/model-vit_b_32"
WEIGHTS_DIR = f"{MODEL_DIR}/encoding_models_weights"


def weights_path(root: Path, subject: int, split: int | None = None) -> Path:
    """The newest naming (all_training_splits / single_training_split_k)."""
    name = f"weights_P{subject}_all_training_splits.npy" if split is None else \
        f"weights_P{subject}_single_training_split_{split}.npy"
    return root / WEIGHTS_DIR / name


def metadata_path(root: Path, subject: int) -> Path:
    return root / MODEL_DIR / "metadata" / f"metadata_P{subject}.npy"


def write_store(root: Path, subjects: list[int], seed: int = STORE_SEED, **options: Any) -> list[str]:
    """Write a synthetic store through the plugin's hook, as ``berg demo`` does."""
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry.get(MODEL_ID)
    hook = pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)
    return hook(card=reg.card, root=str(root), subjects=subjects, seed=seed, options=options)  # type: ignore[no-any-return]


def load_pickled(path: Path) -> Any:
    """The test's own reader of a file it wrote itself (never used by the code under test)."""
    return np.load(path, allow_pickle=True).item()


def save_pickled(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array(data, dtype=object), allow_pickle=True)


# ---- independent reference implementation ------------------------------------------------------
class BlockOutputs(torch.nn.Module):
    """ViT-B/32 with forward hooks on the 12 encoder blocks: their outputs, in block order."""

    def __init__(self, weights_file: Path) -> None:
        super().__init__()
        from torchvision.models import vit_b_32

        self.vit = vit_b_32(weights=None)
        self.vit.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
        self.vit.eval()
        self._out: list[torch.Tensor] = []
        for k in range(12):
            getattr(self.vit.encoder.layers, f"encoder_layer_{k}").register_forward_hook(
                lambda _m, _i, out: self._out.append(out))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self._out = []
        self.vit(x)
        return self._out


def reference_features(extractor: BlockOutputs, x: torch.Tensor) -> np.ndarray:
    """``(B, 460800)`` float64: each block's (50, 768) tokens flattened, blocks concatenated."""
    with torch.no_grad():
        outs = extractor(x)
    assert len(outs) == 12
    return torch.cat([o.flatten(1) for o in outs], dim=1).double().numpy()


def reference_meg(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """sklearn's StandardScaler -> PCA -> LinearRegression in float64: ``(images, 271, 281)``, sensor-major."""
    sc, pca, reg = weights["scaler_param"], weights["pca_param"], weights["reg_param"]
    z = ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ pca["components_"].T
    y = z @ reg["coef_"].T + reg["intercept_"]
    return y.reshape(len(features), N_SENSORS, N_TIMES)


def train_transform_reference(images: np.ndarray) -> torch.Tensor:
    """Fitting-time preparation: centre square crop, bilinear resize to 224, [0, 1], ImageNet normalisation."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    x = torch.from_numpy(images)
    side = min(x.shape[-2:])
    x = TF.center_crop(x, [side, side])
    x = TF.resize(x, [224, 224], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.normalize(x.float() / 255.0, list(IMAGENET_MEAN), list(IMAGENET_STD))


def berg2_transform_reference(images: np.ndarray) -> torch.Tensor:
    """BERG 2.0's MEG inference transform: ``ViT_B_32_Weights.DEFAULT.transforms()`` on the uint8 batch."""
    from torchvision.models import ViT_B_32_Weights

    return ViT_B_32_Weights.DEFAULT.transforms()(torch.from_numpy(images))


def assert_matches_reference(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference: relative to the output's scale."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
