"""Pictures of THINGS-fMRI1 results: axial slices of the volume and mean responses per ROI.

Slices place each voxel at its position in the functional volume
(``voxel_x``/``voxel_y``/``voxel_z``); the bars average the voxels of each ROI
the result holds (a voxel counts for every ROI holding it, ``rois``
coordinate). A result without positions shows the bars only; one without ROI
voxels shows the slices only.
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
    reliable_units,
    select_names,
    symmetric_limit,
)

from .layout import MODEL_ID, ROIS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MAX_SLICES", "PLOT_OPTIONS", "plot_things_fmri", "roi_means"]

PLOT_OPTIONS = {
    "slices": "z indices of the axial slices to draw (default: 4 spread over the result's voxels; at most 8)",
    "rois": "ROI names whose mean response to draw as bars (default: every ROI the result holds)",
}
MAX_SLICES = 8


def roi_means(result: xr.DataArray, rois: Any = None) -> dict[str, float]:
    """Mean response (over stimuli and voxels) of each ROI holding voxels of ``result``, in card order."""
    membership = [str(m).split(",") if str(m) else [] for m in result["rois"].values] if "rois" in result.coords else []
    present = [r for r in ROIS if any(r in m for m in membership)]
    wanted = present if rois is None else select_names(rois, present, what="rois", owner="this result", noun="ROI",
                                                       repeats="merge")
    values = np.asarray(result.mean("stimulus").values, dtype=np.float64)
    return {r: float(values[[r in m for m in membership]].mean()) for r in wanted}


def _slices(requested: Any, z: np.ndarray) -> list[int]:
    levels = np.unique(z)
    if requested is None:
        picks = np.unique(np.linspace(0, levels.size - 1, min(4, levels.size)).round().astype(int))
        return [int(levels[i]) for i in picks]
    values = [requested] if isinstance(requested, (int, np.integer)) and not isinstance(requested, bool) else requested
    if (isinstance(values, (str, bytes, bool)) or not isinstance(values, (list, tuple, np.ndarray))
            or not 1 <= len(values) <= MAX_SLICES
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)):
        raise InvalidParameterError(f"slices must be a z index or a list of 1 to {MAX_SLICES} z indices, got {requested!r}")
    empty = [int(v) for v in values if int(v) not in set(levels.tolist())]
    if empty:
        raise InvalidParameterError(f"slices {empty} hold no voxel of this result; its voxels lie in z {int(levels[0])}-"
                                    f"{int(levels[-1])}")
    return [int(v) for v in values]


def plot_things_fmri(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Figure:
    """Draw a THINGS-fMRI1 result: axial slices and ROI bars of the mean over the chosen stimuli.

    Parameters
    ----------
    result
        ``(stimulus, voxel)`` result of ``fmri-things_fmri_1-vit_b_32`` (from ``encode`` or read back from Zarr).
    path
        Image file to write, or ``None``.
    options
        ``stimulus``, ``reliability`` (hide voxels whose single-trial noise ceiling is below it),
        ``slices``, ``rois``, ``title``, ``dpi``.
    """
    opts = check_plot_options(options, PLOT_OPTIONS, MODEL_ID)
    da = reliable_units(check_result(result, ("stimulus", "voxel"), MODEL_ID), opts.get("reliability"))
    da, what = pick_stimuli(da, opts.get("stimulus"))
    has_positions = all(a in da.coords for a in ("voxel_x", "voxel_y", "voxel_z"))
    means = roi_means(da, opts.get("rois"))
    if not has_positions and opts.get("slices") is not None:
        raise InvalidParameterError("this result has no voxel positions (voxel_x/y/z), so it has no slices to draw")
    mean = np.asarray(da.mean("stimulus").values, dtype=np.float64)
    limit = symmetric_limit(mean, 99.0)
    zs = _slices(opts.get("slices"), np.asarray(da["voxel_z"].values)) if has_positions else []
    rows = int(bool(zs)) + int(bool(means) or not zs)
    fig = new_figure(11.0, 3.8 * rows)
    fig.set_layout_engine("constrained")
    grid = fig.add_gridspec(rows, max(len(zs), 1))
    if zs:
        x, y, z = (np.asarray(da[a].values, dtype=np.int64) for a in ("voxel_x", "voxel_y", "voxel_z"))
        shape = (int(x.max()) + 1, int(y.max()) + 1)
        images = []
        for col, level in enumerate(zs):
            plane = np.full(shape, np.nan)
            on = z == level
            plane[x[on], y[on]] = mean[on]
            ax = fig.add_subplot(grid[0, col])
            images.append(ax.imshow(plane.T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest"))
            ax.set_title(f"z = {level}", fontsize=9)
            ax.set_axis_off()
        fig.colorbar(images[-1], ax=fig.axes[: len(zs)], shrink=0.8, label=str(da.attrs.get("units", "")))
    if means or not zs:
        ax = fig.add_subplot(grid[rows - 1, :])
        if means:
            names, values = list(means), list(means.values())
            ax.bar(range(len(names)), values, color=["#b2182b" if v >= 0 else "#2166ac" for v in values])
            ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_ylabel(f"mean response ({da.attrs.get('units', 'a.u.')})")
        else:  # neither positions nor ROIs: the distribution of voxel responses
            ax.hist(mean[np.isfinite(mean)], bins=50, color="0.4")
            ax.set_xlabel(f"response ({da.attrs.get('units', 'a.u.')})")
            ax.set_ylabel("voxels")
    return finish_plot(fig, da, f"{what}, {da.sizes['voxel']:,} voxels", path, opts)
