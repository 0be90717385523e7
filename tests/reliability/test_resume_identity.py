"""Resume only what is the same computation (class 4 of the adversarial pass).

A run is interrupted after two of its batches; the same call with one thing changed must be
refused with a message naming what changed and how to start over (never a "complete" result
whose rows come from two computations), and ``overwrite=True`` then gives the uninterrupted
result. The unchanged call resumes. A multi-model run interrupted between its groups' finishes
resumes instead of being refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from PIL import Image

from berg_core import BERG, InvalidParameterError, StoreError
from berg_core.results.zarr_sink import result_state

from .conftest import EEG, FSAVERAGE, FWRF, write_images
from .helpers import TOY, on_each_batch


class Interrupt(Exception):
    """Stands for a killed run (the process tests kill real ones, see test_processes.py)."""


class InterruptAt:
    """Stops the encode when its ``at``-th batch reaches preprocessing."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def __call__(self, stimuli: Any) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise Interrupt


def _interrupted(berg: Any, model: Any, stimuli: Any, target: Path, **kw: Any) -> None:
    with on_each_batch(model, InterruptAt(3)), pytest.raises(Interrupt):
        berg.encode(model, stimuli, show_progress=False, store=target, **kw)
    complete, done = result_state(target)
    assert not complete and done.sum() == 2 * kw.get("batch_size", 2)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 9, 11), dtype=np.uint8)


@pytest.fixture
def toy_copy(toy_root: Path, tmp_path: Path) -> Path:
    """A private copy of the toy store, to change in place."""
    return Path(shutil.copytree(toy_root, tmp_path / "store"))


def _refused_then_overwritten(berg: Any, model: Any, stimuli: Any, target: Path, match: str, **kw: Any) -> None:
    with pytest.raises(InvalidParameterError, match=match) as err:
        berg.encode(model, stimuli, show_progress=False, store=target, **kw)
    assert "overwrite=True" in str(err.value)
    assert result_state(target)[0] is False  # the refused call changed nothing
    redone = berg.encode(model, stimuli, show_progress=False, store=target, overwrite=True, **kw)
    np.testing.assert_array_equal(redone.values, berg.encode(model, stimuli, show_progress=False, **kw).values)


def test_same_ids_other_pixels_is_refused(toy_berg: Any, tmp_path: Path) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    target = tmp_path / "run.zarr"
    _interrupted(toy_berg, model, _images(8), target, batch_size=2)
    changed = _images(8)
    changed[1, 0, 0, 0] ^= 1  # one bit of one pixel of a finished batch
    _refused_then_overwritten(toy_berg, model, changed, target, r"stimuli 0-1 .*other images", batch_size=2)


def test_regenerated_image_files_with_the_same_names_are_refused(toy_berg: Any, tmp_path: Path) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    folder = write_images(tmp_path / "images", 8, seed=1)
    target = tmp_path / "run.zarr"
    _interrupted(toy_berg, model, folder, target, batch_size=2)
    rng = np.random.default_rng(99)
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(folder / "img02.png")
    _refused_then_overwritten(toy_berg, model, folder, target, r"stimuli 2-3 \(first id 'img02.png'\).*other images", batch_size=2)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"batch_size": 4}, r"batch_size: 2 then, 4 now"),
        ({"precision": "bf16"}, r"precision: 'fp32' then, 'bf16' now"),
    ],
    ids=["batch-size", "precision"],
)
def test_other_options_are_refused(toy_berg: Any, tmp_path: Path, change: dict[str, Any], match: str) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    target = tmp_path / "run.zarr"
    _interrupted(toy_berg, model, _images(8), target, batch_size=2)
    _refused_then_overwritten(toy_berg, model, _images(8), target, match, **{"batch_size": 2, **change})


def test_another_berg_dir_is_refused(toy_berg: Any, toy_copy: Path, toy_pm: Any, tmp_path: Path) -> None:
    target = tmp_path / "run.zarr"
    _interrupted(toy_berg, toy_berg.get_encoding_model(TOY, subject=1, device="cpu"), _images(8), target, batch_size=2)
    other = BERG(toy_copy, plugin_manager=toy_pm)
    _refused_then_overwritten(other, other.get_encoding_model(TOY, subject=1, device="cpu"), _images(8), target,
                              r"berg_dir: .* then, .*store' now", batch_size=2)


def test_other_weights_at_the_same_place_are_refused(toy_copy: Path, toy_pm: Any, tmp_path: Path) -> None:
    berg = BERG(toy_copy, plugin_manager=toy_pm)
    target = tmp_path / "run.zarr"
    _interrupted(berg, berg.get_encoding_model(TOY, subject=1, device="cpu"), _images(8), target, batch_size=2)
    # the store's weight file rewritten in place (another seed), same path, same berg_dir
    card = toy_pm.registry.get(TOY).card
    toy_pm.owner_hook("berg_write_synthetic_store", "toy")(card=card, root=str(toy_copy), subjects=[1], seed=7, options={})
    model = berg.get_encoding_model(TOY, subject=1, device="cpu")
    _refused_then_overwritten(berg, model, _images(8), target, r"weights: '[0-9a-f]+' then, '[0-9a-f]+' now", batch_size=2)


def test_the_same_call_resumes_to_the_uninterrupted_result(toy_berg: Any, tmp_path: Path) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    folder = write_images(tmp_path / "images", 8, seed=3)
    target = tmp_path / "run.zarr"
    _interrupted(toy_berg, model, folder, target, batch_size=2)
    resumed = toy_berg.encode(model, folder, batch_size=2, show_progress=False, store=target)
    np.testing.assert_array_equal(resumed.values, toy_berg.encode(model, folder, batch_size=2, show_progress=False).values)
    assert result_state(target)[0] is True


def test_a_multi_model_run_interrupted_between_its_finishes_resumes(toy_berg: Any, tmp_path: Path) -> None:
    models = [toy_berg.get_encoding_model(TOY, subject=s, device="cpu") for s in (1, 2)]
    target = tmp_path / "run.zarr"
    first = toy_berg.encode(models, _images(6), batch_size=2, show_progress=False, store=target)
    # what a run killed after its first group's finish leaves: the second group written but unmarked
    zarr.open_group(str(target / TOY / "subject-02"), mode="r+").attrs["berg_complete"] = 0
    group1 = {p: p.read_bytes() for p in (target / TOY / "subject-01").rglob("*") if p.is_file()}
    resumed = toy_berg.encode(models, _images(6), batch_size=2, show_progress=False, store=target)
    for label, da in first.items():
        np.testing.assert_array_equal(resumed[label].values, da.values)
        assert result_state(target / label)[0] is True
    assert {p: p.read_bytes() for p in (target / TOY / "subject-01").rglob("*") if p.is_file()} == group1  # kept as it was
    # now everything is complete: the same call is refused as any complete result is
    with pytest.raises(StoreError, match="already holds the complete results.*overwrite=True"):
        toy_berg.encode(models, _images(6), batch_size=2, show_progress=False, store=target)
    # a finished group of another computation is not kept silently
    zarr.open_group(str(target / TOY / "subject-02"), mode="r+").attrs["berg_complete"] = 0
    with pytest.raises(StoreError, match="complete result.*other images"):
        toy_berg.encode(models, _images(6, seed=4), batch_size=2, show_progress=False, store=target)


def _loose_tensors(obj: Any, seen: dict[int, Any], found: list[Any]) -> None:
    # every tensor a model holds outside torch modules (modules are hashed whole, by their state dict)
    import torch

    if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type, torch.nn.Module)):
        return
    seen[id(obj)] = obj  # kept alive: no later object may take its id
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and obj.numel():
            found.append(obj)
    elif isinstance(obj, dict):
        for value in obj.values():
            _loose_tensors(value, seen, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _loose_tensors(value, seen, found)
    elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] != "builtins":
        _loose_tensors({k: v for k, v in vars(obj).items() if k not in {"card", "store", "spec", "_plugin_manager"}}, seen, found)


@pytest.mark.parametrize("model_id", [EEG, FSAVERAGE, FWRF])
def test_the_weights_digest_sees_every_tensor_of_the_real_models(store_root: Path, vit_hub: Path, model_id: str) -> None:
    # resume compares this digest: a read-out nested deep in helper objects must count like a shallow one
    from berg_core.results.identity import weights_fingerprint

    selection = {"roi": "V1"} if model_id == FWRF else None
    model = BERG(str(store_root)).get_encoding_model(model_id, subject=1, selection=selection, device="cpu")
    before = weights_fingerprint(model)
    tensors: list[Any] = []
    _loose_tensors(vars(model), {}, tensors)
    assert tensors or model_id == FWRF, "the read-out's tensors are found"
    for tensor in tensors:
        flat = tensor.view(-1)
        kept = flat[0].item()
        flat[0] += 1.0
        try:
            assert weights_fingerprint(model) != before, f"a change in a {tuple(tensor.shape)} tensor of {model_id} went unseen"
        finally:
            flat[0] = kept
    assert weights_fingerprint(model) == before


def test_a_complete_result_is_done_only_for_the_same_computation(toy_berg: Any, tmp_path: Path) -> None:
    # "already complete" (berg encode exits 0 on it) must not hide other pixels under the same ids
    from berg_core.results.zarr_sink import CompleteResultError

    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    target = tmp_path / "run.zarr"
    first = toy_berg.encode(model, _images(6), show_progress=False, store=target, batch_size=2)
    with pytest.raises(CompleteResultError, match="complete result of this computation"):
        toy_berg.encode(model, _images(6), show_progress=False, store=target, batch_size=2)
    changed = _images(6)
    changed[5, 0, 0, 0] ^= 1
    with pytest.raises(StoreError, match=r"complete result.*other images") as err:
        toy_berg.encode(model, changed, show_progress=False, store=target, batch_size=2)
    assert not isinstance(err.value, CompleteResultError)
    with pytest.raises(StoreError, match=r"complete result.*batch") as err:
        toy_berg.encode(model, _images(6), show_progress=False, store=target, batch_size=3)
    assert not isinstance(err.value, CompleteResultError)
    import xarray as xr

    kept = xr.open_zarr(target)
    np.testing.assert_array_equal(kept[kept.attrs["berg_variable"]].values, first.values)  # refusals changed nothing


def test_a_run_stopped_while_its_host_thread_writes_resumes_to_the_uninterrupted_result(
    toy_berg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an accelerator's run does (inputs prepared ahead, results written by a host thread), stopped at its third write."""
    from berg_core.engine import encoding
    from berg_core.results.zarr_sink import ZarrResultSink

    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    images, target = _images(10), tmp_path / "run.zarr"
    expected = toy_berg.encode(model, images, batch_size=2, show_progress=False).values
    monkeypatch.setattr(encoding, "_prepares_ahead", lambda model: True)
    write, writes = ZarrResultSink.write, []

    def stopping(self: Any, start: int, *args: Any, **kwargs: Any) -> None:
        writes.append(start)
        if len(writes) == 3:
            raise Interrupt
        write(self, start, *args, **kwargs)

    monkeypatch.setattr(ZarrResultSink, "write", stopping)
    with pytest.raises(Interrupt):
        toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
    assert writes == [0, 2, 4]  # nothing was written after the failed write
    complete, done = result_state(target)
    assert not complete and done.sum() == 4
    monkeypatch.setattr(ZarrResultSink, "write", write)
    resumed = toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
    np.testing.assert_array_equal(resumed.values, expected)
    assert result_state(target)[0] is True
