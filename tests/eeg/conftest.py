"""Fixtures of the THINGS EEG2 plugin tests (helpers and the reference math live in ``eeg_reference``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from .eeg_reference import (
    MODEL_ID,
    N_COMPONENTS,
    berg2_transform_reference,
    load_pickled,
    reference_eeg,
    reference_extractor,
    reference_features,
    train_transform_reference,
    weights_path,
    write_store,
)


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def eeg_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eeg_store")
    write_store(root, [1, 2], n_components=N_COMPONENTS)
    return root


@pytest.fixture(scope="session")
def eeg_weights(eeg_store: Path) -> dict[str, Any]:
    return load_pickled(weights_path(eeg_store, 1))


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
    return np.random.default_rng(11).integers(0, 256, size=(3, 3, 200, 260), dtype=np.uint8)


@pytest.fixture(scope="session")
def extractor(vit_weights_file: Path) -> torch.nn.Module:
    return reference_extractor(vit_weights_file)


@pytest.fixture(scope="session")
def expected(images: np.ndarray, extractor: torch.nn.Module, eeg_weights: dict[str, Any]) -> dict[str, np.ndarray]:
    """Reference outputs of subject 1 for both preprocessing modes."""
    return {
        "train": reference_eeg(reference_features(extractor, train_transform_reference(images)), eeg_weights),
        "berg-2.0": reference_eeg(reference_features(extractor, berg2_transform_reference(images)), eeg_weights),
    }


@pytest.fixture(scope="session")
def session_berg(eeg_store: Path) -> Any:
    from berg_core import BERG

    return BERG(eeg_store)


@pytest.fixture(scope="session")
def load(session_berg: Any, hub_weights: Path, shared_backbone: torch.nn.Module) -> Any:
    """``load(**kwargs)``: a CPU model of the session store, backbone weights given explicitly (the hub file)."""

    def _load(subject: int = 1, **kwargs: Any) -> Any:
        kwargs.setdefault("backbone_weights", str(hub_weights))
        return session_berg.get_encoding_model(MODEL_ID, subject=subject, device="cpu", **kwargs)

    return _load


@pytest.fixture(scope="session")
def full_train(load: Any, session_berg: Any, images: np.ndarray) -> Any:
    """The full output for ``images`` (train preprocessing), computed once."""
    with load() as model:
        return session_berg.encode(model, images, show_progress=False)


@pytest.fixture(scope="session")
def train_features(load: Any, images: np.ndarray, shared_backbone: torch.nn.Module) -> torch.Tensor:
    """ViT-B/32 features of ``images`` (train preprocessing), for tests of the read-out alone."""
    from berg_core.stimuli.inputs import as_stimuli

    with load() as model:
        return shared_backbone(model.preprocess(as_stimuli(images)))


@pytest.fixture
def berg(eeg_store: Path, vit_hub: Path, shared_backbone: torch.nn.Module) -> Any:
    """A BERG on the session store, with TORCH_HOME pointing at the seeded hub cache."""
    from berg_core import BERG

    return BERG(eeg_store)
