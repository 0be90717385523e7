"""The Zada model's plot: the mean (or one word's) predicted response, electrodes by lags."""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, check_plot_options, finish_plot, new_figure, symmetric_limit

from .layout import MODEL_ID

__all__ = ["plot_result"]

SPECIFIC = {"word": "index of the row (word) to draw (default: the mean over all words)"}


def plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    """Electrodes x lags image of the words' mean response (or one word with ``word=ROW``)."""
    opts = check_plot_options(options, SPECIFIC, MODEL_ID)
    if tuple(result.dims) != ("word", "electrode", "lag"):
        raise InvalidParameterError(f"a {MODEL_ID} result has dims (word, electrode, lag); got {result.dims}")
    if result.sizes["word"] == 0:
        raise InvalidParameterError("the result has no words to draw")
    row = opts.get("word")
    stim = opts.get("stimulus")
    data = result
    what = f"mean of {result.sizes['word']} words"
    if stim is not None:
        keep = np.asarray([str(s) == str(stim) for s in result["stimulus"].values])
        if not keep.any():
            raise InvalidParameterError(f"no stimulus {stim!r} in this result; it has {sorted({str(s) for s in result['stimulus'].values})}")
        data = result.isel(word=np.flatnonzero(keep))
        what = f"story {stim!r}, mean of {int(keep.sum())} words"
    if row is not None:
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not 0 <= int(row) < data.sizes["word"]:
            raise InvalidParameterError(f"word must be a row index from 0 to {data.sizes['word'] - 1}, got {row!r}")
        data = data.isel(word=[int(row)])
        what = f"word {str(data['text'].values[0])!r}" if "text" in data.coords else f"word {row}"
    values = np.asarray(data.mean("word").values, dtype=float)
    fig = new_figure(7.0, max(3.0, min(9.0, 0.05 * values.shape[0] + 2.5)))
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot(1, 1, 1)
    lim = symmetric_limit(values)
    lags = np.asarray(result["lag"].values, dtype=float)
    im = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                   extent=(lags[0], lags[-1], values.shape[0] - 0.5, -0.5))
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("lag relative to word onset (s)")
    ax.set_ylabel("electrode")
    fig.colorbar(im, ax=ax, label="high-gamma power")
    return finish_plot(fig, result, what, path, opts)
