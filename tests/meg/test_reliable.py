"""``result.berg.reliable`` and ``plot(reliability=)`` on real MEG results (ncsnr per sensor x time)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from berg_core import InvalidParameterError


def _per_sensor(result: xr.DataArray) -> np.ndarray:
    """Each sensor's ncsnr averaged over the result's times, in float64 (the documented default rule)."""
    return np.asarray(result["ncsnr"].values, dtype=np.float64).mean(axis=1)


@pytest.mark.parametrize("which", ["all", "single"])
def test_reliable_keeps_sensors_by_their_mean_ncsnr(full_all, full_single, which):
    r = full_all if which == "all" else full_single
    assert r["ncsnr"].dims == ("sensor", "time")
    per_sensor = _per_sensor(r)
    threshold = float(np.median(per_sensor))
    kept = r.berg.reliable(threshold)
    keep = np.flatnonzero(per_sensor >= threshold)
    assert 0 < keep.size < r.sizes["sensor"]
    assert kept.dims == r.dims and kept.sizes["time"] == r.sizes["time"]
    np.testing.assert_array_equal(kept["sensor_name"].values, r["sensor_name"].values[keep])
    np.testing.assert_array_equal(kept.values, r.values[..., keep, :])
    np.testing.assert_allclose(r.berg.unit_reliability().values, per_sensor, rtol=1e-12)
    # reliable at every time point: the minimum over time
    strict = r.berg.reliable(threshold, how="min")
    np.testing.assert_array_equal(strict["sensor_name"].values,
                                  r["sensor_name"].values[np.asarray(r["ncsnr"].values).min(axis=1) >= threshold])


def test_reliable_time_points_and_masks(full_all):
    r = full_all
    rel = np.asarray(r["ncsnr"].values, dtype=np.float64)
    per_time = rel.mean(axis=0)
    threshold = float(np.median(per_time))
    kept = r.berg.reliable(threshold, dim="time")
    np.testing.assert_array_equal(kept["time"].values, r["time"].values[per_time >= threshold])
    masked = r.berg.reliable(0.8, mask=True)
    assert masked.shape == r.shape
    below = rel < 0.8
    assert below.any() and (~below).any()
    assert np.isnan(masked.values[:, below]).all()
    np.testing.assert_array_equal(masked.values[:, ~below], r.values[:, ~below])


def test_plot_draws_only_the_reliable_sensors(full_all, tmp_path):
    per_sensor = _per_sensor(full_all)
    threshold = float(np.sort(per_sensor)[-6])  # the six most reliable sensors
    fig = full_all.berg.plot(tmp_path / "reliable.png", reliability=threshold)
    assert (tmp_path / "reliable.png").stat().st_size > 1000
    assert len([ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "-"]) == 6
    assert "mean ncsnr ≥" in fig.get_suptitle()
    with pytest.raises(InvalidParameterError, match="no unit reaches reliability=99"):
        full_all.berg.plot(None, reliability=99)
