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

# the ViT-B/32 reference every ViT-B/32 plugin's tests share (torchvision's feature extractor and transforms)
from tests.vit_reference import MEAN as IMAGENET_MEAN  # noqa: F401
from tests.vit_reference import STD as IMAGENET_STD  # noqa: F401
from tests.vit_reference import berg2_transform as berg2_transform_reference  # noqa: F401
from tests.vit_reference import load_pickled, reference_extractor, reference_features  # noqa: F401
from tests.vit_reference import train_transform as train_transform_reference  # noqa: F401

MODEL_ID = "eeg-things_eeg_2-vit_b_32"
STORE_SEED = 7
N_COMPONENTS = 8
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


# ---- independent reference implementation ------------------------------------------------------
def reference_eeg(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """The reference document's math in float64: ``(images, 4, 63, 140)``."""
    sc, pca = weights["scaler_param"], weights["pca_param"]
    z = ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ pca["components_"].T
    reps = []
    for r in range(1, 5):
        reg = weights["reg_param"][f"rep-{r}"]
        reps.append(z @ reg["coef_"].T + reg["intercept_"])
    return np.stack(reps, axis=1).reshape(len(features), 4, 63, 140)


def assert_matches_reference(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference: relative to the output's scale."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
