"""Dask distributed: a LocalCluster with 2 worker processes gives the local run's values."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

MODEL = "fmri-nsd_fsaverage-vit_b_32"
TOY = "toy-retina-luminance"


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            yield client


def test_two_worker_processes_give_the_local_values(fmri_store, cluster, vit_weights_file, tmp_path):
    from berg_core import BERG

    berg = BERG(fmri_store)
    kw = {"device": "cpu", "backbone_weights": str(vit_weights_file)}
    models = [
        berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V1"}, **kw),
        berg.get_encoding_model(MODEL, subject=2, selection={"roi": ["FFA-1", "OFA"]}, **kw),
    ]
    images = np.random.default_rng(0).integers(0, 256, size=(11, 3, 40, 30), dtype=np.uint8)
    local = berg.encode(models, images, batch_size=2, show_progress=False)
    out = berg.encode(models, images, batch_size=2, show_progress=False, store=tmp_path / "run.zarr", client=cluster)
    assert list(out) == list(local)
    for label in local:
        # the same bits need the same thread count (README, "What exact means"): Dask's workers run torch on
        # one thread, this process on two, and oneDNN splits a short read-out's long sums by threads
        scale = np.abs(local[label].values).max()
        np.testing.assert_allclose(out[label].values, local[label].values, rtol=0, atol=1e-5 * scale)
        assert out[label].dims == local[label].dims
        reread = xr.open_zarr(tmp_path / "run.zarr" / label.replace("#", "-"))
        assert reread.attrs["berg_complete"] == 1 and set(reread.data_vars) == {local[label].name}
    # an ordinary Zarr hierarchy: plain xarray opens the whole store as a tree
    tree = xr.open_datatree(tmp_path / "run.zarr", engine="zarr")
    assert {f"{MODEL}/{name}" for name in tree[MODEL].children} == set(local)
    # each worker built each model once, whatever the number of blocks it ran
    loaded = cluster.run(lambda: len(__import__("berg_core.engine.factory", fromlist=["_MODELS"])._MODELS))
    assert set(loaded.values()) <= {0, 2}


def test_client_without_a_store_is_refused(fmri_store, cluster, vit_weights_file):
    from berg_core import BERG, InvalidParameterError

    berg = BERG(fmri_store)
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V1"}, device="cpu", backbone_weights=str(vit_weights_file))
    with pytest.raises(InvalidParameterError, match="pass store="):
        berg.encode(model, np.zeros((2, 3, 8, 8), np.uint8), client=cluster)


def test_a_plugin_registered_by_hand_runs_on_worker_processes(cluster, toy_plugin_dir, monkeypatch, tmp_path):
    """Workers rebuild models from the factory: the caller's own plugin manager and store settings travel with it."""
    import importlib

    from berg_core import BERG
    from berg_core.registry.manager import PluginManager
    from berg_core.workflows.synthetic import write_synthetic_store

    monkeypatch.setenv("BERG_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = PluginManager()
    pm.register(importlib.import_module("berg_toy.plugin"), name="by-hand")
    write_synthetic_store(tmp_path / "store", models=[TOY], subjects=[1, 2], seed=6, plugin_manager=pm)
    berg = BERG(tmp_path / "store", plugin_manager=pm, cache_dir=tmp_path / "cache")
    models = [berg.get_encoding_model(TOY, subject=s, device="cpu") for s in (1, 2)]
    assert models[0].factory.store.cache_dir == str(tmp_path / "cache")
    # the workers import the plugin module from where this process found it, as an installed plugin would be
    cluster.run(lambda path: __import__("sys").path.insert(0, path), str(toy_plugin_dir))
    images = np.random.default_rng(2).integers(0, 256, size=(9, 3, 8, 8), dtype=np.uint8)
    local = berg.encode(models, images, batch_size=2, show_progress=False)
    out = berg.encode(models, images, batch_size=2, show_progress=False, store=tmp_path / "run.zarr", client=cluster)
    for label in local:
        # the same bits need the same thread count (README, "What exact means"): Dask's workers run torch on
        # one thread, this process on two, and oneDNN splits a short read-out's long sums by threads
        scale = np.abs(local[label].values).max()
        np.testing.assert_allclose(out[label].values, local[label].values, rtol=0, atol=1e-5 * scale)
    on_workers = cluster.run(lambda: sorted(m.plugin_name for m in __import__("berg_core.engine.factory", fromlist=["_MODELS"])._MODELS.values()))
    assert any("by-hand" in names for names in on_workers.values())
