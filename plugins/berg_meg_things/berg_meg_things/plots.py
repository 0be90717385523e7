"""Pictures of THINGS-MEG1 results: sensor time courses and topographies.

The time courses are the mean over the chosen stimuli (and, for
``train_splits="single"``, the four split models), one line per sensor coloured
by region. The topographies use MNE's shipped 2-D ``CTF-275`` layout (see
:mod:`berg_meg_things.mne_export`), one colour scale for all. Values are drawn
unscaled, in the model's units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from berg_core.plugin import (
    InvalidParameterError,
    check_plot_options,
    finish_plot,
    new_figure,
    pick_stimuli,
    reliable_units,
    select_names,
    symmetric_limit,
    topomap_times,
)

from .layout import MODEL_ID, REGIONS
from .mne_export import check_meg_result, topomap_positions

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_TIMES", "MEG_PLOT_OPTIONS", "MIN_TOPOMAP_SENSORS", "plot_meg"]

MEG_PLOT_OPTIONS = {
    "times": "times in seconds of the topographies (default 0.1, 0.2, 0.3, 0.4 where available; at most 8)",
    "sensors": "sensor names whose time courses to draw (default: all sensors of the result)",
}
DEFAULT_TIMES = (0.1, 0.2, 0.3, 0.4)
#: Fewer sensors than this cannot be interpolated into a meaningful map.
MIN_TOPOMAP_SENSORS = 4
MAX_TOPOMAPS = 8
_REGION_COLOURS = dict(zip(REGIONS.values(), ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"),
                           strict=True))


def plot_meg(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Figure:
    """Draw a MEG result: sensor time courses with the stimulus onset, and topographies.

    Parameters
    ----------
    result
        ``(stimulus, [split,] sensor, time)`` result of ``meg-things_meg_1-vit_b_32``.
    path
        Image file to write, or ``None``.
    options
        ``stimulus``, ``times``, ``sensors``, ``title``, ``dpi`` (see :data:`MEG_PLOT_OPTIONS` and
        ``COMMON_OPTIONS``). ``reliability=x`` draws only the sensors whose ncsnr, averaged over the
        result's times, reaches ``x`` (the default rule of ``result.berg.reliable``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mne.viz import plot_topomap

    opts = check_plot_options(options, MEG_PLOT_OPTIONS, MODEL_ID)
    da = check_meg_result(result)
    # ncsnr is per sensor and time: core's rule keeps the sensors whose ncsnr averaged over the result's times
    # reaches the threshold (result.berg.reliable(x, mask=True) hides single samples instead)
    da = reliable_units(da, opts.get("reliability"))
    da, what = pick_stimuli(da, opts.get("stimulus"))
    if opts.get("reliability") is not None:
        what = f"{what}, sensors with mean ncsnr ≥ {opts['reliability']}"
    has_splits = "split" in da.dims
    mean = da.mean(dim=[d for d in ("stimulus", "split") if d in da.dims])  # (sensor, time)
    names = [str(n) for n in da["sensor_name"].values]
    shown = names if opts.get("sensors") is None else select_names(
        opts["sensors"], names, what="sensors", owner="this result", noun="sensor", repeats="merge")
    times = np.asarray(da["time"].values, dtype=np.float64)
    values = np.asarray(mean.values, dtype=np.float64)
    with_maps = len(names) >= MIN_TOPOMAP_SENSORS
    if not with_maps and opts.get("times") is not None:
        raise InvalidParameterError(f"topographies need at least {MIN_TOPOMAP_SENSORS} sensors; this result has {names}")
    at = topomap_times(opts.get("times"), times, DEFAULT_TIMES, MAX_TOPOMAPS) if with_maps else []
    positions = topomap_positions(names) if with_maps else None

    fig = new_figure(11.0, 7.0 if with_maps else 4.5)
    fig.set_layout_engine("constrained")
    n_cols = max(len(at), 1)
    grid = fig.add_gridspec(2 if with_maps else 1, n_cols + 1, height_ratios=[1.3, 1] if with_maps else [1],
                            width_ratios=[1] * n_cols + [0.06])
    ax = fig.add_subplot(grid[0, :n_cols])
    regions = [str(r) for r in da["region"].values] if "region" in da.coords else [""] * len(names)
    index = {n: i for i, n in enumerate(names)}
    seen: set[str] = set()
    for name in shown:
        i = index[name]
        region = regions[i]
        ax.plot(times, values[i], color=_REGION_COLOURS.get(region, "0.4"), linewidth=0.8, alpha=0.8,
                marker="o" if times.size == 1 else None,
                label=(region or "sensor") if region not in seen else None)
        seen.add(region)
    if times[0] <= 0.0 <= times[-1]:
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1.2, label="stimulus onset")
    for t in at:
        ax.axvline(t, color="0.55", linestyle=":", linewidth=1.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(str(da.attrs.get("units", "a.u.")).split(" (")[0])
    ax.set_title(f"time courses of {len(shown)} sensor(s)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    if with_maps:
        limit = symmetric_limit(values[:, [int(np.argmin(np.abs(times - t))) for t in at]])
        image = None
        for i, t in enumerate(at):
            sub = fig.add_subplot(grid[1, i])
            column = values[:, int(np.argmin(np.abs(times - t)))]
            image, _ = plot_topomap(column, positions, axes=sub, show=False, vlim=(-limit, limit), cmap="RdBu_r",
                                    sensors=True, contours=4)
            sub.set_title(f"{t:.3f} s", fontsize=9)
        if image is not None:
            fig.colorbar(image, cax=fig.add_subplot(grid[1, n_cols]))
    split_note = f", mean of {da.sizes['split']} training splits" if has_splits else ""
    return finish_plot(fig, da, f"{what}{split_note}", path, opts)
