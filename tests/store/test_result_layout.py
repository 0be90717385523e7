"""Result stores are ordinary Zarr v3 hierarchies that plain xarray opens (issue 13, items 1 and 2).

Every level of a store of several results is a Zarr group, so ``xarray.open_datatree`` opens it
as a tree and ``xarray.open_zarr(path, group="MODEL/subject-01")`` opens one result, locally and
on S3; an opened result holds the response and its coordinates only, writes to netCDF, and
carries ``model_id`` and ``subject`` as scalar coordinates, so results of several subjects
concatenate with the right labels. Stores of the first layout still open, and are refused as
targets with a message saying what to do.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from berg_core import BERG, StoreError
from berg_core.results.zarr_sink import result_state

from .conftest import BUCKET, s3_options

TESTS = Path(__file__).resolve().parents[1]
TOY = "toy-retina-luminance"


def _load_module(path: Path, name: str) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The toy plugin of the core tests (subjects 1 and 2), its seeded store, and where the plugin lives."""
    from berg_core.registry.manager import PluginManager

    core = _load_module(TESTS / "core" / "conftest.py", "berg_layout_core_fixtures")
    site = Path(core.write_plugin(tmp_path_factory.mktemp("site")))
    plugin = _load_module(site / "berg_toy" / "plugin.py", "berg_layout_toy_plugin")
    pm = PluginManager()
    pm.register(plugin, name="toy")
    root = tmp_path_factory.mktemp("toy_store")
    pm.owner_hook("berg_write_synthetic_store", "toy")(card=pm.registry.get(TOY).card, root=str(root), subjects=[1, 2], seed=0, options={})
    return BERG(root, plugin_manager=pm), site


def _images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(2).integers(0, 256, (n, 3, 9, 11), dtype=np.uint8)


def _models(berg: BERG) -> list[Any]:
    return [berg.get_encoding_model(TOY, subject=s, device="cpu") for s in (1, 2)]


def _strict() -> Any:
    """xarray's fallback from consolidated metadata is a warning: here it is an error."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", RuntimeWarning)
    return ctx


def test_plain_xarray_opens_a_store_of_several_results(toy: tuple[Any, Path], tmp_path: Path) -> None:
    berg = toy[0]
    store = tmp_path / "run.zarr"
    memory = berg.encode(_models(berg), _images(), batch_size=2, show_progress=False)
    berg.encode(_models(berg), _images(), batch_size=2, show_progress=False, store=store)
    for level in (store, store / TOY, store / TOY / "subject-01"):
        assert (level / "zarr.json").is_file()
    ctx = _strict()
    try:
        tree = xr.open_datatree(store, engine="zarr")
        one = xr.open_zarr(store, group=f"{TOY}/subject-01")
    finally:
        ctx.__exit__(None, None, None)
    assert set(tree[TOY].children) == {"subject-01", "subject-02"}
    assert isinstance(zarr.open_group(str(store), mode="r"), zarr.Group)
    for label, da in memory.items():
        node = tree[label].to_dataset()
        assert list(node.data_vars) == ["responses"]  # the response only: no bookkeeping
        np.testing.assert_array_equal(node["responses"].values, da.values)
        assert node["subject"].item() == int(label[-2:]) and node["model_id"].item() == TOY
    assert one.attrs["berg_complete"] == 1 and list(one.data_vars) == ["responses"]


def test_an_opened_result_writes_to_netcdf(toy: tuple[Any, Path], tmp_path: Path) -> None:
    berg = toy[0]
    store = tmp_path / "run.zarr"
    berg.encode(_models(berg), _images(), show_progress=False, store=store)
    ds = xr.open_zarr(store, group=f"{TOY}/subject-02")
    ds.to_netcdf(tmp_path / "one.nc")
    back = xr.open_dataset(tmp_path / "one.nc")
    np.testing.assert_array_equal(back["responses"].values, ds["responses"].values)
    assert back["subject"].item() == 2
    ds["responses"].to_netcdf(tmp_path / "array.nc")


def test_open_results_gives_the_tree_with_the_accessor_and_leaves_out_unfinished_results(toy: tuple[Any, Path], tmp_path: Path) -> None:
    berg = toy[0]
    store = tmp_path / "run.zarr"
    berg.encode(_models(berg), _images(), show_progress=False, store=store)
    zarr.open_group(str(store / TOY / "subject-02"), mode="r+").attrs["berg_complete"] = 0  # as an interrupted run leaves it
    tree = BERG.open_results(store)
    assert isinstance(tree, xr.DataTree)
    assert set(tree[TOY].children) == {"subject-01"}
    da = tree[f"{TOY}/subject-01"]["responses"]
    assert hasattr(da, "berg") and da.berg is not None
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no berg result"):
        BERG.open_results(tmp_path / "empty")


def test_results_concatenate_by_subject(toy: tuple[Any, Path], tmp_path: Path) -> None:
    berg = toy[0]
    m1, m2 = _models(berg)
    for r1, r2 in [
        (berg.encode(m1, _images(), show_progress=False), berg.encode(m2, _images(), show_progress=False)),
        (berg.encode(m1, _images(), show_progress=False, store=tmp_path / "a.zarr"),
         berg.encode(m2, _images(), show_progress=False, store=tmp_path / "b.zarr")),
    ]:
        both = xr.concat([r1, r2], dim="subject")
        assert both["subject"].values.tolist() == [1, 2]
        assert both["model_id"].item() == TOY
        assert r1.attrs["subject"] == 1 and r2.attrs["model_id"] == TOY  # still attributes too
        np.testing.assert_array_equal(both.sel(subject=2).values, r2.values)


def test_a_store_of_one_result_opens_at_its_root(toy: tuple[Any, Path], tmp_path: Path) -> None:
    berg = toy[0]
    store = tmp_path / "one.zarr"
    stored = berg.encode(_models(berg)[0], _images(), show_progress=False, store=store)
    assert list(xr.open_zarr(store).data_vars) == ["responses"]
    tree = BERG.open_results(store)
    xr.testing.assert_identical(tree["responses"].compute(), stored.compute())


def test_stores_on_s3_open_with_plain_xarray(toy: tuple[Any, Path], s3: Any, tmp_path: Path) -> None:
    berg = toy[0]
    opts = {**s3_options(s3), "anon": False}
    url = f"s3://{BUCKET}/results/tree-{tmp_path.name}.zarr"
    memory = berg.encode(_models(berg), _images(), show_progress=False)
    berg.encode(_models(berg), _images(), show_progress=False, store=url, storage_options=opts)
    tree = xr.open_datatree(url, engine="zarr", storage_options=opts)
    one = xr.open_zarr(url, group=f"{TOY}/subject-02", storage_options=opts)
    np.testing.assert_array_equal(one["responses"].values, memory[f"{TOY}/subject-02"].values)
    np.testing.assert_array_equal(tree[f"{TOY}/subject-01"]["responses"].values, memory[f"{TOY}/subject-01"].values)
    opened = BERG.open_results(url, storage_options=opts)
    assert set(opened[TOY].children) == {"subject-01", "subject-02"}
    assert result_state(f"{url}/{TOY}/subject-01", opts)[0] is True


def _first_layout_store(root: Path) -> Path:
    """A store as the first layout wrote it: plain folders above the results, records in the dataset."""
    group = root / TOY / "subject-01"
    ds = xr.Dataset(
        {"responses": (("stimulus", "unit"), np.arange(6, dtype="f4").reshape(3, 2), {"model_id": TOY, "subject": 1}),
         "berg_done": ("stimulus", np.ones(3, np.uint8))},
        coords={"stimulus": np.array(["a", "b", "c"], dtype=object)},
        attrs={"berg_result": 1, "berg_complete": True, "berg_variable": "responses",
               "berg_request": {"model_id": TOY, "subject": 1, "n_stimuli": 3}},
    )
    ds.to_zarr(group, mode="w", zarr_format=3, consolidated=True)
    return root


def test_stores_of_the_first_layout_open_and_are_refused_as_targets(toy: tuple[Any, Path], tmp_path: Path) -> None:
    berg = toy[0]
    old = _first_layout_store(tmp_path / "old.zarr")
    tree = BERG.open_results(old)
    node = tree[f"{TOY}/subject-01"].to_dataset()
    assert list(node.data_vars) == ["responses"]
    np.testing.assert_array_equal(node["responses"].values, np.arange(6).reshape(3, 2))
    with pytest.raises(StoreError, match="files berg did not write"):
        berg.encode(_models(berg), _images(), show_progress=False, store=old)
    # the result group itself, as a target: refused while unfinished, replaced only when asked
    group = old / TOY / "subject-01"
    zarr.open_group(str(group), mode="r+").attrs["berg_complete"] = False
    with pytest.raises(StoreError, match="earlier berg.*overwrite=True"):
        berg.encode(_models(berg)[0], _images(), show_progress=False, store=group)


def test_berg_encode_writes_a_store_plain_xarray_opens(toy: tuple[Any, Path], tmp_path: Path) -> None:
    from PIL import Image

    berg, site = toy
    images = tmp_path / "images"
    images.mkdir()
    for i, image in enumerate(_images(3)):
        Image.fromarray(image.transpose(1, 2, 0)).save(images / f"im{i}.png")
    out = tmp_path / "run.zarr"
    env = {**os.environ, "PYTHONPATH": str(site), "BERG_STRICT_PLUGINS": "1"}
    done = subprocess.run([sys.executable, "-m", "berg_core.cli.main", "encode", TOY, str(images), "-o", str(out), "--subject", "1,2",
                           "--berg-dir", str(berg.store.url), "--device", "cpu", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tree = xr.open_datatree(out, engine="zarr")
    assert set(tree[TOY].children) == {"subject-01", "subject-02"}
    assert list(xr.open_zarr(out, group=f"{TOY}/subject-02").data_vars) == ["responses"]
