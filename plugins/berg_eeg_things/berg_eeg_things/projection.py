"""Loading the folded scaler + PCA projection without a second copy of the components.

BERG 2.0's weight files hold sklearn's float64 ``components_`` (250 x 460,800,
about 0.9 GB). Folding them into a new float32 array while the float64 array
is alive peaks at 1.5 times the file's size. Here the float64 rows are first
rewritten as float32 into the front half of their own buffer, so the core
fold (:func:`berg_core.weights.read_folded_projection`) runs in place and the
peak stays at about the file's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from berg_core.weights import WeightFile, read_folded_projection

__all__ = ["downcast_rows_in_place", "load_folded_projection"]

COMPONENTS_KEY = "pca_param/components_"


def downcast_rows_in_place(arr: np.ndarray, rows_per_chunk: int = 16) -> np.ndarray:
    """Rewrite a C-contiguous float64 ``(k, F)`` array as float32 in the first half of its buffer.

    Returns the float32 ``(k, F)`` view; ``arr`` itself must not be used afterwards.
    Each chunk of rows is copied out before it is written back, and the float32
    rows ``[a, b)`` land on bytes that only float64 rows ``< b`` occupied, so no
    unread value is overwritten.
    """
    k, n = arr.shape
    out = arr.reshape(-1).view(np.float32)[: k * n].reshape(k, n)
    for start in range(0, k, rows_per_chunk):
        stop = min(start + rows_per_chunk, k)
        out[start:stop] = arr[start:stop].astype(np.float32)
    return out


class _ComponentsAsFloat32:
    """A weight file whose ``components_`` are served as the in-place float32 rewrite."""

    def __init__(self, wf: WeightFile, components: np.ndarray) -> None:
        self._wf = wf
        self._components = components
        self.source = wf.source

    def keys(self) -> list[str]:
        return self._wf.keys()

    def read(self, key: str, rows: Sequence[int] | np.ndarray | None = None, dtype: Any = None) -> np.ndarray:
        if key != COMPONENTS_KEY:
            return self._wf.read(key, rows=rows, dtype=dtype)
        arr = self._components if rows is None else self._components[np.asarray(rows)]
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def value(self, key: str) -> Any:
        return self._wf.value(key)

    def close(self) -> None:
        self._wf.close()


def load_folded_projection(wf: WeightFile) -> tuple[np.ndarray, np.ndarray]:
    """``(W, c)`` of the file's scaler + PCA (``z = f @ W.T + c``), float32.

    The caller must close ``wf`` afterwards and never read ``pca_param/components_``
    from it again: when the file hands out a writable float64 array, that array's
    buffer is reused for ``W``.
    """
    comp = wf.read(COMPONENTS_KEY)
    reusable = comp.dtype == np.float64 and comp.ndim == 2 and comp.flags.writeable and comp.flags.c_contiguous
    if not reusable:
        return read_folded_projection(wf)
    return read_folded_projection(_ComponentsAsFloat32(wf, downcast_rows_in_place(comp)), source=wf.source)
