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


@pytest.fixture(scope="session")
def full_model(load: Any) -> Any:
    """Subject 1, every voxel, train preprocessing (kept alive: the S3D extractor is built once)."""
    return load()


@pytest.fixture(scope="session")
def full_train(session_berg: Any, full_model: Any, videos: np.ndarray) -> Any:
    """``berg.encode`` of ``videos`` with every voxel (computed once)."""
    return session_berg.encode(full_model, videos, show_progress=False)


@pytest.fixture(scope="session")
def features(full_model: Any, videos: np.ndarray) -> torch.Tensor:
    """The model's own S3D features of ``videos`` (for tests of the read-out alone)."""
    from berg_fmri_bmd.frames import video_input

    return full_model.feature_extractor(video_input(torch.from_numpy(videos), "train"))


@pytest.fixture(scope="session")
def reference_nodes(extractor: torch.nn.Module, videos: np.ndarray) -> dict[str, torch.Tensor]:
    """torchvision's node outputs (float64) of the reference-transformed ``videos``."""
    from .bmd_reference import reference_transform

    x = np.stack([reference_transform(v) for v in videos])
    with torch.no_grad():
        return dict(extractor(torch.from_numpy(x)))


@pytest.fixture(scope="session")
def reference_features_of_videos(reference_nodes: dict[str, torch.Tensor]) -> np.ndarray:
    from .bmd_reference import NODES

    return torch.cat([reference_nodes[n].flatten(1) for n in NODES], dim=1).numpy()
