"""Helpers of the THINGS EEG2 plugin tests: the store writer call and the independent reference.

The store is written by the plugin's ``berg_write_synthetic_store`` hook in
BERG 2.0's real formats (seeded, 8 PCA components instead of 250). The
reference outputs are computed independently here: torchvision's
``create_feature_extractor`` for the ViT-B/32 block features, then the
reference document's math in NumPy float64 on the weights as the test reads
them with ``np.load`` (a file the test itself wrote).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

MODEL_ID = "eeg-things_eeg_2-vit_b_32"
STORE_SEED = 7
N_COMPONENTS = 8
NODES = [f"encoder.layers.encoder_layer_{i}.add_1" for i in range(12)]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"


def weights_path(root: Path, subject: int) -> Path:
    return root / MODEL_DIR / "encoding_models_weights" / f"weights_subject-{subject:02d}.npy"


def metadata_path(root: Path, subject: int) -> Path:
    return root / MODEL_DIR / "metadata" / f"metadata_subject-{subject:02d}.npy"


def write_store(root: Path, subjects: list[int], seed: int = STORE_SEED, **options: Any) -> list[str]:
    """Write a synthetic store through the plugin's hook, as ``berg demo`` does."""
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry.get(MODEL_ID)
    hook = pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)
    return hook(card=reg.card, root=str(root), subjects=subjects, seed=seed, options=options)  # type: ignore[no-any-return]


def load_pickled(path: Path) -> dict[str, Any]:
    """The test's own reader of a file it wrote itself (never used by the code under test)."""
    return np.load(path, allow_pickle=True).item()  # type: ignore[no-any-return]


# ---- independent reference implementation ------------------------------------------------------
def reference_extractor(weights_file: Path) -> torch.nn.Module:
    from torchvision.models import vit_b_32
    from torchvision.models.feature_extraction import create_feature_extractor

    vit = vit_b_32(weights=None)
    vit.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    return create_feature_extractor(vit.eval(), return_nodes=NODES)


def reference_features(extractor: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """``(B, 460800)`` float64 ViT-B/32 block features, blocks concatenated in order."""
    with torch.no_grad():
        out = extractor(x)
    return torch.cat([out[n].flatten(1) for n in NODES], dim=1).double().numpy()


def reference_eeg(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """The reference document's math in float64: ``(images, 4, 63, 140)``."""
    sc, pca = weights["scaler_param"], weights["pca_param"]
    z = ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ pca["components_"].T
    reps = []
    for r in range(1, 5):
        reg = weights["reg_param"][f"rep-{r}"]
        reps.append(z @ reg["coef_"].T + reg["intercept_"])
    return np.stack(reps, axis=1).reshape(len(features), 4, 63, 140)


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
    """BERG 2.0's inference transform: torchvision's own IMAGENET1K_V1 preset on the uint8 batch."""
    from torchvision.models import ViT_B_32_Weights

    return ViT_B_32_Weights.IMAGENET1K_V1.transforms()(torch.from_numpy(images))


def assert_matches_reference(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference: relative to the output's scale."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
