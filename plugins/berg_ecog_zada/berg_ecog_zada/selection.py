"""The Zada model's selection: electrodes (mask, names or indices) and lags (mask), both ascending as BERG 2.0."""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, did_you_mean, grid_indices

from .layout import N_LAGS, reference_lags

__all__ = ["electrode_indices", "lag_indices", "target_indices"]


def _is_mask(arr: np.ndarray, n: int) -> bool:
    return arr.ndim == 1 and arr.size == n and arr.dtype.kind in "biu" and set(np.unique(arr).tolist()) <= {0, 1}


def electrode_indices(value: Any, ch_names: np.ndarray) -> np.ndarray:
    """Ascending electrode positions from a binary mask (length = electrode count), names or indices."""
    n = len(ch_names)
    if value is None:
        return np.arange(n)
    items = [value] if isinstance(value, str) else value
    try:
        arr = np.asarray(items)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidParameterError(
            f"selection 'electrode_index' must be a binary mask of {n} electrodes, a list of electrode names or of "
            f"indices, got {value!r:.120}"
        )
    if arr.dtype.kind in "US":
        names = list(ch_names)
        bad = [str(v) for v in arr if str(v) not in names]
        if bad:
            raise InvalidParameterError(f"unknown electrode(s) {bad[:10]}; this subject has {names[:8]}... ({n} electrodes)."
                                        f"{did_you_mean(bad, names)}")
        return np.array(sorted({names.index(str(v)) for v in arr}))
    if arr.dtype.kind == "b" or (arr.size == n and _is_mask(arr, n)):
        if not _is_mask(arr.astype(int) if arr.dtype.kind == "b" else arr, n):
            raise InvalidParameterError(f"selection 'electrode_index' as a mask must have {n} entries of 0/1, got {arr.size}")
        idx = np.flatnonzero(arr)
        if idx.size == 0:
            raise InvalidParameterError("selection 'electrode_index' selects no electrode (the mask has no 1)")
        return idx
    if arr.dtype.kind in "iu" and ((arr >= 0) & (arr < n)).all():
        return np.array(sorted(set(arr.tolist())))
    raise InvalidParameterError(
        f"selection 'electrode_index' must be a binary mask of {n} electrodes, electrode names or indices below {n}; "
        f"got {value!r:.120}"
    )


def lag_indices(value: Any) -> np.ndarray:
    """Ascending lag positions from a binary mask of 129 lags, lags in seconds or a slice of seconds."""
    if value is None:
        return np.arange(N_LAGS)
    idx = grid_indices(value, reference_lags(), what="selection 'lags'", tolerance=1e-3, units="s", noun="lag")
    return np.unique(np.asarray(idx))  # ascending, as BERG 2.0's mask


def target_indices(electrodes: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Flat target indices ``electrode * 129 + lag``, electrode-major (BERG 2.0's mask order)."""
    return (electrodes[:, None] * N_LAGS + lags[None, :]).ravel()
