"""Turning an encoded ECoG result into MNE objects: one epoch per word, electrodes placed at their MNI positions.

Values are handed to MNE unscaled (the dataset's high-gamma units), as ``ecog`` channels; MNE's plots scale
ECoG by 1e6 ("µV") by default: pass ``scalings=dict(ecog=1)`` to see them as they are. Positions come from the
subject's metadata (``ecog/ch_coords``, MNE units, metres), in the ``mni_tal`` frame.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import xarray as xr

from berg_core.plugin import InvalidParameterError, check_result

from .layout import MODEL_ID, SFREQ

__all__ = ["DIMS", "to_mne"]

DIMS = ("word", "electrode", "lag")


def _sfreq(lags: np.ndarray) -> float:
    if lags.size == 1:
        return SFREQ
    steps = np.diff(lags)
    if not np.allclose(steps, steps[0], rtol=0, atol=1e-6) or steps[0] <= 0:
        raise InvalidParameterError(
            f"MNE needs evenly spaced lags; this result's are {np.round(lags[:6], 4).tolist()}... "
            "Select a contiguous run of lags (or all of them)"
        )
    return float(1.0 / steps[0])


def _info(result: xr.DataArray) -> Any:
    import mne

    names = [str(n) for n in result["electrode"].values]
    info = mne.create_info(names, _sfreq(np.asarray(result["lag"].values, dtype=float)), ch_types="ecog", verbose=False)
    pos = np.column_stack([np.asarray(result[c].values, dtype=float) for c in ("x", "y", "z")])
    montage = mne.channels.make_dig_montage(ch_pos=dict(zip(names, pos, strict=True)), coord_frame="mni_tal")
    with warnings.catch_warnings():
        # MNI positions have no head fiducials: MNE notes it assumes an identity head transform, as intended here
        warnings.filterwarnings("ignore", message="Fiducial point nasion not found")
        info.set_montage(montage, verbose=False)
    return info


def to_mne(result: xr.DataArray, kind: Literal["epochs", "evoked"] = "epochs") -> Any:
    """``mne.EpochsArray`` (one epoch per word; word, stimulus, onset in its ``metadata``) or the words'
    average as ``mne.EvokedArray``.

    Raises
    ------
    InvalidParameterError
        ``kind`` is neither, or the result is not a (word, electrode, lag) result with positions.
    """
    import mne
    import pandas as pd

    check_result(result, DIMS, MODEL_ID, coords=("electrode", "lag", "x", "y", "z", "stimulus"))
    if kind not in ("epochs", "evoked"):
        raise InvalidParameterError(f"kind must be 'epochs' or 'evoked', got {kind!r}")
    info = _info(result)
    tmin = float(result["lag"].values[0])
    data = np.asarray(result.values, dtype=np.float64)
    if kind == "evoked":
        return mne.EvokedArray(data.mean(axis=0), info, tmin=tmin, nave=max(1, data.shape[0]), comment="mean over words",
                               verbose=False)
    n = data.shape[0]
    # events only order the epochs here (the onsets of several stories may coincide): the onsets are in metadata
    events = np.column_stack([np.arange(n), np.zeros(n, dtype=int), np.ones(n, dtype=int)])
    meta = pd.DataFrame({c: np.asarray(result[c].values) for c in ("stimulus", "word_index", "text", "onset") if c in result.coords})
    return mne.EpochsArray(data, info, events=events, tmin=tmin, event_id={"word": 1}, metadata=meta, verbose=False)
