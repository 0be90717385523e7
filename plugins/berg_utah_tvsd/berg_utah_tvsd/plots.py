"""Pictures of TVSD results: the time course of each ROI (V1, V4, IT).

Each line is the mean over the ROI's electrodes (and the chosen stimuli, and
the training splits of a ``train_splits="single"`` result); the band is one
standard error across electrodes. With ``reliability=x`` only electrodes
whose noise-ceiling SNR, averaged over the result's times, reaches ``x`` count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from berg_core.plugin import (
    InvalidParameterError,
    check_plot_options,
    check_result,
    finish_plot,
    new_figure,
    pick_stimuli,
    select_names,
)

from .layout import MODEL_ID, ROIS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOT_OPTIONS", "ROI_COLOURS", "plot_tvsd", "roi_time_courses"]

PLOT_OPTIONS = {"rois": "ROI names whose time courses to draw (default: every ROI the result holds)"}
ROI_COLOURS = {"V1": "#1b9e77", "V4": "#d95f02", "IT": "#7570b3"}


def _reliable(da: xr.DataArray, threshold: Any) -> xr.DataArray:
    if threshold is None:
        return da
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InvalidParameterError(f"reliability must be a number, got {threshold!r}")
    if "ncsnr" not in da.coords:
        raise InvalidParameterError("this result has no ncsnr coordinate to filter electrodes by reliability")
    # core's rule for reliability per electrode x time: each electrode's ncsnr averaged over the result's times
    kept = da.berg.reliable(threshold, dim="electrode", how="mean")
    if kept.sizes["electrode"] == 0:
        per_electrode = da.berg.unit_reliability("electrode", how="mean")
        raise InvalidParameterError(f"no electrode reaches reliability={threshold!r}; their mean ncsnr ranges "
                                    f"{float(per_electrode.min()):.3g} to {float(per_electrode.max()):.3g}")
    return kept


def roi_time_courses(result: xr.DataArray, rois: Any = None) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per ROI (card order): mean time course over its electrodes, its standard error, and the electrode count."""
    da = result.mean([d for d in ("stimulus", "split") if d in result.dims])
    present = [r for r in ROIS if r in set(da["roi"].values.tolist())]
    wanted = present if rois is None else select_names(rois, present, what="rois", owner="this result", noun="ROI",
                                                       repeats="merge")
    out = {}
    for name in wanted:
        values = np.asarray(da.values[da["roi"].values == name], dtype=np.float64)  # (electrodes, time)
        sem = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0]) if values.shape[0] > 1 else np.zeros(values.shape[1])
        out[name] = (values.mean(axis=0), sem, values.shape[0])
    return out


def plot_tvsd(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Figure:
    """Draw a TVSD result: per-ROI time courses of the mean over the chosen stimuli.

    Parameters
    ----------
    result
        ``(stimulus, [split,] electrode, time)`` result of ``utah_array-tvsd-vit_b_32``.
    path
        Image file to write, or ``None``.
    options
        ``stimulus``, ``reliability``, ``rois``, ``title``, ``dpi``.
    """
    opts = check_plot_options(options, PLOT_OPTIONS, MODEL_ID)
    dims = ("stimulus", "split", "electrode", "time") if "split" in getattr(result, "dims", ()) else (
        "stimulus", "electrode", "time")
    da = _reliable(check_result(result, dims, MODEL_ID, ("roi",)), opts.get("reliability"))
    da, what = pick_stimuli(da, opts.get("stimulus"))
    courses = roi_time_courses(da, opts.get("rois"))
    times = np.asarray(da["time"].values, dtype=np.float64) * 1000.0
    fig = new_figure(9.0, 4.5)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
    for name, (mean, sem, n) in courses.items():
        colour = ROI_COLOURS.get(name)
        ax.plot(times, mean, color=colour, marker="o" if times.size == 1 else None, label=f"{name} ({n} electrodes)")
        ax.fill_between(times, mean - sem, mean + sem, color=colour, alpha=0.25, linewidth=0)
    if times[0] <= 0.0 <= times[-1]:
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1.0, label="stimulus onset")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("time from stimulus onset (ms)")
    ax.set_ylabel(f"MUA ({da.attrs.get('units', 'a.u.')})")
    ax.legend(loc="upper left", fontsize=8)
    splits = f", mean of {da.sizes['split']} training splits" if "split" in da.dims else ""
    return finish_plot(fig, da, f"{what}{splits}, per-ROI time courses", path, opts)
