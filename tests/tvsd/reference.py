"""Independent reference of the TVSD model for the tests: the shared ViT-B/32 reference
(``tests/vit_reference.py``) with the TVSD files and outputs reshaped electrode-major, as the
trainer flattened them."""

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

MODEL_ID = "utah_array-tvsd-vit_b_32"
MODEL_DIR = "encoding_models/modality-utah_array/train_dataset-tvsd/model-vit_b_32"
N_ELECTRODES, N_TIMES = 1024, 300


def weights_path(root: Path, monkey: str, split: int | None = None) -> Path:
    name = "all_training_splits" if split is None else f"single_training_split_{split}"
    return Path(root) / MODEL_DIR / "encoding_models_weights" / f"weights_monkey{monkey}_{name}.npy"


def metadata_path(root: Path, monkey: str) -> Path:
    return Path(root) / MODEL_DIR / "metadata" / f"metadata_monkey{monkey}.npy"


def reference_mua(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """StandardScaler -> PCA -> LinearRegression in float64: ``(images, 1024, 300)``."""
    return reference_linear(features, weights).reshape(len(features), N_ELECTRODES, N_TIMES)


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    """float32 pipeline vs float64 reference, relative to the output's scale."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * scale)
