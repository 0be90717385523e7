"""A batch result labelled without copying its labels equals the DataArray constructor's."""

from __future__ import annotations

import numpy as np
import xarray as xr

from berg_core.plugin import batch_array


def _parts() -> tuple[np.ndarray, dict, dict]:
    values = np.random.default_rng(0).random((3, 5), dtype=np.float32)
    coords = {
        "stimulus": ("stimulus", np.array(["a", "b", "c"])),
        "hemisphere": ("vertex", np.array(["lh", "lh", "rh", "rh", "rh"])),
        "ncsnr": ("vertex", np.arange(5, dtype=np.float32), {"long_name": "noise ceiling SNR"}),
        "model_id": "m",
    }
    return values, coords, {"units": "beta", "subject": 1}


def test_it_equals_the_constructor_and_shares_the_arrays() -> None:
    values, coords, attrs = _parts()
    got = batch_array(values, ("stimulus", "vertex"), coords, attrs, "fmri")
    xr.testing.assert_identical(got, xr.DataArray(values, dims=("stimulus", "vertex"), coords=coords, attrs=attrs, name="fmri"))
    assert np.shares_memory(got.values, values)
    assert np.shares_memory(got.coords["ncsnr"].values, coords["ncsnr"][1])
    got.attrs["units"] = "changed"
    assert attrs["units"] == "beta"  # attributes are the result's own


def test_the_encoded_result_owns_its_coordinates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from berg_core.engine.encoding import MemorySink

    values, coords, attrs = _parts()
    sink = MemorySink()
    batch = batch_array(values, ("stimulus", "vertex"), coords, attrs, "fmri")
    sink.begin(batch, ["a", "b", "c"])
    sink.write(0, batch)
    result = sink.finish()
    result.coords["ncsnr"].values[:] = -1  # a user editing the result in place
    assert coords["ncsnr"][1][0] == 0 and batch.coords["ncsnr"].values[0] == 0
