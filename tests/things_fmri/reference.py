"""Independent reference of the THINGS-fMRI1 model for the tests: the shared ViT-B/32 reference
(``tests/vit_reference.py``) with the THINGS-fMRI1 files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.vit_reference import (  # noqa: F401
    berg2_transform,
    load_pickled,
    reference_extractor,
    reference_features,
    reference_linear,
    train_transform,
)

MODEL_ID = "fmri-things_fmri_1-vit_b_32"
MODEL_DIR = "encoding_models/modality-fmri/train_dataset-things_fmri_1/model-vit_b_32"
N_VOXELS = 211_339


def weights_path(root: Path, subject: int) -> Path:
    return Path(root) / MODEL_DIR / "encoding_models_weights" / f"weights_sub-{subject:02d}.npy"


def metadata_path(root: Path, subject: int) -> Path:
    return Path(root) / MODEL_DIR / "metadata" / f"metadata_sub-{subject:02d}.npy"


def reference_responses(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """StandardScaler -> PCA -> LinearRegression in float64: ``(images, 211339)``."""
    return reference_linear(features, weights)


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference, relative to the output's scale."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
