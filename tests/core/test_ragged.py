"""Results whose length depends on the stimulus: a ragged model's rows, in memory and streamed into Zarr.

The participant-averaged toy model of :mod:`forms_plugin` gives 0 to 3 rows (``tr``) per image, with per-row
``stimulus``, ``time`` and ``label`` coordinates. Its results must equal an independent float64 reference
whatever the batch size and sink, open with plain xarray, resume exactly after an interrupted run (rows of an
unfinished batch dropped), and run beside a model with one row per stimulus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from berg_core import BERG, InvalidParameterError, PluginError, StoreError
from berg_core.engine.encoding import check_batch_result
from berg_core.registry.manager import PluginManager

from . import forms_plugin as fp

#: rows per image, chosen so the first batches have none and some later ones several
ROWS = [0, 0, 3, 1, 2, 0, 3, 1]


def _images(rows: list[int], seed: int = 3) -> np.ndarray:
    """Seeded images whose pixel sums give ``rows`` (one pixel adjusted)."""
    imgs = np.random.default_rng(seed).integers(0, 200, size=(len(rows), 3, 6, 5), dtype=np.uint8)
    for img, want in zip(imgs, rows, strict=True):
        img[0, 0, 0] += (want - fp.n_rows(img)) % 4
        assert fp.n_rows(img) == want
    return imgs


IMAGES = _images(ROWS)
IDS = [f"story{i}" for i in range(len(ROWS))]


@pytest.fixture
def pm() -> PluginManager:
    pm = PluginManager()
    pm.register(fp.FormsPlugin(), name="forms")
    return pm


@pytest.fixture
def berg(tmp_path: Path, pm: PluginManager) -> BERG:
    from berg_core.workflows.synthetic import write_synthetic_store

    write_synthetic_store(tmp_path / "store", subjects={fp.NAMED: ["N"]}, seed=4, plugin_manager=pm)
    return BERG(tmp_path / "store", plugin_manager=pm)


@pytest.fixture
def model(berg: BERG) -> Any:
    return berg.get_encoding_model(fp.RAGGED, device="cpu")


def _assert_reference(out: xr.DataArray, berg: BERG, images: np.ndarray = IMAGES, ids: list[Any] = IDS) -> None:
    ref = fp.reference(fp.RAGGED, fp.weights_of(Path(berg.store.url), fp.RAGGED), images, ids)
    assert out.dims == ("tr", "roi") and out.sizes["tr"] == sum(fp.n_rows(i) for i in images)
    np.testing.assert_allclose(np.asarray(out.values, np.float64), ref["values"], rtol=1e-6, atol=1e-6)
    assert [str(s) for s in out["stimulus"].values.tolist()] == [str(s) for s in ref["stimulus"].tolist()]
    np.testing.assert_array_equal(out["time"].values, ref["time"])
    assert out["roi"].values.tolist() == fp.ROIS


def _assert_same(a: xr.DataArray, b: xr.DataArray) -> None:
    assert a.dims == b.dims and a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    assert set(a.coords) == set(b.coords)
    for name in a.coords:
        assert np.asarray(a[name].values).tolist() == np.asarray(b[name].values).tolist(), name


# ---- in memory -------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 2, 3, 8])
def test_rows_equal_the_reference_whatever_the_batch_size(berg: BERG, model: Any, batch_size: int) -> None:
    out = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=batch_size, show_progress=False)
    _assert_reference(out, berg)
    assert out["label"].values.tolist()[:4] == ["story2:0", "story2:1", "story2:2", "story3:0"]
    assert out.attrs["model_id"] == fp.RAGGED and "subject" not in out.coords


def test_stimuli_without_rows_give_an_empty_result(berg: BERG, model: Any, tmp_path: Path) -> None:
    images = _images([0, 0, 0])
    out = berg.encode(model, images, batch_size=2, show_progress=False)
    assert out.shape == (0, 3) and out["stimulus"].size == 0
    stored = berg.encode(model, images, batch_size=2, show_progress=False, store=tmp_path / "empty.zarr")
    assert stored.shape == (0, 3) and stored["label"].size == 0
    assert xr.open_zarr(tmp_path / "empty.zarr")["responses"].shape == (0, 3)


# ---- the contract of a ragged batch ----------------------------------------------------------------
def _batch(stim: list[Any], dims: tuple[str, str] = ("tr", "roi"), **coords: Any) -> xr.DataArray:
    c: dict[str, Any] = {"stimulus": (dims[0], stim), "time": (dims[0], np.arange(len(stim), dtype=float))}
    c.update(coords)
    return xr.DataArray(np.zeros((len(stim), 3), np.float32), dims=dims, coords=c)


@pytest.mark.parametrize(("batch", "message"), [
    (_batch(["a", "b"], dims=("stimulus", "roi")), r"expected its rows 'tr' first"),
    (xr.DataArray(np.zeros((2, 3)), dims=("tr", "roi")), r"no 'stimulus' coordinate along 'tr'"),
    (_batch(["a", "z"]), r"belongs to stimulus 'z', which is not in this batch"),
    (_batch(["b", "a"]), r"grouped by stimulus, in the order of the batch's stimuli"),
    (_batch(["a", "b", "a"]), r"grouped by stimulus"),
])
def test_ragged_batches_that_break_the_contract_are_plugin_errors(model: Any, batch: xr.DataArray, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        check_batch_result(model, batch, ["a", "b"], None)


def test_ragged_batches_keep_their_per_row_coordinates_and_width(model: Any) -> None:
    first = check_batch_result(model, _batch(["a", "a", "b"]), ["a", "b"], None)
    assert first["model_id"].item() == fp.RAGGED
    check_batch_result(model, _batch([]), ["c"], first)  # a batch without rows is fine
    with pytest.raises(PluginError, match=r"per-row coordinates \['onset', 'stimulus', 'time'\]; the first batch had \['stimulus', 'time'\]"):
        check_batch_result(model, _batch(["c"], onset=("tr", [0.5])), ["c"], first)
    wide = xr.DataArray(np.zeros((1, 4)), dims=("tr", "roi"), coords={"stimulus": ("tr", ["c"]), "time": ("tr", [0.0])})
    with pytest.raises(PluginError, match=r"differs from the first batch's"):
        check_batch_result(model, wide, ["c"], first)


# ---- Zarr ------------------------------------------------------------------------------------------
def test_zarr_rows_equal_memory_and_open_with_plain_xarray(berg: BERG, model: Any, tmp_path: Path) -> None:
    memory = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=3, show_progress=False)
    stored = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=3, show_progress=False, store=tmp_path / "run.zarr")
    _assert_same(stored.load(), memory)
    plain = xr.open_zarr(tmp_path / "run.zarr")
    assert plain.attrs["berg_complete"] == 1 and plain.attrs["berg_rows"] == "tr"
    assert plain["responses"].dims == ("tr", "roi") and plain["time"].dims == ("tr",)
    np.testing.assert_array_equal(plain["responses"].values, memory.values)
    assert plain["stimulus"].values.tolist() == memory["stimulus"].values.tolist()
    assert plain["label"].values.tolist() == memory["label"].values.tolist()
    # which rows belong to a stimulus, as a user selects them
    rows = plain["responses"].isel(tr=(plain["stimulus"] == "story6").values)
    assert rows.sizes["tr"] == 3 and rows["time"].values.tolist() == [0.0, 2.0, 4.0]


def test_an_interrupted_ragged_run_resumes_exactly(berg: BERG, model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zarr

    from berg_core.results.zarr_sink import open_result, result_state
    from berg_core.store.zarr_store import quiet_zarr

    target = tmp_path / "run.zarr"
    expected = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False)
    original = type(model).encode_batch
    calls = {"n": 0}

    def failing(self: Any, batch: Any, stimulus_ids: list[Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return original(self, batch, stimulus_ids)

    monkeypatch.setattr(type(model), "encode_batch", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False, store=target)
    monkeypatch.setattr(type(model), "encode_batch", original)
    complete, done = result_state(target)
    assert not complete and done.tolist() == [True] * 4 + [False] * 4
    with pytest.raises(StoreError, match="unfinished"):
        open_result(target)
    # a batch whose rows reached the arrays but whose record did not: its rows must not survive the resume
    group = zarr.open_group(str(target), mode="r+", use_consolidated=False)
    held = group["responses"].shape[0]
    assert held == sum(ROWS[:4])  # the rows of the two finished batches
    with quiet_zarr():
        for _, arr in group.arrays():
            if arr.metadata.dimension_names and arr.metadata.dimension_names[0] == "tr":
                arr.resize((held + 2, *arr.shape[1:]))
    resumed = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False, store=target)
    _assert_same(resumed.load(), expected)
    _assert_reference(resumed.load(), berg)


def test_a_ragged_run_resumes_only_for_the_same_stimuli(berg: BERG, model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run.zarr"
    original = type(model).encode_batch
    calls = {"n": 0}

    def failing(self: Any, batch: Any, stimulus_ids: list[Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # after a batch with rows: the group exists (one of only empty batches starts over)
            raise RuntimeError("stop")
        return original(self, batch, stimulus_ids)

    monkeypatch.setattr(type(model), "encode_batch", failing)
    with pytest.raises(RuntimeError):
        berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False, store=target)
    monkeypatch.setattr(type(model), "encode_batch", original)
    other_ids = ["x" + i for i in IDS]
    with pytest.raises(InvalidParameterError, match="for other stimuli"):
        berg.encode(model, IMAGES, stimulus_ids=other_ids, batch_size=2, show_progress=False, store=target)
    other_pixels = IMAGES.copy()
    other_pixels[0, 1, 2, 2] ^= 4  # n_rows unchanged (sum changes by a multiple of 4)
    with pytest.raises(InvalidParameterError, match="other images"):
        berg.encode(model, other_pixels, stimulus_ids=IDS, batch_size=2, show_progress=False, store=target)
    out = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False, store=target)
    _assert_reference(out.load(), berg)


def test_ragged_and_per_stimulus_models_run_together(berg: BERG, model: Any, tmp_path: Path) -> None:
    named = berg.get_encoding_model(fp.NAMED, subject="N", device="cpu")
    alone = [berg.encode(m, IMAGES, stimulus_ids=IDS, batch_size=3, show_progress=False) for m in (named, model)]
    together = berg.encode([named, model], IMAGES, stimulus_ids=IDS, batch_size=3, show_progress=False)
    stored = berg.encode([named, model], IMAGES, stimulus_ids=IDS, batch_size=3, show_progress=False, store=tmp_path / "both.zarr")
    for got in (together, stored):
        keys = list(got) if isinstance(got, dict) else None
        pair = [got[k] for k in keys] if keys else list(got)
        _assert_same(pair[0].load(), alone[0])
        _assert_same(pair[1].load(), alone[1])
    assert xr.open_zarr(tmp_path / "both.zarr", group=fp.RAGGED)["responses"].shape == alone[1].shape
    assert xr.open_zarr(tmp_path / "both.zarr", group=f"{fp.NAMED}/subject-N")["responses"].shape == (len(IDS), 2)


def test_a_ragged_result_exports_through_its_plugin(berg: BERG, model: Any, tmp_path: Path) -> None:
    out = berg.encode(model, IMAGES, stimulus_ids=IDS, show_progress=False)
    fig = out.berg.plot(tmp_path / "rows.png", plugin_manager=berg)
    assert (tmp_path / "rows.png").stat().st_size > 0
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_distributed_ragged_rows_equal_the_local_run(berg: BERG, model: Any, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    named = berg.get_encoding_model(fp.NAMED, subject="N", device="cpu")
    local = berg.encode([named, model], IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False)
    # threads in this process: the models' factories rebuild them from this BERG's plugins
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        out = berg.encode([named, model], IMAGES, stimulus_ids=IDS, batch_size=2, show_progress=False,
                          store=tmp_path / "d.zarr", client=client)
    assert sorted(out) == sorted(local)
    for key in out:
        _assert_same(out[key].load(), local[key])
    _assert_reference(out[fp.RAGGED].load(), berg)


def test_plots_pick_the_rows_of_a_stimulus(berg: BERG, model: Any) -> None:
    from berg_core.results.plotting import pick_stimuli

    out = berg.encode(model, IMAGES, stimulus_ids=IDS, show_progress=False)
    whole, what = pick_stimuli(out)
    assert whole is out and what == f"{sum(ROWS)} tr of 5 stimuli"
    rows, what = pick_stimuli(out, "story6")
    assert rows.sizes["tr"] == 3 and set(rows["stimulus"].values.tolist()) == {"story6"} and what == "3 tr of stimulus 'story6'"
    with pytest.raises(InvalidParameterError, match=r"stimulus 'story0' has no tr in this result; stimuli with tr: \['story2'"):
        pick_stimuli(out, "story0")


def test_batches_without_rows_may_carry_untyped_empty_coordinates(berg: BERG, model: Any, monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    original = type(model).encode_batch

    def plain_empty(self: Any, batch: Any, stimulus_ids: list[Any]) -> Any:
        out = original(self, batch, stimulus_ids)
        if out.sizes["tr"] == 0:  # what a plugin writes without thinking of types: np.array([]) is float64
            out = out.assign_coords(stimulus=("tr", np.array([])), label=("tr", np.array([])))
        return out

    expected = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=1, show_progress=False)
    monkeypatch.setattr(type(model), "encode_batch", plain_empty)
    got = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=1, show_progress=False)
    _assert_same(got, expected)
    stored = berg.encode(model, IMAGES, stimulus_ids=IDS, batch_size=1, show_progress=False, store=tmp_path / "e.zarr")
    _assert_same(stored.load(), expected)
