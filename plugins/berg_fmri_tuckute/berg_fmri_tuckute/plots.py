"""The Tuckute model's plot: each selected ROI's response per sentence, with its noise ceiling."""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, check_plot_options, finish_plot, new_figure, pick_stimuli

from .layout import MODEL_ID

__all__ = ["plot_result"]


def plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    """Bars per ROI (mean over sentences, or one sentence with ``stimulus=ID``); the noise ceiling marked."""
    opts = check_plot_options(options, {}, MODEL_ID)
    if "roi" not in result.dims:
        raise InvalidParameterError(f"a {MODEL_ID} result has dims (stimulus, roi); got {result.dims}")
    chosen, what = pick_stimuli(result, opts.get("stimulus"))
    values = np.asarray(chosen.mean("stimulus").values, dtype=float)
    rois = [str(r).removeprefix("lang_LH_") for r in result["roi"].values]
    fig = new_figure(max(4.0, 0.9 * len(rois) + 2), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(rois))
    ax.bar(x, values, color="#3b6ea8")
    if "noise_ceiling" in result.coords:
        nc = np.asarray(result["noise_ceiling"].values, dtype=float)
        ax.scatter(x, nc, marker="_", s=400, color="#b00000", label="noise ceiling (r)", zorder=3)
        ax.legend(loc="best", fontsize=8)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xticks(x, rois, rotation=30, ha="right")
    ax.set_ylabel("predicted response (z)")
    fig.set_layout_engine("constrained")
    return finish_plot(fig, result, f"language network · {what}", path, opts)
