"""Turning the user's ``selection`` dict into channel and time indices.

Accepted keys:

``channels``
    A channel name or a list of names. The output keeps the order given;
    unknown names and duplicates are rejected.
``timepoints``
    One of

    * BERG 2.0's binary mask: 0/1 (or bool) values, one per time point (140);
    * times in seconds: a float or a list of floats, each matched to the 5 ms
      grid within :data:`TIME_TOLERANCE`; kept in the order given;
    * a ``slice`` of seconds, label-based like ``DataArray.sel``: **both ends
      inclusive**, ``None`` for an open end, no step. ``slice(0.1, 0.2)``
      keeps the 21 time points 0.100, 0.105, ..., 0.200 s.

Selecting one channel or one time keeps that dimension (size 1).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError

from .metadata import OutputLabels

__all__ = ["SELECTION_KEYS", "TIME_TOLERANCE", "OutputSelection", "parse_selection"]

SELECTION_KEYS = ("channels", "timepoints")
#: Largest distance (s) between a requested time and a time point of the grid.
TIME_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OutputSelection:
    """The selected channels and times, as indices into the full (channel, time) output."""

    channel_index: np.ndarray  # (n_ch,) intp
    time_index: np.ndarray  # (n_t,) intp
    ch_names: tuple[str, ...]
    times: np.ndarray  # (n_t,) float64 seconds
    normalized: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.channel_index), len(self.time_index)

    def rows(self, n_times_total: int) -> np.ndarray:
        """Rows of the channel-major regression (``row = channel * n_times + time``), output order."""
        return (self.channel_index[:, None] * n_times_total + self.time_index[None, :]).ravel()


def parse_selection(selection: dict[str, Any] | None, labels: OutputLabels) -> OutputSelection:
    """Validate ``selection`` against the model's channels and times.

    Raises
    ------
    InvalidParameterError
        Unknown keys, channels or times, duplicates, or a malformed mask or slice;
        the message lists what is accepted.
    """
    selection = dict(selection or {})
    unknown = sorted(set(selection) - set(SELECTION_KEYS), key=str)
    if unknown:
        raise InvalidParameterError(f"unknown selection key(s) {unknown}; accepted keys: {list(SELECTION_KEYS)}")
    normalized: dict[str, Any] = {}
    ch_sel = selection.get("channels")
    if ch_sel is None:
        ch_idx = np.arange(len(labels.ch_names))
    else:
        ch_idx = _channel_indices(ch_sel, labels.ch_names)
        normalized["channels"] = [labels.ch_names[i] for i in ch_idx]
    t_sel = selection.get("timepoints")
    if t_sel is None:
        t_idx = np.arange(len(labels.times))
    else:
        t_idx = _time_indices(t_sel, labels.times)
        normalized["timepoints"] = [round(float(labels.times[i]), 6) for i in t_idx]
    return OutputSelection(
        channel_index=ch_idx.astype(np.intp),
        time_index=t_idx.astype(np.intp),
        ch_names=tuple(labels.ch_names[i] for i in ch_idx),
        times=labels.times[t_idx],
        normalized=normalized,
    )


# ---- channels -------------------------------------------------------------------------------
def _channel_indices(value: Any, valid: Sequence[str]) -> np.ndarray:
    if isinstance(value, str):
        names: list[Any] = [value]
    elif isinstance(value, (list, tuple, np.ndarray)):
        names = list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) else list(value)
    else:
        raise InvalidParameterError(
            f"selection['channels'] must be a channel name or a list of names, got {type(value).__name__} {value!r:.100}; "
            f"valid names: {list(valid)}"
        )
    if not names:
        raise InvalidParameterError(f"selection['channels'] is empty; give at least one of {list(valid)}")
    not_str = [n for n in names if not isinstance(n, str)]
    if not_str:
        raise InvalidParameterError(
            f"selection['channels'] must hold channel names (strings), got {not_str[:5]!r}; valid names: {list(valid)}"
        )
    lookup = {name: i for i, name in enumerate(valid)}
    missing = [n for n in names if n not in lookup]
    if missing:
        hint = _case_hint(missing, valid)
        raise InvalidParameterError(f"unknown EEG channel(s) {missing}{hint}; valid channels: {list(valid)}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameterError(f"selection['channels'] lists {dupes} more than once; give each channel once")
    return np.array([lookup[n] for n in names])


def _case_hint(missing: list[str], valid: Sequence[str]) -> str:
    folded = {v.lower(): v for v in valid}
    fixes = {m: folded[m.lower()] for m in missing if m.lower() in folded}
    return f" (names are case-sensitive: did you mean {list(fixes.values())}?)" if fixes else ""


# ---- time points ----------------------------------------------------------------------------
def _grid_text(times: np.ndarray) -> str:
    step = f" in steps of {np.median(np.diff(times)):.3g} s" if times.size > 1 else ""
    return f"{times[0]:.3f} to {times[-1]:.3f} s{step}"


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _time_indices(value: Any, times: np.ndarray) -> np.ndarray:
    if isinstance(value, slice):
        return _slice_indices(value, times)
    if _is_real(value):
        return _match_times(np.array([float(value)]), times)
    if isinstance(value, (str, bytes, dict, set)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise InvalidParameterError(
            "selection['timepoints'] must be BERG 2.0's binary mask of length "
            f"{times.size}, times in seconds (a float or list of floats), or a slice of seconds; "
            f"got {type(value).__name__} {value!r:.100}"
        )
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        # ragged nesting such as [0.1, [0.2]]: numpy refuses to build it
        arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
        if arr.ndim == 1:
            raise InvalidParameterError(
                f"selection['timepoints'] must be a flat list of numbers (a 0/1 mask or times in seconds), "
                f"got nested items: {value!r:.100}; available times: {_grid_text(times)}"
            ) from None
    if arr.ndim != 1:
        raise InvalidParameterError(
            f"selection['timepoints'] must be one-dimensional (a 0/1 mask or times in seconds), got shape {arr.shape}; "
            f"available times: {_grid_text(times)}"
        )
    if arr.size == 0:
        raise InvalidParameterError(f"selection['timepoints'] is empty; available times: {_grid_text(times)}")
    if arr.dtype.kind == "b":
        return _mask_indices(arr, times)
    if arr.dtype.kind in "iu":
        return _mask_indices(arr, times)
    if arr.dtype.kind == "f":
        if arr.size == times.size and np.isin(arr, (0.0, 1.0)).all():
            return _mask_indices(arr, times)
        return _match_times(arr.astype(np.float64), times)
    raise InvalidParameterError(
        f"selection['timepoints'] must hold numbers (a 0/1 mask or times in seconds), got values of type {arr.dtype}: {value!r:.100}"
    )


def _mask_indices(mask: np.ndarray, times: np.ndarray) -> np.ndarray:
    if mask.size != times.size:
        raise InvalidParameterError(
            f"selection['timepoints'] as a binary mask must have length {times.size} (one entry per time point), "
            f"got length {mask.size}; for times in seconds pass floats, e.g. [0.1, 0.15]"
        )
    if mask.dtype.kind != "b":
        bad = np.unique(mask[~np.isin(mask, (0, 1))])
        if bad.size:
            raise InvalidParameterError(
                f"selection['timepoints'] as a binary mask must hold only 0 and 1, found {bad[:5].tolist()}"
            )
    idx = np.flatnonzero(mask.astype(bool))
    if idx.size == 0:
        raise InvalidParameterError("selection['timepoints'] mask is all zero: it selects no time point")
    return idx


def _match_times(requested: np.ndarray, times: np.ndarray) -> np.ndarray:
    # nearest grid point for each request; NaN has no nearest point and is caught as off-grid
    nearest = np.abs(requested[:, None] - times[None, :]).argmin(axis=1)
    off = ~(np.abs(times[nearest] - requested) <= TIME_TOLERANCE)
    if off.any():
        raise InvalidParameterError(
            f"time(s) {requested[off][:5].tolist()} s are not time points of the model; "
            f"available times: {_grid_text(times)} (matched within {TIME_TOLERANCE} s)"
        )
    uniq, counts = np.unique(nearest, return_counts=True)
    if (counts > 1).any():
        dup = [round(float(times[i]), 6) for i in uniq[counts > 1]]
        raise InvalidParameterError(f"selection['timepoints'] asks for time(s) {dup} s more than once")
    return nearest


def _slice_indices(sl: slice, times: np.ndarray) -> np.ndarray:
    if sl.step is not None:
        raise InvalidParameterError(
            f"selection['timepoints'] slice must not have a step, got {sl!r}; use a list of times or a mask instead"
        )
    for name, bound in (("start", sl.start), ("stop", sl.stop)):
        if bound is not None and not (_is_real(bound) and np.isfinite(bound)):
            raise InvalidParameterError(
                f"selection['timepoints'] slice {name} must be a time in seconds or None, got {bound!r}"
            )
    lo = -np.inf if sl.start is None else float(sl.start) - TIME_TOLERANCE
    hi = np.inf if sl.stop is None else float(sl.stop) + TIME_TOLERANCE
    idx = np.flatnonzero((times >= lo) & (times <= hi))
    if idx.size == 0:
        raise InvalidParameterError(
            f"selection['timepoints'] slice({sl.start}, {sl.stop}) selects no time point; available times: {_grid_text(times)}"
        )
    return idx
