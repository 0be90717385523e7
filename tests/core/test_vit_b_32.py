"""The shared ViT-B/32 feature extractor of core (``berg_core.backbones.vit_b_32``).

Features are compared with torchvision's own ``create_feature_extractor`` on the
graph nodes the reference document names; weights are seeded, in torchvision's
exact format (see ``tests/conftest.py``).
"""

from __future__ import annotations

import gc
import os
import shutil
import weakref
from pathlib import Path
from typing import Any

import pytest
import torch

from berg_core.backbones import VIT_B_32_FILENAME, VIT_B_32_N_FEATURES, VIT_B_32_STORE_PATH, get_vit_b_32
from berg_core.backbones.vit_b_32 import _cached_count, resolve_vit_b_32_weights
from berg_core.errors import IntegrityError, ModelLoadError, StoreError
from berg_core.store.model_store import Store

NODES = [f"encoder.layers.encoder_layer_{i}.add_1" for i in range(12)]


@pytest.fixture
def own_weights(tmp_path: Path, vit_weights_file: Path) -> Path:
    """A copy of the seeded weights under a path no other test uses, so its extractor is this test's alone."""
    path = tmp_path / "own" / VIT_B_32_FILENAME
    path.parent.mkdir()
    shutil.copyfile(vit_weights_file, path)
    return path


def _store_with_weights(root: Path, seed: int) -> Store:
    from torchvision.models import vit_b_32

    path = root / VIT_B_32_STORE_PATH
    path.parent.mkdir(parents=True)
    torch.manual_seed(seed)
    torch.save(vit_b_32(weights=None).state_dict(), path)
    return Store(root)


def test_features_equal_torchvision_feature_extractor(own_weights: Path) -> None:
    from torchvision.models import vit_b_32
    from torchvision.models.feature_extraction import create_feature_extractor

    vit = vit_b_32(weights=None)
    vit.load_state_dict(torch.load(own_weights, weights_only=True))
    reference = create_feature_extractor(vit.eval(), return_nodes=NODES)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        nodes = reference(x)
    want = torch.cat([nodes[n].flatten(1) for n in NODES], dim=1)
    got = get_vit_b_32("cpu", weights=own_weights)(x)
    assert got.shape == (2, VIT_B_32_N_FEATURES) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # block order: the first 38,400 values are block 0's (50 tokens x 768), the last block 11's
    torch.testing.assert_close(got[:, : 50 * 768], nodes[NODES[0]].flatten(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[:, -50 * 768 :], nodes[NODES[-1]].flatten(1), rtol=1e-5, atol=1e-5)


def test_one_image_and_a_batch_agree(own_weights: Path) -> None:
    model = get_vit_b_32("cpu", weights=own_weights)
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(x[:1]), model(x)[:1], rtol=1e-5, atol=1e-5)


# ---- where the weights come from ------------------------------------------------------------
def test_explicit_path_before_store_and_hub(tmp_path: Path, vit_hub: Path, own_weights: Path) -> None:
    store = _store_with_weights(tmp_path / "store", seed=3)
    source = resolve_vit_b_32_weights(own_weights, store)
    assert source.path == str(own_weights) and source.description.startswith("explicit path")


def test_store_before_hub(tmp_path: Path, vit_hub: Path) -> None:
    store = _store_with_weights(tmp_path / "store", seed=3)
    source = resolve_vit_b_32_weights(None, store)
    assert source.store is store and source.relpath == VIT_B_32_STORE_PATH
    model = get_vit_b_32("cpu", store=store)
    want = torch.load(tmp_path / "store" / VIT_B_32_STORE_PATH, weights_only=True)["conv_proj.weight"]
    torch.testing.assert_close(model.vit.conv_proj.weight, want, rtol=0, atol=0)


def test_hub_cache_last(tmp_path: Path, vit_hub: Path) -> None:
    source = resolve_vit_b_32_weights(None, Store(tmp_path))  # a store without backbones/
    assert source.path == str(vit_hub / VIT_B_32_FILENAME)
    assert source.description.startswith("torch hub cache")


def test_unreachable_store_falls_back_to_hub(tmp_path: Path, vit_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)

    def unreachable(relpath: str) -> bool:
        raise StoreError(f"cannot reach {relpath}")

    monkeypatch.setattr(store, "exists", unreachable)
    assert resolve_vit_b_32_weights(None, store).path == str(vit_hub / VIT_B_32_FILENAME)


def test_no_weights_anywhere_says_where_it_looked(tmp_path: Path, empty_torch_home: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        get_vit_b_32("cpu", store=Store(tmp_path))
    message = str(info.value)
    assert "explicit backbone_weights= path" in message
    assert VIT_B_32_STORE_PATH in message
    assert str(empty_torch_home / "hub" / "checkpoints") in message
    assert "torchvision.models.vit_b_32(weights='IMAGENET1K_V1')" in message


def test_explicit_path_that_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(
        ModelLoadError, match=r"backbone_weights='.*missing.pth' is not a file; expected the path of vit_b_32"
    ):
        get_vit_b_32("cpu", weights=tmp_path / "missing.pth")


def test_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / VIT_B_32_FILENAME
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(IntegrityError, match="cannot read ViT-B/32 weights"):
        get_vit_b_32("cpu", weights=path)


def test_checkpoint_of_another_network(tmp_path: Path) -> None:
    path = tmp_path / VIT_B_32_FILENAME
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(IntegrityError, match="does not hold torchvision vit_b_32 weights"):
        get_vit_b_32("cpu", weights=path)


class _CreatesFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def test_checkpoint_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / VIT_B_32_FILENAME
    torch.save({"conv_proj.weight": torch.zeros(1), "payload": _CreatesFile(marker)}, path)
    with pytest.raises(IntegrityError, match="cannot read ViT-B/32 weights"):
        get_vit_b_32("cpu", weights=path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: an unrestricted load runs it
    assert marker.exists()


# ---- one shared instance per weights file and device ----------------------------------------
def test_one_instance_per_weights_and_device_freed_after_last_user(own_weights: Path, vit_weights_file: Path) -> None:
    gc.collect()
    before = _cached_count()
    a = get_vit_b_32("cpu", weights=own_weights)
    b = get_vit_b_32(torch.device("cpu"), weights=str(own_weights))
    assert a is b
    assert _cached_count() == before + 1
    other = get_vit_b_32("cpu", weights=vit_weights_file)
    assert other is not a
    ref = weakref.ref(a)
    del a
    gc.collect()
    assert ref() is not None  # b still holds it
    del b
    gc.collect()
    assert ref() is None
    assert get_vit_b_32("cpu", weights=own_weights) is not None  # rebuilt on demand
