"""Fixtures of the TVSD plugin tests: one seeded store in the real formats, written by the plugin's hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from .reference import (
    MODEL_ID,
    berg2_transform,
    load_pickled,
    reference_extractor,
    reference_features,
    train_transform,
    weights_path,
)

SEED = 9
N_COMPONENTS = 6


def write_store(plugin_manager: Any, root: Path, subjects: list[str], **options: Any) -> list[str]:
    """Write a synthetic store through the plugin's hook, as ``berg demo`` does."""
    reg = plugin_manager.registry.get(MODEL_ID)
    hook = plugin_manager.owner_hook("berg_write_synthetic_store", reg.plugin_name)
    return hook(card=reg.card, root=str(root), subjects=subjects, seed=SEED, options=options)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def plugin_manager() -> Any:
    """A plugin manager holding only this plugin."""
    from berg_utah_tvsd import plugin

    from berg_core.registry.manager import PluginManager

    pm = PluginManager()
    pm.register(plugin, name="utah_tvsd")
    return pm


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory, plugin_manager: Any) -> Path:
    """Both monkeys' all-splits models, and monkey N's four single-split models."""
    root = tmp_path_factory.mktemp("tvsd_store")
    write_store(plugin_manager, root, ["N"], n_components=N_COMPONENTS, train_splits=["all", "single"])
    write_store(plugin_manager, root, ["F"], n_components=N_COMPONENTS)
    return root


@pytest.fixture(scope="session")
def hub_weights(torch_home: Path) -> Path:
    from berg_core.backbones import VIT_B_32_FILENAME

    return torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME


@pytest.fixture(scope="session")
def shared_backbone(hub_weights: Path) -> Any:
    """Keep the seeded ViT-B/32 alive for the session, so models reuse it."""
    from berg_core.backbones import get_vit_b_32

    return get_vit_b_32("cpu", weights=hub_weights)


def make_berg(root: Path, plugin_manager: Any) -> Any:
    from berg_core import BERG

    return BERG(berg_dir=str(root), plugin_manager=plugin_manager)


@pytest.fixture(scope="session")
def berg(store_root: Path, plugin_manager: Any, shared_backbone: Any) -> Any:
    return make_berg(store_root, plugin_manager)


@pytest.fixture(scope="session")
def load(berg: Any, hub_weights: Path) -> Any:
    """``load(subject, **kwargs)``: a CPU model of the session store, backbone weights given explicitly."""

    def _load(subject: Any = "N", **kwargs: Any) -> Any:
        kwargs.setdefault("backbone_weights", str(hub_weights))
        return berg.get_encoding_model(MODEL_ID, subject=subject, device="cpu", **kwargs)

    return _load


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """Three non-square uint8 images: the centre crop matters."""
    return np.random.default_rng(13).integers(0, 256, size=(3, 3, 180, 230), dtype=np.uint8)


@pytest.fixture(scope="session")
def ref_features(images: np.ndarray, vit_weights_file: Path) -> dict[str, np.ndarray]:
    """Reference float64 features of ``images`` for both preprocessing modes."""
    extractor = reference_extractor(vit_weights_file)
    return {"train": reference_features(extractor, train_transform(images)),
            "berg-2.0": reference_features(extractor, berg2_transform(images))}


@pytest.fixture(scope="session")
def weights(store_root: Path) -> Any:
    """``weights(monkey, split=None)``: the test's own read of a weights file."""
    cache: dict[Any, dict[str, Any]] = {}

    def get(monkey: str = "N", split: int | None = None) -> dict[str, Any]:
        if (monkey, split) not in cache:
            cache[(monkey, split)] = load_pickled(weights_path(store_root, monkey, split))
        return cache[(monkey, split)]

    return get


@pytest.fixture(scope="session")
def full(load: Any, berg: Any, images: np.ndarray) -> Any:
    """Monkey N's whole output for ``images`` (train preprocessing), computed once."""
    with load() as model:
        return berg.encode(model, images, show_progress=False)


@pytest.fixture(scope="session")
def features(load: Any, images: np.ndarray, shared_backbone: Any) -> torch.Tensor:
    """ViT-B/32 features of ``images`` (train preprocessing), for tests of the read-out alone."""
    from berg_core.stimuli.inputs import as_stimuli

    with load() as model:
        return shared_backbone(model.preprocess(as_stimuli(images)))
