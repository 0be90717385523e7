"""fmri-lebel2023-opt_1_3b with berg's stores and outputs: an interrupted multi-story Zarr run resumes to the
uninterrupted rows, berg convert and berg download (one subject, the OPT folder carried along) give the same
responses, the demo runs offline, NIfTI export with and without geometry, the ROI time-course plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from berg_fmri_lebel.layout import MODEL_ID, STORE_PATH

from berg_core import BERG
from berg_core.errors import InvalidParameterError, StoreError

from .conftest import N_VOXELS

WORDS = "once upon a time there was a small house by the sea where nobody ever went".split()


def _stories() -> list[dict[str, Any]]:
    return [{"word": WORDS[: 4 + 2 * i], "onset": 1.0 + 0.5 * np.arange(4 + 2 * i) + i} for i in range(5)]


def _model(store: Path, folder: Path | None, **kwargs: Any) -> Any:
    extra = {} if folder is None else {"backbone_weights": str(folder)}
    return BERG(store).get_encoding_model(MODEL_ID, subject=kwargs.pop("subject", "UTS01"), device="cpu", **extra, **kwargs)


def test_an_interrupted_multi_story_zarr_run_resumes_exactly(store: Path, opt_folder: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from berg_core.results.zarr_sink import open_result, result_state

    model = _model(store, opt_folder, selection={"roi": ["A1", "AC"]})
    berg = BERG(store)
    expected = berg.encode(model, _stories(), batch_size=2, show_progress=False)
    target = tmp_path / "run.zarr"
    original = type(model).encode_batch
    calls = {"n": 0}

    def failing(self: Any, batch: Any, stimulus_ids: list[Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return original(self, batch, stimulus_ids)

    monkeypatch.setattr(type(model), "encode_batch", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        berg.encode(model, _stories(), batch_size=2, show_progress=False, store=target)
    monkeypatch.setattr(type(model), "encode_batch", original)
    complete, done = result_state(target)
    assert not complete and done.tolist() == [True, True, False, False, False]
    with pytest.raises(StoreError, match="unfinished"):
        open_result(target)
    resumed = berg.encode(model, _stories(), batch_size=2, show_progress=False, store=target).load()
    np.testing.assert_array_equal(resumed.values, expected.values)
    for c in ("stimulus", "time", "tr_index", "voxel", "roi", "noise_ceiling"):
        np.testing.assert_array_equal(resumed[c].values, expected[c].values)
    plain = xr.open_zarr(target)  # plain xarray: rows of each story by its stimulus coordinate
    rows = plain["fmri"].isel(tr=(plain["stimulus"] == 3).values)
    np.testing.assert_array_equal(rows.values, expected.values[expected["stimulus"].values == 3])
    assert rows["time"].values[0] == 1.0 + 3


def test_convert_and_download_give_the_same_responses(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from berg_core.plugin import write_synthetic_store
    from berg_core.workflows.convert import convert_store, subject_of
    from berg_core.workflows.download import download_model

    src = tmp_path_factory.mktemp("lebel_full")
    # the store carries its seeded OPT-1.3B copy (24 layers) in backbones/opt-1.3b, as berg demo's
    write_synthetic_store(src, models=[MODEL_ID], subjects=["UTS01", "UTS02"], seed=3, options={MODEL_ID: {"n_voxels": 40}})
    assert (src / "backbones" / "opt-1.3b" / "config.json").is_file()
    story = _stories()[2]
    want = BERG(src).encode(_model(src, None), story, show_progress=False)

    report = convert_store(str(src), str(tmp_path / "zarr"), models=[MODEL_ID], show_progress=False)
    assert any("weights_UTS01" in p for p in report.converted) and any("metadata_UTS02" in p for p in report.converted)
    got = BERG(tmp_path / "zarr").encode(_model(tmp_path / "zarr", None), story, show_progress=False)
    np.testing.assert_array_equal(got.values, want.values)
    sel = BERG(tmp_path / "zarr").encode(_model(tmp_path / "zarr", None, selection={"roi": "AC"}), story, show_progress=False)
    np.testing.assert_array_equal(sel.values, want.sel(voxel=sel["voxel"].values).values)

    # BERG 2.0 names the files weights_UTS02.npy / metadata_UTS02.npy: the subject stands alone in the name
    card = BERG(src).plugin_manager.registry.get(MODEL_ID).card
    assert subject_of("weights_UTS02.npy", card) == "UTS02" and subject_of("config.json", card) is None
    report = download_model(MODEL_ID, subjects=["UTS02"], dest=tmp_path / "copy", berg_dir=str(src), show_progress=False)
    fetched = set(report.fetched)
    assert f"{STORE_PATH}/encoding_models_weights/weights_UTS02.npy" in fetched
    assert not any("UTS01" in p for p in fetched)  # only the subject asked for
    assert "backbones/opt-1.3b/config.json" in fetched
    copy = BERG(tmp_path / "copy")
    got = copy.encode(_model(tmp_path / "copy", None, subject="UTS02"), story, show_progress=False)
    np.testing.assert_array_equal(got.values, BERG(src).encode(_model(src, None, subject="UTS02"), story,
                                                                show_progress=False).values)


def test_the_demo_runs_the_model_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from berg_core.demo.run import run_demo
    from berg_core.results.zarr_sink import open_result

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    report = run_demo(cache_dir=tmp_path / "cache", models=[MODEL_ID])
    results = Path(report.paths.results)
    groups = [p.name for p in (results / MODEL_ID).iterdir() if p.is_dir()]
    assert groups == ["subject-UTS01"]
    result = open_result(str(results / MODEL_ID / "subject-UTS01")).load()
    assert result.dims == ("tr", "voxel") and result.sizes["voxel"] == 300
    assert np.isfinite(result.values).all() and len(set(result["stimulus"].values.tolist())) >= 2


def test_nifti_export_needs_geometry(store: Path, geo_store: Path, opt_folder: Path, tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    from berg_fmri_lebel.layout import metadata_relpath

    from berg_core.plugin import Store, read_metadata

    stories = _stories()[:2]
    plain = BERG(store).encode(_model(store, opt_folder), stories, show_progress=False)
    with pytest.raises(InvalidParameterError, match="does not place the voxels in a volume.*fmri/mask"):
        plain.berg.export("nifti", tmp_path / "x.nii.gz")
    with pytest.raises(InvalidParameterError, match=r"\['nifti'\]"):
        plain.berg.export("mgz", tmp_path / "x.mgz")

    result = BERG(geo_store).encode(_model(geo_store, opt_folder, subject="UTS02", selection={"roi": "AC"}), stories,
                                    show_progress=False)
    meta = read_metadata(Store(str(geo_store)), metadata_relpath("UTS02"))
    mask = np.asarray(meta["fmri"]["mask"])  # pycortex (z, y, x); voxels in its C order
    out = result.berg.export("nifti", tmp_path / "story.nii.gz", stimulus=1)
    img = nib.load(out)
    one = result.isel(tr=(result["stimulus"] == 1).values)
    assert img.shape == (*mask.shape[::-1], one.sizes["tr"])
    np.testing.assert_allclose(img.affine, meta["fmri"]["affine"])
    assert img.header.get_zooms()[3] == 2.0
    vol = np.asarray(img.dataobj)
    z, y, x = np.nonzero(mask)
    vox = result["voxel"].values
    np.testing.assert_array_equal(vol[x[vox], y[vox], z[vox], :], one.values.T)
    assert np.isnan(vol).sum() == vol.size - vox.size * one.sizes["tr"]
    assert N_VOXELS == int(mask.sum())


def test_plot_draws_each_rois_time_course(store: Path, opt_folder: Path, tmp_path: Path) -> None:
    from berg_fmri_lebel.plots import roi_time_courses

    result = BERG(store).encode(_model(store, opt_folder, selection={"roi": ["A1", "AC"]}), _stories()[:2],
                                show_progress=False)
    fig = result.berg.plot(tmp_path / "p.png", stimulus=1, rois=["AC"])
    assert (tmp_path / "p.png").stat().st_size > 0
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["AC"]
    one = result.isel(tr=(result["stimulus"] == 1).values)
    ac = np.array(["AC" in str(r).split(",") for r in one["roi"].values])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), one.values[:, ac].mean(axis=1))
    np.testing.assert_allclose(ax.lines[0].get_xdata(), one["time"].values)
    assert set(roi_time_courses(one)) >= {"A1", "AC"}
    with pytest.raises(InvalidParameterError, match="Wernicke.*no voxel in this result"):
        result.berg.plot(tmp_path / "q.png", rois=["Wernicke"])
    with pytest.raises(InvalidParameterError, match="plot option"):
        result.berg.plot(tmp_path / "q.png", colour="red")


def test_berg_encode_reads_stories_from_tsv_files(store: Path, opt_folder: Path, tmp_path: Path) -> None:
    import pandas as pd

    from berg_core.cli.main import main

    paths = []
    for i, story in enumerate(_stories()[:3]):
        paths.append(tmp_path / f"story{i}.tsv")
        pd.DataFrame(story).to_csv(paths[-1], sep="\t", index=False)
    out = tmp_path / "run.zarr"
    rc = main(["encode", MODEL_ID, *map(str, paths), "-o", str(out), "--subject", "UTS03", "--berg-dir", str(store),
               "--select", "roi=A1,AC", "--backbone-weights", str(opt_folder), "--device", "cpu", "--no-progress"])
    assert rc == 0
    [got] = BERG.open_results(out).values()
    want = BERG(store).encode(_model(store, opt_folder, subject="UTS03", selection={"roi": ["A1", "AC"]}),
                              paths, show_progress=False)
    got = got.load()
    assert got.attrs["subject"] == "UTS03" and got.dims == ("tr", "voxel")
    np.testing.assert_array_equal(got.values, want.values)
    assert got["stimulus"].values.tolist() == want["stimulus"].values.tolist()
    assert want["stimulus"].values[0] == "story0"
