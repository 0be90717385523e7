"""The distributed path (``encode(..., client=)``) gives the local values for TVSD models, string subjects included."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from .reference import MODEL_ID


def test_dask_client_gives_the_local_values(load, berg, images, tmp_path):
    distributed = pytest.importorskip("distributed")
    with load("F", selection={"roi": "V4", "timepoints": [0.05, 0.1]}) as f, \
            load("N", train_splits="single", selection={"electrodes": [0, 1000]}) as n:
        local = {m.subject: berg.encode(m, images, batch_size=2, show_progress=False) for m in (n, f)}
        with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
            berg.encode([n, f], images, batch_size=2, show_progress=False, store=tmp_path / "d.zarr", client=client)
    for subject, expected in local.items():
        got = xr.open_zarr(tmp_path / "d.zarr", group=f"{MODEL_ID}/subject-{subject}")["mua"]
        assert got.dims == expected.dims
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(got["electrode"].values, expected["electrode"].values)
