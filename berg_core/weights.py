"""Reading weight and metadata files from a store, whatever their layout.

Plugins ask for arrays by key path (``"pca_param/components_"``) and,
optionally, a subset of rows (the selected vertices or channels). The reader
behind the key decides how to get them: BERG 2.0's pickled ``.npy`` dicts are
unpickled safely once and sliced; native layouts (Zarr, see ``specs/``) can
read just the chunks holding those rows. Plugins never open files themselves,
so a new store layout needs no plugin change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from .errors import IntegrityError
from .io.safe_pickle import load_pickled_npy
from .store import Store

__all__ = ["PickledNpyFile", "WeightFile", "flatten_keys", "open_weight_file", "read_folded_projection", "read_metadata"]


class WeightFile(Protocol):
    """What plugins use to read one weight file."""

    source: str

    def keys(self) -> list[str]:
        """All array/value key paths, ``/``-separated."""

    def read(self, key: str, rows: Sequence[int] | np.ndarray | None = None, dtype: Any = None) -> np.ndarray:
        """The array at ``key`` (only ``rows`` along axis 0 when given)."""

    def value(self, key: str) -> Any:
        """A non-array value (scalar, string, small list) at ``key``."""

    def close(self) -> None:
        """Release anything held."""


def flatten_keys(obj: Any, prefix: str = "") -> Iterator[str]:
    """``/``-joined key paths of nested dicts."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten_keys(v, f"{prefix}{k}/")
    else:
        yield prefix.rstrip("/")


def _lookup(obj: Any, key: str, source: str) -> Any:
    cur = obj
    for part in key.split("/"):
        if not isinstance(cur, dict) or part not in cur:
            raise IntegrityError(f"{source} has no entry {key!r} (expected BERG 2.0's layout)")
        cur = cur[part]
    return cur


class PickledNpyFile:
    """A BERG 2.0 pickled ``.npy`` dict, unpickled once with the restricted unpickler."""

    def __init__(self, store: Store, relpath: str) -> None:
        self.source = store.url_of(relpath)
        with store.open(relpath) as fh:
            data = load_pickled_npy(fh, self.source)
        if not isinstance(data, dict):
            raise IntegrityError(f"{self.source} should hold a dict, found {type(data).__name__}")
        self._data: dict[str, Any] | None = data

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            raise RuntimeError(f"{self.source} was closed")
        return self._data

    def keys(self) -> list[str]:
        return list(flatten_keys(self.data))

    def read(self, key: str, rows: Sequence[int] | np.ndarray | None = None, dtype: Any = None) -> np.ndarray:
        arr = _lookup(self.data, key, self.source)
        if not isinstance(arr, np.ndarray):
            raise IntegrityError(f"{self.source}: {key!r} should be an array, found {type(arr).__name__}")
        if rows is not None:
            arr = arr[np.asarray(rows)]
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return arr

    def value(self, key: str) -> Any:
        return _lookup(self.data, key, self.source)

    def close(self) -> None:
        self._data = None

    def __enter__(self) -> PickledNpyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_weight_file(store: Store, relpath: str) -> WeightFile:
    """Open a weight file of the store in whichever layout holds it."""
    return PickledNpyFile(store, relpath)


def read_metadata(store: Store, relpath: str) -> dict[str, Any]:
    """Read a whole metadata dict (BERG 2.0's pickled ``.npy``), safely."""
    return PickledNpyFile(store, relpath).data


def read_folded_projection(wf: WeightFile, source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The scaler + PCA of a ViT-feature model folded into ``(W, c)`` (see :mod:`berg_core.readout`).

    Reads ``scaler_param/{mean_,scale_}`` and ``pca_param/{mean_,components_}``.
    Layouts that store the folded projection directly can return it without folding.
    """
    from .readout import fold_scaler_pca

    return fold_scaler_pca(
        wf.read("scaler_param/mean_"),
        wf.read("scaler_param/scale_"),
        wf.read("pca_param/mean_"),
        wf.read("pca_param/components_"),
        source=source or wf.source,
    )
