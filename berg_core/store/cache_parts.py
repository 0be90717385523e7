"""Everything berg keeps in its cache folder, part by part: the mirrors of remote stores and the demo.

``berg cache info`` reports each part's size and ``berg cache clear`` frees them; entries of the
cache folder that berg did not write (the folder may be one the user chose) are reported as such
and never deleted.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from berg_core.store.cache import STORES_DIR, cache_info, resolve_cache_dir

__all__ = ["PARTS", "CachePart", "cache_parts", "clear_parts", "foreign_entries"]

#: The parts of the cache folder, by the name of the sub-folder berg writes them to.
PARTS = {
    STORES_DIR: "mirrors of remote stores (files read so far)",
    "demo": "berg demo: its synthetic store and default outputs",
}


@dataclass(frozen=True)
class CachePart:
    """One part of the cache folder and its size."""

    name: str
    what: str
    folder: Path
    files: int
    bytes: int


def _size(folder: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                continue  # removed while we looked: nothing to count
    return files, size


def cache_parts(cache_dir: str | os.PathLike[str] | None = None) -> list[CachePart]:
    """Every part of the cache folder, with its size (zero when absent)."""
    root = resolve_cache_dir(cache_dir)
    parts = []
    for name, what in PARTS.items():
        folder = root / name
        if name == STORES_DIR:
            # the mirrors' own report (files read, interrupted downloads; not the bookkeeping index)
            stores = cache_info(cache_dir)
            files, size = sum(s.files for s in stores), sum(s.bytes + s.partial_bytes for s in stores)
        else:
            files, size = _size(folder) if folder.is_dir() else (0, 0)
        parts.append(CachePart(name, what, folder, files, size))
    return parts


def foreign_entries(cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Names in the cache folder that are no part of berg's (left alone by ``clear``)."""
    root = resolve_cache_dir(cache_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.name not in PARTS)


def clear_parts(cache_dir: str | os.PathLike[str] | None = None, names: list[str] | None = None) -> int:
    """Delete the named parts (all of them by default); returns the bytes freed."""
    freed = 0
    for part in cache_parts(cache_dir):
        if names is not None and part.name not in names:
            continue
        if part.folder.is_dir() and not part.folder.is_symlink():
            shutil.rmtree(part.folder, ignore_errors=True)
            freed += part.bytes
    return freed
