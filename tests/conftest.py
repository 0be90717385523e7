"""Fixtures shared by every test folder.

Backbone weights are seeded random numbers in torchvision's exact format,
written by the tests into a temporary torch hub cache: nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

VIT_SEED = 1234


@pytest.fixture(scope="session")
def vit_weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded ``vit_b_32-d86f8d99.pth`` (torchvision state dict, real shapes)."""
    import torch
    from torchvision.models import vit_b_32

    from berg_core.backbones import VIT_B_32_FILENAME

    torch.manual_seed(VIT_SEED)
    model = vit_b_32(weights=None)
    path = tmp_path_factory.mktemp("vit") / VIT_B_32_FILENAME
    torch.save(model.state_dict(), path)
    return path


ALEXNET_SEED = 4321


@pytest.fixture(scope="session")
def alexnet_weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded ``alexnet-owt-7be5be79.pth`` (torchvision state dict, real shapes)."""
    import torch
    from torchvision.models import alexnet

    from berg_core.backbones import ALEXNET_STORE_PATH

    torch.manual_seed(ALEXNET_SEED)
    path = tmp_path_factory.mktemp("alexnet") / ALEXNET_STORE_PATH.rsplit("/", 1)[-1]
    torch.save(alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory: pytest.TempPathFactory, vit_weights_file: Path) -> Path:
    """A torch hub cache holding the seeded ViT-B/32 weights under torchvision's file name."""
    home = tmp_path_factory.mktemp("torch_home")
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    os.link(vit_weights_file, ckpt / vit_weights_file.name)
    return home


@pytest.fixture
def vit_hub(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point torch's hub cache at the seeded weights for one test."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return torch_home / "hub" / "checkpoints"


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A torch hub cache with no weights in it."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def _berg_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Caches the tests fill (downloads, derived arrays of local weight files) go to a temporary folder, never ~/.cache/berg."""
    if not os.environ.get("BERG_CACHE_DIR"):
        os.environ["BERG_CACHE_DIR"] = str(tmp_path_factory.mktemp("berg_cache"))
