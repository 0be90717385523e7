"""Turning the user's ``selection`` dict into electrode and time indices.

Accepted keys (declared in the card, so core checks their form first):

``roi``
    A ROI name or a list of names (V1, V4, IT): their electrodes.
``electrodes``
    BERG 2.0's binary mask of 1,024 entries, or electrode indices.
``timepoints``
    BERG 2.0's binary mask of 300 entries, times in seconds (matched to the
    1 ms grid within 0.1 ms, kept in the order given), or a slice of seconds
    (both ends inclusive).

As in BERG 2.0, ``roi`` and ``electrodes`` are combined as a union and the
electrodes come out in ascending order (the arrays' own order), whatever the
order asked for. Selecting one electrode or time keeps that dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, grid_indices, mask_or_indices, select_names

from .layout import MODEL_ID, N_ELECTRODES, ROIS
from .metadata import OutputLabels

__all__ = ["SELECTION_KEYS", "TIME_TOLERANCE", "OutputSelection", "parse_selection"]

SELECTION_KEYS = ("roi", "electrodes", "timepoints")
#: Largest distance (s) between a requested time and a time point (the card's grid tolerance).
TIME_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OutputSelection:
    """The selected electrodes and times, as indices into the full (electrode, time) output."""

    electrode_index: np.ndarray  # (n_e,) int64, ascending
    time_index: np.ndarray  # (n_t,) int64
    normalized: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.electrode_index.size), int(self.time_index.size)

    def rows(self, n_times_total: int) -> np.ndarray:
        """Rows of the electrode-major regression (``row = electrode * n_times + time``), in output order."""
        return (self.electrode_index[:, None] * n_times_total + self.time_index[None, :]).ravel()


def parse_selection(selection: Mapping[str, Any] | None, labels: OutputLabels) -> OutputSelection:
    """Map ``selection`` (checked by core against the card) onto the monkey's electrodes and times.

    Raises
    ------
    InvalidParameterError
        A ROI with no electrode on this monkey's arrays.
    """
    selection = dict(selection or {})
    normalized: dict[str, Any] = {}
    parts = []
    if selection.get("roi") is not None:
        names = select_names(selection["roi"], list(ROIS), what="selection['roi']", owner=MODEL_ID, noun="ROI",
                             repeats="merge")
        chosen = np.flatnonzero(np.isin(labels.roi, names))
        if chosen.size == 0:
            raise InvalidParameterError(f"ROI {names} has no electrode in this monkey's metadata ({labels.source})")
        parts.append(chosen)
        normalized["roi"] = names
    if selection.get("electrodes") is not None:
        picked = mask_or_indices(selection["electrodes"], N_ELECTRODES, what="selection['electrodes']", noun="electrode")
        parts.append(picked)
        normalized["electrodes"] = f"{picked.size} of {N_ELECTRODES} electrodes"
    electrodes = np.unique(np.concatenate(parts)) if parts else np.arange(N_ELECTRODES)
    if selection.get("timepoints") is None:
        times = np.arange(labels.times.size)
    else:
        times = grid_indices(selection["timepoints"], labels.times, what="selection['timepoints']",
                             tolerance=TIME_TOLERANCE, units="s", noun="time point")
        normalized["timepoints"] = [round(float(labels.times[i]), 6) for i in times]
    return OutputSelection(electrodes.astype(np.int64), np.asarray(times, dtype=np.int64), normalized)
