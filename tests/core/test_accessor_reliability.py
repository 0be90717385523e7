"""``result.berg.reliable`` with 1-D and multi-dimensional reliability coordinates.

The 1-D rule (keep the units whose value reaches the threshold) is unchanged; a reliability per unit and
time (MEG sensors, TVSD electrodes) is summarised per unit over its other dims (mean by default), checked
here against NumPy on the same values; ``mask=True`` hides single values instead of dropping units.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from berg_core import InvalidParameterError
from berg_core.results.plotting import reliable_units


def _sensor_time(seed: int = 0) -> xr.DataArray:
    """(stimulus, split, sensor, time) values with ncsnr per (sensor, time), like a single-split MEG result."""
    rng = np.random.default_rng(seed)
    ncsnr = rng.uniform(0.0, 1.0, (5, 4))
    ncsnr[3] = [0.2, np.nan, 0.9, 0.7]  # a NaN is skipped by the summaries
    ncsnr[4] = np.nan  # a unit without any finite reliability is never reliable
    return xr.DataArray(
        rng.standard_normal((2, 3, 5, 4)).astype(np.float32), dims=("stimulus", "split", "sensor", "time"),
        coords={"stimulus": ["a", "b"], "sensor_name": ("sensor", list("vwxyz")), "time": [0.0, 0.1, 0.2, 0.3],
                "ncsnr": (("sensor", "time"), ncsnr)},
        attrs={"model_id": "m"},
    )


def test_one_dimensional_reliability_is_unchanged():
    ncsnr = np.array([0.1, 0.5, np.nan, 0.3, 0.9])
    da = xr.DataArray(np.arange(10.0).reshape(2, 5), dims=("stimulus", "voxel"), coords={"ncsnr": ("voxel", ncsnr)},
                      attrs={"model_id": "m"})
    for threshold in (0.0, 0.3, 0.31, 5):
        kept = da.berg.reliable(threshold)
        xr.testing.assert_identical(kept, da.isel(voxel=ncsnr >= threshold))
        # every summary gives the same answer for one value per unit
        for how in ("mean", "median", "min", "max"):
            xr.testing.assert_identical(da.berg.reliable(threshold, how=how), kept)
    xr.testing.assert_identical(da.berg.unit_reliability(), da["ncsnr"])
    masked = da.berg.reliable(0.3, mask=True)
    assert masked.shape == da.shape
    np.testing.assert_array_equal(np.isnan(masked.values), np.broadcast_to(~(ncsnr >= 0.3), da.shape))


@pytest.mark.parametrize("how", ["mean", "median", "min", "max"])
def test_units_are_kept_by_their_reliability_summarised_over_time(how):
    da = _sensor_time()
    rel = np.asarray(da["ncsnr"].values, dtype=np.float64)
    summarise = {"mean": np.nanmean, "median": np.nanmedian, "min": np.nanmin, "max": np.nanmax}[how]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN unit
        per_sensor = summarise(rel, axis=1)
    summary = da.berg.unit_reliability(how=how)
    assert summary.dims == ("sensor",) and summary.name == "ncsnr"
    np.testing.assert_allclose(summary.values, per_sensor, rtol=0, atol=0)
    assert np.isnan(summary.values[4])
    for threshold in (0.0, 0.4, 0.6):
        kept = da.berg.reliable(threshold, how=how)
        keep = np.flatnonzero(per_sensor >= threshold)
        xr.testing.assert_identical(kept, da.isel(sensor=keep))
        assert kept.sizes["time"] == 4 and kept.sizes["split"] == 3  # the other dims stay whole
        assert 4 not in keep


def test_the_units_may_be_along_another_dim_of_the_coordinate():
    da = _sensor_time()
    rel = np.asarray(da["ncsnr"].values, dtype=np.float64)
    per_time = np.nanmean(rel, axis=0)
    kept = da.berg.reliable(0.45, dim="time")
    xr.testing.assert_identical(kept, da.isel(time=np.flatnonzero(per_time >= 0.45)))
    np.testing.assert_array_equal(da.berg.unit_reliability("time")["time"].values, da["time"].values)


def test_mask_hides_each_value_by_its_own_reliability():
    da = _sensor_time()
    masked = da.berg.reliable(0.5, mask=True)
    assert masked.dims == da.dims and masked.shape == da.shape
    below = ~(np.asarray(da["ncsnr"].values) >= 0.5)  # NaN reliability counts as below
    np.testing.assert_array_equal(np.isnan(masked.values), np.broadcast_to(below, da.shape))
    np.testing.assert_array_equal(masked.values[..., ~below], da.values[..., ~below])


def test_errors_say_what_was_expected():
    da = _sensor_time()
    with pytest.raises(InvalidParameterError, match=r"how must be one of \['mean', 'median', 'min', 'max'\], got 'sum'"):
        da.berg.reliable(0.1, how="sum")
    with pytest.raises(InvalidParameterError, match=r"dim must be a dimension of the reliability coordinate 'ncsnr'.*"
                                                    r"\['sensor', 'time'\]; got 'stimulus'"):
        da.berg.reliable(0.1, dim="stimulus")
    with pytest.raises(InvalidParameterError, match="mask=True hides each value by its own reliability"):
        da.berg.reliable(0.1, mask=True, how="max")
    with pytest.raises(InvalidParameterError, match="mask must be True or False"):
        da.berg.reliable(0.1, mask="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="threshold must be a number, got str"):
        da.berg.reliable("0.1")  # type: ignore[arg-type]
    assert da.berg.reliable(np.float32(0.5)).sizes["sensor"] == da.berg.reliable(0.5).sizes["sensor"]


def test_plot_helper_uses_the_same_rule_and_names_the_summary_when_nothing_passes():
    da = _sensor_time()
    xr.testing.assert_identical(reliable_units(da, 0.4), da.berg.reliable(0.4))
    assert reliable_units(da, None) is da
    top = float(np.nanmax(np.nanmean(np.asarray(da["ncsnr"].values, dtype=np.float64)[:4], axis=1)))
    with pytest.raises(InvalidParameterError, match=r"no unit reaches reliability=2.*ncsnr \(mean over \['time'\] per "
                                                    rf"sensor\) ranges .* to {top:.3g}"):
        reliable_units(da, 2.0)
