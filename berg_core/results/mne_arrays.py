"""Time-resolved results as MNE objects: the part every sensor modality (EEG, MEG) shares.

MNE is the plugins' dependency, not core's: it is imported when these are called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from berg_core.errors import InvalidParameterError

__all__ = ["even_sampling_frequency", "to_mne_arrays"]


def even_sampling_frequency(times: np.ndarray, single: float, example: str) -> float:
    """The sampling frequency of a result's times, which MNE needs evenly spaced and increasing.

    Parameters
    ----------
    times
        The result's time coordinate, in seconds.
    single
        What one sample gives (the recording's own rate).
    example
        A selection that keeps times contiguous, named in the error (``timepoints=slice(0.0, 0.3)``).

    Raises
    ------
    InvalidParameterError
        The times are not evenly spaced and increasing.
    """
    if times.size == 1:
        return single
    steps = np.diff(times)
    if not np.allclose(steps, steps[0], rtol=0, atol=1e-6) or steps[0] <= 0:
        raise InvalidParameterError(
            "MNE needs evenly spaced, increasing times; this result's times are "
            f"{np.round(times[:6], 4).tolist()}{'...' if times.size > 6 else ''}. "
            f"Select a contiguous range (e.g. {example}) or encode all times"
        )
    return float(1.0 / steps[0])


def to_mne_arrays(
    data: np.ndarray,
    info: Any,
    tmin: float,
    stimulus_ids: np.ndarray,
    groups: Sequence[Any] | None,
    kind: str,
    average: bool,
    label: str,
    group: str = "group",
    group_label: str = "group",
) -> Any:
    """``(stimulus, group, unit, time)`` values as ``mne.EpochsArray`` or ``mne.EvokedArray``.

    Parameters
    ----------
    data
        float64 values; the group axis (EEG repetitions, MEG training splits) has length 1 when
        ``groups`` is ``None`` (a result without groups).
    info
        The ``mne.Info`` of the units.
    tmin
        The first sample's time.
    stimulus_ids
        The stimuli, in order (``epochs.metadata["stimulus"]``).
    groups
        Integer labels of the groups, or ``None``.
    kind
        ``"epochs"``: one epoch per stimulus (per stimulus and group when not ``average``), with
        ``epochs.metadata`` naming the stimulus (and group). ``"evoked"``: the mean over stimuli
        (one per group when not ``average``).
    average
        Average the groups first (always, without groups).
    label
        What the values are (``"in silico EEG"``), for the evoked comments.
    group, group_label
        The group's name in metadata and event names (``"repetition"``) and in comments
        (``"training split"``).

    Returns
    -------
    mne.EpochsArray, mne.EvokedArray or list of mne.EvokedArray
    """
    import mne
    import pandas as pd

    if kind not in ("epochs", "evoked"):
        raise InvalidParameterError(f"kind must be 'epochs' or 'evoked', got {kind!r}")
    average = average or groups is None
    if kind == "evoked":
        if average:
            over = " and " + group + "s" if groups is not None else ""
            return mne.EvokedArray(data.mean(axis=(0, 1)), info, tmin=tmin, nave=data.shape[0] * data.shape[1],
                                   comment=f"{label}, mean over stimuli{over}", verbose=False)
        return [
            mne.EvokedArray(data[:, i].mean(axis=0), info.copy(), tmin=tmin, nave=data.shape[0],
                            comment=f"{label}, {group_label} {int(k)}", verbose=False)
            for i, k in enumerate(groups or [])
        ]
    if average:
        epochs_data = data.mean(axis=1)
        meta = pd.DataFrame({"stimulus": stimulus_ids})
        codes = np.ones(len(stimulus_ids), dtype=int)
        event_id = {"stimulus": 1}
    else:
        keys = np.asarray(groups)
        epochs_data = data.reshape(-1, *data.shape[2:])  # stimulus-major: (s0 g1, s0 g2, ...)
        meta = pd.DataFrame({"stimulus": np.repeat(stimulus_ids, len(keys)), group: np.tile(keys, len(stimulus_ids))})
        codes = np.tile(keys.astype(int), len(stimulus_ids))
        event_id = {f"{group}_{int(k)}": int(k) for k in keys}
    n = epochs_data.shape[0]
    # synthetic, non-overlapping onsets: MNE wants distinct event samples
    events = np.column_stack([np.arange(n) * data.shape[-1], np.zeros(n, dtype=int), codes])
    return mne.EpochsArray(epochs_data, info, events=events, tmin=tmin, event_id=event_id, metadata=meta, verbose=False)
