"""Which chunks of a Zarr array are missing from its store.

Zarr reads a missing chunk as the array's fill value without a word: a damaged or partly
copied store would give zeros where weights were, or black images. berg writes every chunk
(``write_empty_chunks``), so a missing one is always damage, and readers ask here first.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["missing_chunks"]


def missing_chunks(arr: Any, rows: Iterable[int] | None = None) -> list[str]:
    """Storage keys of ``arr``'s chunks (or shards) that its store does not hold.

    Parameters
    ----------
    arr
        A Zarr v3-library array; anything else (an HDF5 dataset, another zarr) is not checked.
    rows
        Only the chunks holding these rows (first-axis indices, those about to be read);
        ``None``: every chunk.

    Returns
    -------
    list of str
        The missing keys, in chunk order (empty: all there).
    """
    if not type(arr).__module__.startswith("zarr"):
        return []
    try:
        shape = tuple(int(s) for s in arr.shape)
        grid = tuple(int(g) for g in (getattr(arr, "shards", None) or arr.chunks)) if shape else ()
        encode = arr.metadata.encode_chunk_key
        store = arr.store
        prefix = f"{arr.path}/" if arr.path else ""
        from zarr.core.sync import sync
    except Exception:  # another zarr version: nothing to check with
        return []
    if any(s == 0 for s in shape):
        return []
    per_axis: list[Iterable[int]] = [range(-(-s // g)) for s, g in zip(shape, grid, strict=True)]
    if rows is not None and shape:
        per_axis[0] = np.unique(np.fromiter(rows, dtype=np.int64) // grid[0]).tolist()
    keys = [prefix + encode(tuple(index)) for index in itertools.product(*per_axis)]

    async def exist() -> list[bool]:
        return list(await asyncio.gather(*(store.exists(k) for k in keys)))

    found = sync(exist())
    return [k for k, ok in zip(keys, found, strict=True) if not ok]
