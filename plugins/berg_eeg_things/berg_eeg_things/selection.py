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

The card declares both keys (``kind: names`` and ``kind: time_window`` on the
5 ms grid), so core refuses a bad selection before this module runs; here the
same SDK primitives map it onto the subject's own channels and times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import grid_indices, name_indices

from .layout import MODEL_ID
from .metadata import OutputLabels

__all__ = ["SELECTION_KEYS", "TIME_TOLERANCE", "OutputSelection", "parse_selection"]

SELECTION_KEYS = ("channels", "timepoints")
#: Largest distance (s) between a requested time and a time point of the grid (the card's grid tolerance).
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


def parse_selection(selection: dict[str, Any] | None, labels: OutputLabels, model_id: str = MODEL_ID) -> OutputSelection:
    """Map ``selection`` (checked by core against the card) onto the subject's channels and times.

    Raises
    ------
    InvalidParameterError
        A channel or time this subject's metadata does not have (the message lists what it has).
    """
    selection = dict(selection or {})
    normalized: dict[str, Any] = {}
    ch_sel = selection.get("channels")
    if ch_sel is None:
        ch_idx = np.arange(len(labels.ch_names))
    else:
        ch_idx = name_indices(ch_sel, list(labels.ch_names), what="selection['channels']", owner=model_id, noun="channel")
        normalized["channels"] = [labels.ch_names[i] for i in ch_idx]
    t_sel = selection.get("timepoints")
    if t_sel is None:
        t_idx = np.arange(len(labels.times))
    else:
        t_idx = grid_indices(
            t_sel, labels.times, what="selection['timepoints']", tolerance=TIME_TOLERANCE, units="s", noun="time point"
        )
        normalized["timepoints"] = [round(float(labels.times[i]), 6) for i in t_idx]
    return OutputSelection(
        channel_index=ch_idx.astype(np.intp),
        time_index=t_idx.astype(np.intp),
        ch_names=tuple(labels.ch_names[i] for i in ch_idx),
        times=labels.times[t_idx],
        normalized=normalized,
    )
