"""What every plugin's ``berg_plot_result`` needs: option checks, stimulus choice, masks, titles, saving.

Figures are plain :class:`matplotlib.figure.Figure` objects, never pyplot
figures: nothing needs a display, no global figure list grows, and the caller
(or the garbage collector) owns each figure. Everything here imports
matplotlib lazily, so core stays importable without it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from berg_core.cards.enforce import check_options
from berg_core.errors import InvalidParameterError
from berg_core.store.output_files import make_folder, output_errors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COMMON_OPTIONS",
    "SYNTHETIC_ATTR",
    "check_plot_options",
    "describe_result",
    "finish_figure",
    "finish_plot",
    "new_figure",
    "pick_stimuli",
    "plot_file_name",
    "plot_results",
    "reliable_units",
    "symmetric_limit",
    "topomap_times",
]

#: attrs key that marks results of seeded synthetic weights (``berg demo``, tests).
SYNTHETIC_ATTR = "synthetic_weights"

#: Options every berg plot accepts, with what they mean.
COMMON_OPTIONS: dict[str, str] = {
    "stimulus": "id of the stimulus to draw (default: the mean over all stimuli)",
    "reliability": "hide units whose reliability (ncsnr) is below this threshold",
    "title": "figure title (default: model, subject and what is drawn)",
    "dpi": "resolution of the saved image (default 100)",
}


def check_plot_options(options: Mapping[str, Any], specific: Mapping[str, str], model_id: str) -> dict[str, Any]:
    """``options`` checked against the common and the model's own plot options.

    Raises
    ------
    InvalidParameterError
        An unknown option; the message lists the accepted ones with their meaning.
    """
    accepted = {**COMMON_OPTIONS, **specific}
    check_options(options, accepted, f"{model_id} results", what="plot option", meanings=accepted)
    dpi = options.get("dpi", 100)
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float, np.integer, np.floating)) or not 20 <= dpi <= 600:
        raise InvalidParameterError(f"dpi must be a number from 20 to 600, got {dpi!r}")
    title = options.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidParameterError(f"title must be text, got {type(title).__name__}")
    return dict(options)


def pick_stimuli(result: xr.DataArray, stimulus: Any = None) -> tuple[xr.DataArray, str]:
    """The stimuli to draw and a phrase naming them.

    Parameters
    ----------
    result
        A result with a ``stimulus`` dimension.
    stimulus
        ``None`` for all stimuli (the plot shows their mean), else one stimulus id.
        Ids are matched as text, so ``"3"`` finds stimulus ``3`` (as typed on a command line).

    Returns
    -------
    (xarray.DataArray, str)
        The result restricted to the chosen stimuli (``stimulus`` dimension kept) and e.g.
        ``"mean of 8 stimuli"`` or ``"stimulus 'face'"``.

    A ragged result (rows along its first dim, a ``stimulus`` coordinate along them: a story's TRs)
    gives all its rows, or the rows of the chosen stimulus, with the row dimension kept.
    """
    if result.dims and "stimulus" not in result.dims and "stimulus" in result.coords \
            and result.coords["stimulus"].dims == (result.dims[0],):
        return _pick_rows(result, stimulus)
    if "stimulus" not in result.dims or result.sizes["stimulus"] == 0:
        raise InvalidParameterError(f"a result to plot needs a non-empty 'stimulus' dimension; its dims are {dict(result.sizes)}")
    ids = result["stimulus"].values
    if stimulus is None:
        n = ids.size
        return result, f"mean of {n} stimuli" if n > 1 else f"stimulus {_show(ids[0])}"
    matches = np.flatnonzero([str(i) == str(stimulus) for i in ids])
    if matches.size == 0:
        shown = ", ".join(_show(i) for i in ids[:12])
        more = f", ... ({ids.size} in all)" if ids.size > 12 else ""
        raise InvalidParameterError(f"stimulus {stimulus!r} is not in this result; its stimuli are [{shown}{more}]")
    return result.isel(stimulus=matches[:1]), f"stimulus {_show(ids[matches[0]])}"


def _pick_rows(result: xr.DataArray, stimulus: Any) -> tuple[xr.DataArray, str]:
    """:func:`pick_stimuli` for a ragged result: rows of every stimulus, or of one."""
    row = result.dims[0]
    owners = np.asarray(result.coords["stimulus"].values)
    if owners.size == 0:
        raise InvalidParameterError(f"a result to plot needs rows; this one has none along {row!r} (its stimuli gave no {row})")
    held = list(dict.fromkeys(owners.tolist()))
    if stimulus is None:
        what = f"{owners.size} {row} of {len(held)} stimuli" if len(held) > 1 else f"{owners.size} {row} of stimulus {_show(held[0])}"
        return result, what
    rows = np.flatnonzero([str(i) == str(stimulus) for i in owners])
    if rows.size == 0:
        shown = ", ".join(_show(i) for i in held[:12])
        more = f", ... ({len(held)} in all)" if len(held) > 12 else ""
        raise InvalidParameterError(f"stimulus {stimulus!r} has no {row} in this result; stimuli with {row}: [{shown}{more}]")
    return result.isel({row: rows}), f"{rows.size} {row} of stimulus {_show(owners[rows[0]])}"


def _show(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def reliable_units(result: xr.DataArray, threshold: Any) -> xr.DataArray:
    """Only the units whose reliability reaches ``threshold`` (``None``: all units).

    The rule is :meth:`BergAccessor.reliable <berg_core.results.accessor.BergAccessor.reliable>`'s default:
    a multi-dimensional reliability (per sensor x time) is averaged per unit (sensor) over its other dims.

    Raises
    ------
    InvalidParameterError
        The threshold is not a number, the result has no reliability coordinate,
        or no unit reaches the threshold (the message gives the range found).
    """
    if threshold is None:
        return result
    kept = result.berg.reliable(threshold)
    if kept.size == 0:
        summary = result.berg.unit_reliability()
        rel = np.asarray(summary.values, dtype=float)
        finite = rel[np.isfinite(rel)]
        found = f"{finite.min():.3g} to {finite.max():.3g}" if finite.size else "no finite values"
        per = f" ({summary.attrs['summary']} per {summary.dims[0]})" if "summary" in summary.attrs else ""
        raise InvalidParameterError(
            f"no unit reaches reliability={threshold!r}; this result's {summary.name}{per} ranges {found}"
        )
    return kept


def symmetric_limit(values: np.ndarray, percentile: float = 100.0) -> float:
    """A colour limit symmetric around zero: a percentile of the absolute finite values (1.0 if none).

    Below 100, the few most extreme values saturate instead of washing out the rest of a dense map.
    """
    finite = np.abs(values[np.isfinite(values)])
    top = float(np.percentile(finite, percentile)) if finite.size else 0.0
    return top if top > 0 else 1.0


def topomap_times(
    requested: Any, times: np.ndarray, default: Sequence[float] = (0.1, 0.2, 0.3, 0.4), most: int = 8
) -> list[float]:
    """The sample times of a time-resolved result's maps (EEG, MEG topographies): the samples nearest the requested times.

    Parameters
    ----------
    requested
        A number, a list of numbers (seconds), or ``None`` for ``default``
        (or, if none of those lies in the result's range, 4 times spread over it).
    times
        The result's time coordinate, increasing.
    default
        The times drawn when none are requested.
    most
        The largest number of times that may be requested.

    Raises
    ------
    InvalidParameterError
        Not numbers, more than ``most``, or a time outside the result's range.
    """
    lo, hi = float(times[0]), float(times[-1])
    step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
    if requested is None:
        wanted = [t for t in default if lo <= t <= hi]
        if not wanted:
            picks = np.unique(np.linspace(0, times.size - 1, min(4, times.size)).round().astype(int))
            return [float(times[i]) for i in picks]
    else:
        values = [requested] if isinstance(requested, (int, float, np.number)) else requested
        if (
            isinstance(requested, (bool, str, bytes))
            or not isinstance(values, Sequence | np.ndarray)
            or not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values)
            or not 1 <= len(values) <= most
        ):
            raise InvalidParameterError(f"times must be a number or a list of 1 to {most} numbers (seconds), got {requested!r}")
        wanted = [float(v) for v in values]
        outside = [t for t in wanted if not lo - step / 2 <= t <= hi + step / 2]
        if outside:
            raise InvalidParameterError(f"times {outside} lie outside this result's time range, {lo:.3f} to {hi:.3f} s")
    nearest = [float(times[int(np.argmin(np.abs(times - t)))]) for t in wanted]
    return list(dict.fromkeys(nearest))


def describe_result(result: xr.DataArray, what: str) -> str:
    """Default title: ``model_id · subject N · what``."""
    subject = result.attrs.get("subject")
    parts = [str(result.attrs.get("model_id", "result"))]
    value = None if subject is None else np.ravel(subject)[0].item() if isinstance(subject, np.ndarray) else subject
    # a name ("N", "01") as it is; a number unless it is the -1 of results written before subjects could be absent
    if isinstance(value, str) or (value is not None and not isinstance(value, bool) and int(value) >= 0):
        parts.append(f"subject {value}")
    parts.append(what)
    return " · ".join(parts)


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure that needs no display (rendered with Agg when saved)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def finish_figure(fig: Figure, result: xr.DataArray, title: str, path: str | os.PathLike[str] | None, dpi: Any = 100) -> Figure:
    """Title the figure, note synthetic weights, and save it to ``path`` (if given).

    Raises
    ------
    InvalidParameterError
        ``path`` has an image format matplotlib cannot write.
    StoreError
        ``path`` cannot be written.
    """
    fig.suptitle(title, fontsize=12)
    note = result.attrs.get(SYNTHETIC_ATTR)
    if note:
        # a picture travels without its attrs: it must say itself that it shows no real brain data
        fig.text(0.5, 0.005, f"SYNTHETIC WEIGHTS: {note}", ha="center", va="bottom", fontsize=8, color="#b00000", wrap=True)
        engine: Any = fig.get_layout_engine()
        if engine is not None and "rect" in engine.get():
            engine.set(rect=(0.0, 0.035, 1.0, 0.965))  # keep the axes clear of the note
    if path is None:
        return fig
    out = Path(path).expanduser()
    make_folder(out.parent, "picture folder")
    try:
        with output_errors(out):
            fig.savefig(out, dpi=float(dpi))
    except ValueError as exc:
        raise InvalidParameterError(f"cannot save a picture as {str(out)!r}: {exc} (use e.g. .png, .svg or .pdf)") from None
    return fig


def finish_plot(
    fig: Figure, result: xr.DataArray, what: str, path: str | os.PathLike[str] | None, options: Mapping[str, Any]
) -> Figure:
    """Title, note and save ``fig`` as the common plot options ask (see :func:`finish_figure`).

    The title is the ``title`` option, else ``describe_result(result, what)``; the picture goes
    to ``path`` at the ``dpi`` option (default 100).
    """
    title = options.get("title") or describe_result(result, what)
    return finish_figure(fig, result, title, path, options.get("dpi", 100))


def plot_file_name(label: str, suffix: str = ".png") -> str:
    """A file name for a result label such as ``model/subject-01`` (no folders, no odd characters)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label.replace("/", "_")).strip("._")
    return f"{safe or 'result'}{suffix}"


def plot_results(
    results: Mapping[str, xr.DataArray],
    out_dir: str | os.PathLike[str],
    per_model: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    plugin_manager: Any = None,
    **options: Any,
) -> dict[str, Path]:
    """One picture per result, through each result's plugin (``result.berg.plot``).

    Parameters
    ----------
    results
        ``{label: result}``, e.g. the dict ``encode`` returns for several models.
    out_dir
        Folder of the pictures (created if needed); files are named after the labels.
    per_model
        ``{model_id: {option: value}}``: options for one model's results only (plot options
        are model-specific, e.g. ``times`` for EEG, ``views`` for fsaverage).
    plugin_manager
        A ``BERG`` or plugin manager whose plugins draw the results; default the process-wide one.
    **options
        Plot options given to every plot.

    Returns
    -------
    dict of str to Path
        The picture written for each label.
    """
    per_model = dict(per_model or {})
    models = {str(r.attrs.get("model_id")) for r in results.values()}
    unknown = sorted(set(per_model) - models)
    if unknown:
        raise InvalidParameterError(f"plot options given for model(s) {unknown}, which made none of these results; models: {sorted(models)}")
    out = make_folder(out_dir, "picture folder")
    from berg_core.registry.manager import manager_of

    pm = manager_of(plugin_manager)
    installed = set(pm.registry.ids())
    written = {}
    for label, result in results.items():
        model_id = str(result.attrs.get("model_id"))
        if model_id not in installed:
            # a store outlives the plugins that wrote it: draw what can be drawn, name what cannot
            warnings.warn(f"skipped {label}: no installed plugin provides {model_id} (install its plugin to draw it)",
                          UndrawableResultWarning, stacklevel=2)
            continue
        path = out / plot_file_name(label)
        result.berg.plot(path, plugin_manager=pm, **{**options, **per_model.get(model_id, {})})
        written[label] = path
    return written


class UndrawableResultWarning(UserWarning):
    """A result was skipped because no installed plugin provides its model."""
