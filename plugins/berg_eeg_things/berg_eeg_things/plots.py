"""Pictures of THINGS EEG2 results: channel time courses and scalp topographies.

The result goes through this plugin's MNE export (``to_mne(kind="evoked")``:
the mean over the chosen stimuli and the 4 repetitions, channel positions
from MNE's built-in ``easycap-M1`` montage), so the picture shows exactly
what ``result.berg.to_mne()`` hands to MNE. Values are drawn unscaled, in
the model's arbitrary units.
"""

from __future__ import annotations

import warnings
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
    reliable_units,
    result_model_id,
    select_names,
    topomap_times,
)

from .layout import MODEL_ID
from .mne_export import DIMS, to_mne

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_TIMES", "EEG_PLOT_OPTIONS", "MIN_TOPOMAP_CHANNELS", "plot_eeg"]

EEG_PLOT_OPTIONS = {
    "times": "times in seconds of the scalp topographies (default 0.1, 0.2, 0.3, 0.4 where available; at most 8)",
    "channels": "channel names whose time courses to draw (default: all channels of the result)",
}
#: Topography times used when none are given, where the result's time range holds them.
DEFAULT_TIMES = (0.1, 0.2, 0.3, 0.4)
#: Fewer channels than this cannot be interpolated into a meaningful scalp map.
MIN_TOPOMAP_CHANNELS = 4
MAX_TOPOMAPS = 8
#: With at most this many channels, the legend names each line.
LABELLED_CHANNELS = 12
_UNSCALED = {"scalings": {"eeg": 1.0}, "units": {"eeg": "a.u."}}


def _time_course_channels(requested: Any, available: list[str]) -> list[str]:
    if requested is None:
        return available
    return select_names(requested, available, what="channels", owner="this result", noun="channel", repeats="merge")


def _time_courses(ax: Any, evoked: Any, names: list[str]) -> None:
    """One line per channel, coloured by scalp position (MNE's ``spatial_colors``)."""
    with warnings.catch_warnings():
        # a single time sample makes MNE widen a zero-width time axis, with a warning
        warnings.filterwarnings("ignore", message="Attempting to set identical low and high xlims")
        evoked.plot(axes=ax, spatial_colors=True, show=False, time_unit="s", titles={"eeg": "time courses"}, **_UNSCALED)
    lines = ax.get_lines()[: len(names)]  # MNE draws the channels first, in pick order
    for line, name in zip(lines, names, strict=True):
        if len(names) <= LABELLED_CHANNELS:
            line.set_label(name)
        if evoked.times.size == 1:
            line.set_marker("o")  # a lone sample draws no line


def plot_eeg(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Figure:
    """Draw an EEG result: time courses with the stimulus onset, and scalp topographies.

    Parameters
    ----------
    result
        ``(stimulus, repetition, channel, time)`` result of ``eeg-things_eeg_2-vit_b_32``
        (from ``encode`` or read back from Zarr).
    path
        Image file to write, or ``None``.
    options
        ``stimulus``, ``times``, ``channels``, ``title``, ``dpi`` (see :data:`EEG_PLOT_OPTIONS`
        and :data:`berg_core.results.plotting.COMMON_OPTIONS`). ``reliability`` is refused: EEG results
        carry no per-channel reliability.

    Returns
    -------
    matplotlib.figure.Figure
    """
    opts = check_plot_options(options, EEG_PLOT_OPTIONS, MODEL_ID)
    da = reliable_units(check_result(result, DIMS, result_model_id(result) or MODEL_ID), opts.get("reliability"))
    da, what = pick_stimuli(da, opts.get("stimulus"))
    channels = [str(c) for c in da["channel"].values]
    shown = _time_course_channels(opts.get("channels"), channels)
    times = np.asarray(da["time"].values, dtype=np.float64)
    with_maps = len(channels) >= MIN_TOPOMAP_CHANNELS
    if not with_maps and opts.get("times") is not None:
        raise InvalidParameterError(
            f"scalp topographies need at least {MIN_TOPOMAP_CHANNELS} channels; this result has {channels}"
        )
    at = topomap_times(opts.get("times"), times, DEFAULT_TIMES, MAX_TOPOMAPS) if with_maps else []

    evoked = to_mne(da, kind="evoked")  # mean over the chosen stimuli and the repetitions
    fig = new_figure(11.0, 7.0 if with_maps else 4.5)
    fig.set_layout_engine("constrained")
    n_cols = max(len(at), 1)
    grid = fig.add_gridspec(2 if with_maps else 1, n_cols + 1, height_ratios=[1.3, 1] if with_maps else [1],
                            width_ratios=[1] * n_cols + [0.06])
    ax = fig.add_subplot(grid[0, :n_cols])
    _time_courses(ax, evoked.copy().pick(shown), shown)
    if times[0] <= 0.0 <= times[-1]:
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1.2, label="stimulus onset")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8, ncols=1 + len(shown) // 6 if len(shown) <= LABELLED_CHANNELS else 1)
    for t in at:
        ax.axvline(t, color="0.55", linestyle=":", linewidth=1.0)
    if with_maps:
        axes = [fig.add_subplot(grid[1, i]) for i in range(len(at))] + [fig.add_subplot(grid[1, n_cols])]
        evoked.plot_topomap(times=at, axes=axes, show=False, time_unit="s", colorbar=True, scalings=1.0, units="a.u.")
    return finish_plot(fig, da, f"{what}, mean of {da.sizes['repetition']} repetitions", path, opts)
