"""Turning an encoded EEG result into MNE objects, with channel positions for topomaps.

Scaling: the predicted responses are in arbitrary units (CSD-transformed,
baseline-corrected EEG). They are handed to MNE **unscaled**, while MNE
treats EEG channel values as volts. Plots therefore show the raw numbers
times MNE's default EEG scaling (1e6, "µV"); pass
``scalings=dict(eeg=1), units=dict(eeg="a.u.")`` to ``plot``/``plot_joint``
and ``scalings=1, units="a.u."`` to ``plot_topomap`` to see the values as they are.

Channel positions come from MNE's built-in ``easycap-M1`` montage (the
actiCAP/EasyCap 10-10 layout THINGS EEG2 was recorded with; no download).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr

from berg_core.plugin import (
    InvalidParameterError,
    check_result,
    even_sampling_frequency,
    result_model_id,
    to_mne_arrays,
)

from .layout import MODEL_ID, SFREQ

__all__ = ["DIMS", "MONTAGE", "to_mne"]

DIMS = ("stimulus", "repetition", "channel", "time")
MONTAGE = "easycap-M1"


def _info(ch_names: list[str], sfreq: float) -> Any:
    import mne

    montage = mne.channels.make_standard_montage(MONTAGE)
    unknown = [c for c in ch_names if c not in montage.ch_names]
    if unknown:
        raise InvalidParameterError(f"channels {unknown} have no position in MNE's {MONTAGE} montage")
    info = mne.create_info(ch_names, sfreq, ch_types="eeg", verbose=False)
    info.set_montage(montage, verbose=False)
    return info


def to_mne(
    result: xr.DataArray,
    kind: Literal["epochs", "evoked"] = "epochs",
    average_repetitions: bool = True,
) -> Any:
    """An encode result as ``mne.EpochsArray`` or ``mne.EvokedArray`` (values unscaled, see module notes).

    Parameters
    ----------
    result
        ``(stimulus, repetition, channel, time)`` DataArray from ``BERG.encode``; times must be evenly spaced.
    kind
        ``"epochs"``: one epoch per stimulus (per stimulus and repetition when
        ``average_repetitions=False``), with ``epochs.metadata`` naming the stimulus
        (and repetition). ``"evoked"``: the average over stimuli.
    average_repetitions
        Average the 4 repetitions first. For ``"evoked"`` with ``False``, a list of
        one ``EvokedArray`` per repetition is returned.

    Returns
    -------
    mne.EpochsArray, mne.EvokedArray or list of mne.EvokedArray
    """
    da = check_result(result, DIMS, result_model_id(result) or MODEL_ID)
    if not isinstance(average_repetitions, (bool, np.bool_)):
        raise InvalidParameterError(f"average_repetitions must be True or False, got {average_repetitions!r}")
    times = np.asarray(da["time"].values, dtype=np.float64)
    info = _info([str(c) for c in da["channel"].values], even_sampling_frequency(times, SFREQ, "timepoints=slice(0.0, 0.3)"))
    return to_mne_arrays(np.asarray(da.values, dtype=np.float64), info, float(times[0]), da["stimulus"].values,
                         da["repetition"].values.tolist(), kind, bool(average_repetitions), "in silico EEG",
                         group="repetition", group_label="repetition")
