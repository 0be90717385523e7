"""Turning the user's ``selection`` dict into sensor and time indices.

Accepted keys (BERG 2.0's, declared on the card so core checks them first):

``region``
    A region name or a list of them (Central, Frontal, Occipital, Parietal, Temporal).
``sensors``
    A CTF sensor group (prefix) or a list of them (``MLC``, ``MRO``, ``MZF``...).
``sensor_index``
    BERG 2.0's binary mask over the 271 sensors, or a list of sensor positions.
``timepoints``
    BERG 2.0's binary mask over the 281 time points, times in seconds (kept in
    the order given), or a ``slice`` of seconds with both ends inclusive.

As in BERG 2.0, the sensors of ``region``, ``sensors`` and ``sensor_index`` are
**united** and returned in the metadata's sensor order; no sensor key keeps all
271. Selecting one sensor or one time keeps that dimension (size 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, grid_indices, mask_or_indices, select_names

from .layout import MODEL_ID, PREFIXES, REGIONS
from .metadata import OutputLabels

__all__ = ["SELECTION_KEYS", "TIME_TOLERANCE", "OutputSelection", "parse_selection"]

SELECTION_KEYS = ("region", "sensors", "sensor_index", "timepoints")
#: Largest distance (s) between a requested time and a time point of the grid (the card's grid tolerance).
TIME_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OutputSelection:
    """The selected sensors and times, as indices into the full (sensor, time) output."""

    sensor_index: np.ndarray  # (n_sensors,) intp, ascending
    time_index: np.ndarray  # (n_times,) intp
    normalized: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.sensor_index), len(self.time_index)

    def rows(self, n_times_total: int) -> np.ndarray:
        """Rows of the sensor-major regression (``row = sensor * n_times + time``), in output order."""
        return (self.sensor_index[:, None] * n_times_total + self.time_index[None, :]).ravel()


def parse_selection(selection: dict[str, Any] | None, labels: OutputLabels, model_id: str = MODEL_ID) -> OutputSelection:
    """Map ``selection`` (checked by core against the card) onto the subject's sensors and times.

    Raises
    ------
    InvalidParameterError
        A mask of the wrong length for this subject, or a region/group none of whose
        sensors this subject has (the message lists what it has).
    """
    selection = dict(selection or {})
    normalized: dict[str, Any] = {}
    n = len(labels.sensor_names)
    chosen: list[np.ndarray] = []
    for key, values, valid in (("region", labels.regions, list(REGIONS.values())), ("sensors", labels.prefixes, PREFIXES)):
        if selection.get(key) is None:
            continue
        names = select_names(selection[key], list(valid), what=f"selection[{key!r}]", owner=model_id,
                             noun="region" if key == "region" else "sensor group", repeats="merge")
        held = np.flatnonzero(np.isin(np.asarray(values), names))
        if held.size == 0:
            raise InvalidParameterError(
                f"selection[{key!r}]={names} holds none of this subject's sensors; its "
                f"{'regions' if key == 'region' else 'sensor groups'}: {sorted(set(values))}"
            )
        normalized[key] = names
        chosen.append(held)
    if selection.get("sensor_index") is not None:
        idx = mask_or_indices(selection["sensor_index"], n, what="selection['sensor_index']", noun="sensor")
        normalized["sensor_index"] = idx.tolist()
        chosen.append(idx)
    # the union, in the metadata's sensor order, as BERG 2.0 sorts it
    s_idx = np.unique(np.concatenate(chosen)) if chosen else np.arange(n)
    t_sel = selection.get("timepoints")
    if t_sel is None:
        t_idx = np.arange(len(labels.times))
    else:
        t_idx = grid_indices(
            t_sel, labels.times, what="selection['timepoints']", tolerance=TIME_TOLERANCE, units="s", noun="time point"
        )
        normalized["timepoints"] = [round(float(labels.times[i]), 6) for i in t_idx]
    return OutputSelection(sensor_index=s_idx.astype(np.intp), time_index=np.asarray(t_idx, dtype=np.intp),
                           normalized=normalized)
