"""The LeBel model's plot: the mean predicted time course of each ROI over a story's TRs."""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, check_plot_options, finish_plot, new_figure, pick_stimuli

from .layout import MODEL_ID

__all__ = ["plot_result"]

SPECIFIC = {"rois": "ROI names to draw (default: up to 8 ROIs with the most voxels in the result)"}
MAX_LINES = 8


def roi_time_courses(result: Any, rois: Any = None) -> dict[str, np.ndarray]:
    """ROI name -> mean over its voxels of the result, per TR (every voxel's mean when no ROI is in the result)."""
    membership = [str(m).split(",") if str(m) else [] for m in result["roi"].values] if "roi" in result.coords else []
    values = np.asarray(result.values, dtype=np.float64)
    counts: dict[str, int] = {}
    for names in membership:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    if rois is None:
        chosen = sorted(counts, key=lambda r: (-counts[r], r))[:MAX_LINES]
    else:
        chosen = [rois] if isinstance(rois, str) else list(rois)
        missing = [r for r in chosen if r not in counts]
        if missing:
            raise InvalidParameterError(f"ROI(s) {missing} have no voxel in this result; it has {sorted(counts)}")
    if not chosen:
        return {"all voxels": values.mean(axis=1)}
    return {r: values[:, [r in names for names in membership]].mean(axis=1) for r in chosen}


def plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    """Lines over TR time: each ROI's mean response in one story (``stimulus=ID``, default the first)."""
    opts = check_plot_options(options, SPECIFIC, MODEL_ID)
    if tuple(result.dims) != ("tr", "voxel"):
        raise InvalidParameterError(f"a {MODEL_ID} result has dims (tr, voxel); got {result.dims}")
    if result.sizes["tr"] == 0:
        raise InvalidParameterError("the result has no TRs to draw")
    stim = opts.get("stimulus")
    if stim is None:
        stim = result["stimulus"].values[0]
    chosen, what = pick_stimuli(result, stim)
    courses = roi_time_courses(chosen, opts.get("rois"))
    times = np.asarray(chosen["time"].values, dtype=float)
    fig = new_figure(7.5, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    for name, course in courses.items():
        ax.plot(times, course, lw=1.2, marker="." if times.size < 40 else None, label=name)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("time (s, TR grid of the story)")
    ax.set_ylabel("predicted BOLD (z)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="ROI mean")
    fig.set_layout_engine("constrained")
    return finish_plot(fig, result, f"{what} · ROI time courses", path, opts)
