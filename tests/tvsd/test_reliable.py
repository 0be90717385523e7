"""``result.berg.reliable`` and ``plot(reliability=)`` on real TVSD results (ncsnr per electrode x time)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from berg_core.errors import InvalidParameterError


def _per_electrode(result: xr.DataArray) -> np.ndarray:
    """Each electrode's ncsnr averaged over the result's times, in float64 (the documented default rule)."""
    return np.asarray(result["ncsnr"].values, dtype=np.float64).mean(axis=1)


def test_reliable_keeps_electrodes_by_their_mean_ncsnr(full):
    assert full["ncsnr"].dims == ("electrode", "time")
    per_electrode = _per_electrode(full)
    threshold = float(np.median(per_electrode))
    kept = full.berg.reliable(threshold)
    keep = np.flatnonzero(per_electrode >= threshold)
    assert 0 < keep.size < full.sizes["electrode"]
    assert kept.sizes["time"] == full.sizes["time"]
    np.testing.assert_array_equal(kept["roi"].values, full["roi"].values[keep])
    np.testing.assert_array_equal(kept.values, full.values[:, keep])
    np.testing.assert_allclose(kept["ncsnr"].values, full["ncsnr"].values[keep])
    # the 1-D snr_max coordinate rides along; ncsnr is preferred as the reliability
    assert full.berg.reliability().name == "ncsnr"


def test_selected_times_change_the_mean(load, features):
    with load("F", selection={"timepoints": slice(0.0, 0.05)}) as model:
        r = model.encode_features(features, ["a", "b", "c"])
    per_electrode = _per_electrode(r)
    threshold = float(np.median(per_electrode))
    np.testing.assert_array_equal(r.berg.reliable(threshold).values, r.values[:, per_electrode >= threshold])
    masked = r.berg.reliable(threshold, mask=True)
    below = np.asarray(r["ncsnr"].values) < threshold
    assert np.isnan(masked.values[:, below]).all() and not np.isnan(masked.values[:, ~below]).any()


def test_plot_counts_the_reliable_electrodes(full, plugin_manager):
    per_electrode = _per_electrode(full)
    threshold = float(np.quantile(per_electrode, 0.9))
    fig = full.berg.plot(None, plugin_manager=plugin_manager, reliability=threshold)
    kept = full["roi"].values[per_electrode >= threshold]
    labels = {ln.get_label() for ln in fig.axes[0].get_lines()}
    for roi in ("V1", "V4", "IT"):
        n = int((kept == roi).sum())
        assert (f"{roi} ({n} electrodes)" in labels) == (n > 0)
    with pytest.raises(InvalidParameterError, match="no electrode reaches reliability=99"):
        full.berg.plot(None, plugin_manager=plugin_manager, reliability=99)
