"""Fixtures of the THINGS-MEG1 plugin tests (helpers and the reference math live in ``meg_reference``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from .meg_reference import (
    MODEL_ID,
    N_COMPONENTS,
    BlockOutputs,
    berg2_transform_reference,
    load_pickled,
    reference_features,
    train_transform_reference,
    weights_path,
    write_store,
)


@pytest.fixture(scope="session")
def meg_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Subject 1 with the all-splits and the four single-split models (newest names), subject 2 all-splits only."""
    root = tmp_path_factory.mktemp("meg_store")
    write_store(root, [1], n_components=N_COMPONENTS)
    write_store(root, [2], n_components=N_COMPONENTS, splits=False)
    return root


@pytest.fixture(scope="session")
def meg_weights(meg_store: Path) -> dict[Any, dict[str, Any]]:
    """Subject 1's weight dicts: ``"all"`` and split numbers 1-4."""
    return {"all": load_pickled(weights_path(meg_store, 1)),
            **{k: load_pickled(weights_path(meg_store, 1, k)) for k in range(1, 5)}}


@pytest.fixture(scope="session")
def hub_weights(torch_home: Path) -> Path:
    from berg_core.backbones import VIT_B_32_FILENAME

    return torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME


@pytest.fixture(scope="session")
def shared_backbone(hub_weights: Path) -> torch.nn.Module:
    """Keeps the shared extractor of the hub weights alive so tests do not rebuild it."""
    from berg_core.backbones import get_vit_b_32

    return get_vit_b_32("cpu", weights=hub_weights)


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """Three non-square uint8 images: the centre crop matters."""
    return np.random.default_rng(21).integers(0, 256, size=(3, 3, 190, 250), dtype=np.uint8)


@pytest.fixture(scope="session")
def features(images: np.ndarray, vit_weights_file: Path) -> dict[str, np.ndarray]:
    """Reference float64 block features of ``images`` for both preprocessing modes."""
    extractor = BlockOutputs(vit_weights_file)
    return {
        "train": reference_features(extractor, train_transform_reference(images)),
        "berg-2.0": reference_features(extractor, berg2_transform_reference(images)),
    }


@pytest.fixture(scope="session")
def session_berg(meg_store: Path) -> Any:
    from berg_core import BERG

    return BERG(meg_store)


@pytest.fixture(scope="session")
def load(session_berg: Any, hub_weights: Path, shared_backbone: torch.nn.Module) -> Any:
    """``load(**kwargs)``: a CPU model of the session store, backbone weights given explicitly (the hub file)."""

    def _load(subject: int = 1, berg: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("backbone_weights", str(hub_weights))
        return (berg or session_berg).get_encoding_model(MODEL_ID, subject=subject, device="cpu", **kwargs)

    return _load


@pytest.fixture(scope="session")
def encode(session_berg: Any, images: np.ndarray) -> Any:
    def _encode(model: Any, berg: Any = None, **kwargs: Any) -> Any:
        return (berg or session_berg).encode(model, images, show_progress=False, **kwargs)

    return _encode


@pytest.fixture(scope="session")
def full_all(load: Any, encode: Any) -> Any:
    """The full train_splits="all" output for ``images`` (train preprocessing), computed once."""
    with load() as model:
        return encode(model)


@pytest.fixture(scope="session")
def full_single(load: Any, encode: Any) -> Any:
    """The full train_splits="single" output, computed once."""
    with load(train_splits="single") as model:
        return encode(model)
