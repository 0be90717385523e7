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

from berg_core.plugin import InvalidParameterError, check_result, result_model_id

from .layout import MODEL_ID, SFREQ

__all__ = ["DIMS", "MONTAGE", "to_mne"]

DIMS = ("stimulus", "repetition", "channel", "time")
MONTAGE = "easycap-M1"


def _sfreq(times: np.ndarray) -> float:
    if times.size == 1:
        return SFREQ
    steps = np.diff(times)
    if not np.allclose(steps, steps[0], rtol=0, atol=1e-6) or steps[0] <= 0:
        raise InvalidParameterError(
            "MNE needs evenly spaced, increasing times; this result's times are "
            f"{np.round(times[:6], 4).tolist()}{'...' if times.size > 6 else ''}. "
            "Select a contiguous range (e.g. timepoints=slice(0.0, 0.3)) or encode all times"
        )
    return float(1.0 / steps[0])


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
    import mne
    import pandas as pd

    da = check_result(result, DIMS, result_model_id(result) or MODEL_ID)
    if kind not in ("epochs", "evoked"):
        raise InvalidParameterError(f"kind must be 'epochs' or 'evoked', got {kind!r}")
    if not isinstance(average_repetitions, (bool, np.bool_)):
        raise InvalidParameterError(f"average_repetitions must be True or False, got {average_repetitions!r}")
    times = np.asarray(da["time"].values, dtype=np.float64)
    info = _info([str(c) for c in da["channel"].values], _sfreq(times))
    tmin = float(times[0])
    data = np.asarray(da.values, dtype=np.float64)  # (stim, rep, ch, time)
    stim_ids = da["stimulus"].values
    reps = da["repetition"].values

    if kind == "evoked":
        if average_repetitions:
            return mne.EvokedArray(
                data.mean(axis=(0, 1)),
                info,
                tmin=tmin,
                nave=data.shape[0] * data.shape[1],
                comment="in silico EEG, mean over stimuli and repetitions",
                verbose=False,
            )
        return [
            mne.EvokedArray(
                data[:, i].mean(axis=0),
                info.copy(),
                tmin=tmin,
                nave=data.shape[0],
                comment=f"in silico EEG, repetition {int(r)}",
                verbose=False,
            )
            for i, r in enumerate(reps)
        ]

    if average_repetitions:
        epochs_data = data.mean(axis=1)
        meta = pd.DataFrame({"stimulus": stim_ids})
        codes = np.ones(len(stim_ids), dtype=int)
        event_id = {"stimulus": 1}
    else:
        epochs_data = data.reshape(-1, *data.shape[2:])  # stimulus-major: (s0 r1, s0 r2, ...)
        meta = pd.DataFrame({"stimulus": np.repeat(stim_ids, len(reps)), "repetition": np.tile(reps, len(stim_ids))})
        codes = np.tile(np.asarray(reps, dtype=int), len(stim_ids))
        event_id = {f"repetition_{int(r)}": int(r) for r in reps}
    n = epochs_data.shape[0]
    # synthetic, non-overlapping onsets: MNE wants distinct event samples
    events = np.column_stack([np.arange(n) * times.size, np.zeros(n, dtype=int), codes])
    return mne.EpochsArray(epochs_data, info, events=events, tmin=tmin, event_id=event_id, metadata=meta, verbose=False)
