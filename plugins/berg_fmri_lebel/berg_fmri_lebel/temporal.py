"""From word vectors to the features of each TR: TR grid, Lanczos resampling, z-scoring and FIR delays.

BERG 2.0's inference (``FMRIOpt13BEncodingModel``) and the trainer's ``ridge_utils`` (HuthLab
deep-fMRI-dataset): ``lanczosinterp2D(window=3)`` without normalising by the kernel's sum, z-scoring over the
story's TRs with the population standard deviation, and ``make_delayed`` with delays 1-4 TRs (feature blocks
ordered by delay, zeros where a delay reaches before the story). Everything here is float64 NumPy: at most a
few thousand TRs and words per story, so the exact sums cost nothing next to the language model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .layout import DELAYS, LANCZOS_WINDOW, TR

__all__ = ["delayed", "lanczos_kernel", "lanczos_matrix", "tr_times", "zscore"]

#: below this standard deviation a feature is left unscaled (BERG 2.0's ``std < 1e-10 -> 1``)
MIN_STD = 1e-10
#: |x| below which the kernel is 1 (avoids 0/0)
_ZERO = 1e-10


def tr_times(onsets: np.ndarray, tr: float = TR, n_delays: int = len(DELAYS)) -> np.ndarray:
    """The TR grid of a story: from its first onset to ``n_delays`` TRs past its last, one time per TR.

    ``t_start = onsets[0]``, ``t_end = onsets[-1] + n_delays * tr``, ``n = ceil((t_end - t_start) / tr)``,
    times ``t_start + k * tr`` for ``k = 0..n-1`` (seconds, float64).
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    t_start, t_end = float(onsets[0]), float(onsets[-1]) + n_delays * tr
    n = int(np.ceil((t_end - t_start) / tr))
    return t_start + np.arange(n, dtype=np.float64) * tr


def lanczos_kernel(x: np.ndarray, window: int = LANCZOS_WINDOW) -> np.ndarray:
    """``sinc(x) * sinc(x / window)`` (normalised sinc) for ``|x| < window``, 1 at 0, else 0."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = window * np.sin(np.pi * x) * np.sin(np.pi * x / window) / (np.pi**2 * x**2)
    k = np.where(np.abs(x) < _ZERO, 1.0, k)
    return np.where(np.abs(x) >= window, 0.0, k)


def lanczos_matrix(new_times: np.ndarray, old_times: np.ndarray, tr: float = TR, window: int = LANCZOS_WINDOW) -> np.ndarray:
    """``(n_new, n_old)`` weights: ``resampled = matrix @ values``, not normalised by the kernel's sum.

    The cutoff is half the TR rate (``0.5 / tr``), so ``x = (t - w) * 2 * (0.5 / tr)`` in the kernel.
    """
    new_times = np.asarray(new_times, dtype=np.float64)
    old_times = np.asarray(old_times, dtype=np.float64)
    x = (new_times[:, None] - old_times[None, :]) * 2 * (0.5 / tr)
    return lanczos_kernel(x, window)


def zscore(x: np.ndarray) -> np.ndarray:
    """Each column over the rows: ``(x - mean) / std``, population std (ddof 0), a std below 1e-10 taken as 1."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std < MIN_STD, 1.0, std)
    return (x - mean) / std


def delayed(x: np.ndarray, delays: Sequence[int] = DELAYS) -> np.ndarray:
    """``(n, len(delays) * F)``: block ``i`` is ``x`` shifted down by ``delays[i]`` rows, zeros above (HuthLab make_delayed)."""
    n, f = x.shape
    out = np.zeros((n, len(delays) * f), dtype=x.dtype)
    for i, d in enumerate(delays):
        if d < n:
            out[d:, i * f : (i + 1) * f] = x[: n - d]
    return out
