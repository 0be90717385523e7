"""Dask distributed: a LocalCluster with 2 worker processes gives the local run's values."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

MODEL = "fmri-nsd_fsaverage-vit_b_32"


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
        np.testing.assert_array_equal(out[label].values, local[label].values)
        assert out[label].dims == local[label].dims
        reread = xr.open_zarr(tmp_path / "run.zarr" / label.replace("#", "-"))
        assert reread.attrs["berg_complete"] == 1 and set(reread.data_vars) == {local[label].name}
    # an ordinary Zarr hierarchy: plain xarray opens the whole store as a tree
    tree = xr.open_datatree(tmp_path / "run.zarr", engine="zarr")
    assert {f"{MODEL}/{name}" for name in tree[MODEL].children} == set(local)
    # each worker built each model once, whatever the number of blocks it ran
    loaded = cluster.run(lambda: len(__import__("berg_core.engine.distributed", fromlist=["_MODELS"])._MODELS))
    assert set(loaded.values()) <= {0, 2}


def test_client_without_a_store_is_refused(fmri_store, cluster, vit_weights_file):
    from berg_core import BERG, InvalidParameterError

    berg = BERG(fmri_store)
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V1"}, device="cpu", backbone_weights=str(vit_weights_file))
    with pytest.raises(InvalidParameterError, match="pass store="):
        berg.encode(model, np.zeros((2, 3, 8, 8), np.uint8), client=cluster)
