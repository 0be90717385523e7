"""``encode(..., store=...)``: results streamed to Zarr (local or S3), resumable.

The fwRF model is used: its forward pass is fast on a CPU, and the sink does
not depend on the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr
from PIL import Image

from berg_core import BERG, InvalidParameterError, StimulusError, StoreError
from berg_core.results.zarr_sink import result_state

from .conftest import BUCKET, FWRF, s3_options

SELECTION = {"roi": "V1"}


class BatchSpy:
    """Records which stimuli reach the model's own preprocessing (core's default hook calls it)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []


@pytest.fixture
def spy(model: Any, monkeypatch: pytest.MonkeyPatch) -> BatchSpy:
    # core asks only the plugin owning a model about it: a spying plugin beside it would see nothing, so the
    # model's class is patched (not the instance, whose attributes make up the identity a resume checks)
    spy, original = BatchSpy(), type(model).preprocess

    def preprocess(self: Any, stimuli: Any) -> Any:
        spy.seen.extend(stimuli.ids)
        return original(self, stimuli)

    monkeypatch.setattr(type(model), "preprocess", preprocess)
    return spy


@pytest.fixture
def model(legacy_root: Path) -> Any:
    berg = BERG(str(legacy_root))
    with berg.get_encoding_model(FWRF, subject=1, selection=SELECTION, device="cpu") as m:
        yield m


@pytest.fixture
def image_files(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(11)
    paths = []
    for i in range(6):
        p = tmp_path / "images" / f"img{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.mark.parametrize("where", ["local", "s3"])
def test_result_equals_the_in_memory_one(where: str, model: Any, images: np.ndarray, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    berg = BERG(model.store)
    if where == "local":
        target, opts = str(tmp_path / "run.zarr"), None
    else:
        s3 = request.getfixturevalue("s3")
        target, opts = f"s3://{BUCKET}/results/run-{tmp_path.name}.zarr", {**s3_options(s3), "anon": False}
    stacked = np.concatenate([images, images[:, :, ::-1]])  # 4 images, batches of 3: one full, one partial
    memory = berg.encode(model, stacked, show_progress=False, batch_size=3)
    stored = berg.encode(model, stacked, show_progress=False, batch_size=3, store=target, storage_options=opts)
    assert stored.chunks is not None  # lazily opened, dask-backed
    xr.testing.assert_identical(stored.compute(), memory)
    # plain xarray reads it too, from the consolidated metadata
    ds = xr.open_zarr(target, consolidated=True, storage_options=opts)
    assert ds.attrs["berg_complete"] == 1
    assert set(ds.data_vars) == {memory.name}  # the response only: berg's records are no part of the dataset
    np.testing.assert_array_equal(result_state(target, opts)[1], [1, 1, 1, 1])
    np.testing.assert_array_equal(ds[memory.name].values, memory.values)


def test_interrupted_run_is_resumed(model: Any, image_files: list[Path], tmp_path: Path, spy: BatchSpy) -> None:
    berg = BERG(model.store)
    target = tmp_path / "run.zarr"
    good = image_files[4].read_bytes()
    image_files[4].write_bytes(b"not an image")  # the third batch fails
    with pytest.raises(StimulusError, match="img4.png"):
        berg.encode(model, image_files, show_progress=False, batch_size=2, store=target)
    assert result_state(target)[0] is False
    np.testing.assert_array_equal(result_state(target)[1], [1, 1, 1, 1, 0, 0])
    with pytest.raises(StoreError, match="unfinished"):
        from berg_core.results.zarr_sink import open_result

        open_result(str(target))

    image_files[4].write_bytes(good)
    spy.seen.clear()
    resumed = berg.encode(model, image_files, show_progress=False, batch_size=2, store=target)
    assert spy.seen == ["img4.png", "img5.png"]  # only what was missing
    memory = berg.encode(model, image_files, show_progress=False, batch_size=2)
    xr.testing.assert_identical(resumed.compute(), memory)


def test_complete_result_is_refused_unless_overwrite(model: Any, images: np.ndarray, tmp_path: Path) -> None:
    berg = BERG(model.store)
    target = tmp_path / "run.zarr"
    berg.encode(model, images, show_progress=False, store=target)
    with pytest.raises(StoreError, match="already holds the complete result.*overwrite=True"):
        berg.encode(model, images, show_progress=False, store=target)
    again = berg.encode(model, images[::-1], show_progress=False, store=target, overwrite=True)
    np.testing.assert_array_equal(again.values, berg.encode(model, images[::-1], show_progress=False).values)


def test_unfinished_result_of_another_request_is_refused(model: Any, image_files: list[Path], tmp_path: Path) -> None:
    berg = BERG(model.store)
    target = tmp_path / "run.zarr"
    image_files[3].write_bytes(b"broken")
    with pytest.raises(StimulusError):
        berg.encode(model, image_files, show_progress=False, batch_size=2, store=target)
    other = berg.get_encoding_model(FWRF, subject=1, selection={"roi": "lateral"}, device="cpu")
    with pytest.raises(InvalidParameterError, match=r"different request.*selection"):
        berg.encode(other, image_files, show_progress=False, batch_size=2, store=target)
    with pytest.raises(InvalidParameterError, match="stimulus ids differ"):
        berg.encode(model, image_files[:2] + image_files[3:] + image_files[2:3], show_progress=False, batch_size=2, store=target)


def test_target_holding_something_else_is_refused(model: Any, images: np.ndarray, tmp_path: Path) -> None:
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").attrs["x"] = 1
    with pytest.raises(StoreError, match=r"holds files berg did not write \('zarr.json'\)"):
        BERG(model.store).encode(model, images, show_progress=False, store=tmp_path / "other.zarr")


def test_several_models_write_one_group_each(model: Any, images: np.ndarray, tmp_path: Path) -> None:
    berg = BERG(model.store)
    other = berg.get_encoding_model(FWRF, subject=1, selection={"roi": "lateral"}, device="cpu")
    out = berg.encode([model, other], images, show_progress=False, store=tmp_path / "many.zarr")
    assert set(out) == {f"{FWRF}/subject-01#1", f"{FWRF}/subject-01#2"}
    memory = berg.encode([model, other], images, show_progress=False)
    for label, da in out.items():
        assert (tmp_path / "many.zarr" / label.replace("#", "-") / "zarr.json").is_file()
        xr.testing.assert_identical(da.compute(), memory[label])
