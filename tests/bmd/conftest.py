"""Fixtures of the BOLD Moments plugin tests (helpers and the reference math live in ``bmd_reference``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from .bmd_reference import (
    MODEL_ID,
    load_pickled,
    pca_path,
    reference_extractor,
    weights_path,
    write_s3d_weights,
    write_store,
)


@pytest.fixture(scope="session")
def bmd_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bmd_store")
    write_store(root, [1, 2])
    return root


@pytest.fixture(scope="session")
def bmd_pca(bmd_store: Path) -> dict[str, Any]:
    return load_pickled(pca_path(bmd_store))


@pytest.fixture(scope="session")
def bmd_weights(bmd_store: Path) -> dict[str, Any]:
    return load_pickled(weights_path(bmd_store, 1))


@pytest.fixture(scope="session")
def s3d_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded ``s3d-d76dad2f.pth`` in a torch hub layout (``<home>/hub/checkpoints``)."""
    from berg_fmri_bmd.backbone import S3D_FILENAME

    return write_s3d_weights(tmp_path_factory.mktemp("s3d_home") / "hub" / "checkpoints" / S3D_FILENAME)


@pytest.fixture(scope="session")
def extractor(s3d_file: Path) -> torch.nn.Module:
    return reference_extractor(s3d_file)


@pytest.fixture(scope="session")
def videos() -> np.ndarray:
    """Two uint8 clips of 20 frames, 128 x 160: exact bilinear weights, so uint8 rounding is identical."""
    return np.random.default_rng(3).integers(0, 256, size=(2, 20, 3, 128, 160), dtype=np.uint8)


@pytest.fixture(scope="session")
def session_berg(bmd_store: Path) -> Any:
    from berg_core import BERG

    return BERG(bmd_store)


@pytest.fixture(scope="session")
def load(session_berg: Any, s3d_file: Path) -> Any:
    """``load(**kwargs)``: a CPU model of the session store, S3D weights given explicitly."""

    def _load(subject: int = 1, **kwargs: Any) -> Any:
        kwargs.setdefault("backbone_weights", str(s3d_file))
        return session_berg.get_encoding_model(MODEL_ID, subject=subject, device="cpu", **kwargs)

    return _load
