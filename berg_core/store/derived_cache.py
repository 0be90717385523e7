"""A persistent, bounded cache of arrays derived from local weight files (folded projections, float32 heads).

Loading a BERG 2.0 ViT-feature model reads 920 MB of float64 scaler + PCA and folds them into one
float32 projection; its regressions are float64 too and are converted to float32. Those results
depend only on the source file, so after the first load they are written once as plain ``.npy``
files (``allow_pickle=False``) and every later load, in any process, memory-maps them instead.

Layout: ``<cache dir>/derived/<source-key>/<array-key>.npy`` where ``<cache dir>`` is the one of
:mod:`berg_core.store.cache` (``$BERG_CACHE_DIR``, ...). ``<source-key>`` hashes the source file's
resolved path and its identity (device, inode, size, ``mtime_ns``, and a digest of a few spread-out
pieces of its bytes, as modification times tick coarsely): a file written again (or only touched) gets a new key, and the entries of its older versions are removed when the new one is
written. ``<array-key>`` hashes what was derived and from which stored array (key, shape, dtype,
offset in the file), so a file whose arrays changed can never be answered from another's cache.

Safety: each ``.npy`` is written under a unique temporary name and renamed into place, so a
reader (another process included) sees either nothing or a complete file. Before use, a cached
file's header must give the expected shape and dtype and the file exactly its header plus data
bytes; anything else (truncated, foreign, stale) is deleted and rebuilt from the source.

Bounds: ``$BERG_DERIVED_CACHE_GB`` (default 4) caps the total size; the least recently used
source entries are evicted to make room (an entry's folder time is renewed on every use).
``$BERG_DERIVED_CACHE=0`` switches the cache off (nothing read, nothing written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.store.cache import default_cache_dir

__all__ = [
    "DERIVED_DIR",
    "ENABLE_ENV",
    "LIMIT_ENV",
    "SourceEntry",
    "derived_cache_enabled",
    "derived_cache_limit",
    "derived_cache_root",
    "known_sha256",
    "remember_sha256",
    "source_entry",
]

ENABLE_ENV = "BERG_DERIVED_CACHE"
LIMIT_ENV = "BERG_DERIVED_CACHE_GB"
DERIVED_DIR = "derived"
DEFAULT_LIMIT_GB = 4.0
#: arrays smaller than this are cheap to read from the source: not worth a file
MIN_BYTES = 1 << 20


def derived_cache_enabled() -> bool:
    """Whether the cache is on (``$BERG_DERIVED_CACHE`` not ``0``/``false``/``no``/``off``)."""
    return os.environ.get(ENABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def derived_cache_limit() -> int:
    """The size cap in bytes (``$BERG_DERIVED_CACHE_GB``, default 4; an unreadable value means the default)."""
    try:
        gb = float(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT_GB))
    except ValueError:
        gb = DEFAULT_LIMIT_GB
    return max(0, int(gb * (1 << 30)))


def derived_cache_root() -> Path:
    """``<cache dir>/derived``."""
    return default_cache_dir() / DERIVED_DIR


def _digest(text: str, n: int = 20) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class SourceEntry:
    """The cached arrays derived from one version of one local source file.

    Use :func:`source_entry` to get one (it returns ``None`` when the cache is off or the file
    cannot be stat-ed).
    """

    def __init__(self, root: Path, source: str, identity: tuple[Any, ...]) -> None:
        self.root = root
        self.source = source
        self.prefix = _digest(source, 16)
        self.folder = root / f"{self.prefix}-{_digest(repr(identity), 16)}"
        self._reserved = 0  # bytes made room for by reserve() and not yet written
        self._dropped_older = False

    def reserve(self, nbytes: int) -> None:
        """Make room for ``nbytes`` about to be written by several puts, with one pass over the cache folder.

        Without it each put measures the whole cache (a stat per file): a backbone's 150 tensors took
        seconds to write into a cache of a thousand files.
        """
        limit = derived_cache_limit()
        if nbytes > limit:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        _evict(self.root, limit - nbytes, keep=self.folder)
        self._reserved = nbytes

    def path(self, name: str) -> Path:
        """Where the array derived as ``name`` lives (whether or not it is there)."""
        return self.folder / f"{_digest(name, 32)}.npy"

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
        """The cached array ``name`` memory-mapped copy-on-write, or ``None`` (absent or invalid: then removed).

        Copy-on-write (``mmap_mode="c"``): pages are shared with the page cache and other processes,
        and a caller (torch shares NumPy memory) may write without ever touching the file.
        """
        path = self.path(name)
        try:
            arr = _open_checked(path, tuple(int(s) for s in shape), np.dtype(dtype))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            _unlink(path)  # truncated, foreign or damaged: rebuilt by the caller
            return None
        try:
            os.utime(self.folder)  # least recently used is evicted first
        except OSError:
            pass
        return arr

    def put(self, name: str, arr: np.ndarray) -> bool:
        """Write ``arr`` as ``name`` (atomically; skipped when it cannot be or would not fit). Returns whether it was."""
        return self.put_blocks(name, arr.shape, arr.dtype, [arr])

    def put_blocks(self, name: str, shape: tuple[int, ...], dtype: Any, blocks: Iterable[np.ndarray | None]) -> bool:
        """Write the array ``name`` from consecutive row ``blocks`` (each converted to ``dtype`` as it is written).

        Written with plain ``write`` calls, one block at a time (:meth:`writing`): neither a copy of
        the whole array nor mapped pages add to the writer's memory. A ``None`` block gives up
        (nothing is kept). Returns whether the array was written.
        """
        with self.writing(name, shape, dtype) as writer:
            if writer is None:
                return False
            start = 0
            for block in blocks:
                if block is None:
                    break  # fewer bytes than the array's: nothing is kept
                writer(start, block)
                start += block.shape[0] if np.ndim(block) else 1
        return writer.kept

    def _make_room(self, nbytes: int) -> None:
        """Evict for ``nbytes`` about to be written (unless :meth:`reserve` did), and drop older versions once."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if nbytes <= self._reserved:
            self._reserved -= nbytes
        else:
            _evict(self.root, derived_cache_limit() - nbytes, keep=self.folder)
        if not self._dropped_older:
            self._drop_older_versions()
            self._dropped_older = True

    @contextlib.contextmanager
    def writing(self, name: str, shape: tuple[int, ...], dtype: Any) -> Iterator[_RowWriter | None]:
        """A writer of the array ``name`` row block by row block, kept (renamed into place) if the block ends well.

        For arrays computed block by block (a fold of 460 MB): each block goes to the file as it is
        made, so the whole array is never in the caller's memory and never written twice. Yields
        ``writer(start, rows)`` (blocks of consecutive rows, in order from row 0), or ``None`` where the
        array cannot be kept (too large, cache off or unwritable): the caller then keeps it in memory of
        its own. An error in the block, a write that fails, rows out of order or a wrong total size keep
        nothing; ``writer.kept`` says afterwards. Use :meth:`get` for the copy-on-write map.
        """
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes > derived_cache_limit() or dtype.hasobject:
            yield None
            return
        target = self.path(name)
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            self._make_room(nbytes)
            fh = open(tmp, "wb")  # closed by the writer, whatever happens in the block
        except OSError:  # a full disk or a read-only cache costs speed, never a load
            yield None
            return
        writer = _RowWriter(fh, dtype, nbytes // shape[0] if shape and shape[0] else 0)
        try:
            np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
        except OSError:
            writer.failed = True
        try:
            yield writer
            writer.close(tmp, target if writer.written == nbytes else None)
        finally:
            writer.close(tmp, None)

    def get_json(self, name: str) -> Any:
        """The small JSON value stored as ``name`` (e.g. the index of a group of arrays), or ``None``."""
        try:
            return json.loads((self.folder / f"{_digest(name, 32)}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put_json(self, name: str, value: Any) -> bool:
        """Store a small JSON value as ``name`` (atomically). Written after the arrays it indexes, it says they are all there."""
        target = self.folder / f"{_digest(name, 32)}.json"
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(value), encoding="utf-8")
            os.replace(tmp, target)
            return True
        except OSError:
            _unlink(tmp)
            return False

    def _drop_older_versions(self) -> None:
        """Remove the entries of earlier versions of the same source (same path, other identity)."""
        try:
            siblings = [p for p in self.root.iterdir() if p.name.startswith(self.prefix + "-") and p != self.folder]
        except OSError:
            return
        for p in siblings:
            shutil.rmtree(p, ignore_errors=True)


class _RowWriter:
    """``writer(start, rows)``: appends consecutive rows of an array to its temporary ``.npy``."""

    def __init__(self, fh: Any, dtype: np.dtype[Any], row_bytes: int) -> None:
        self.fh = fh
        self.dtype = dtype
        self.row_bytes = row_bytes
        self.written = 0
        self.failed = False
        self.kept = False

    def __call__(self, start: int, rows: np.ndarray) -> None:
        if self.failed or self.fh is None:
            return
        if start * self.row_bytes != self.written:  # not the next rows: this file can't be kept
            self.failed = True
            return
        try:
            data = np.ascontiguousarray(rows, dtype=self.dtype)
            self.fh.write(memoryview(data).cast("B"))  # type: ignore[arg-type]
            self.written += data.nbytes
        except OSError:  # a full disk costs the cache entry, never the load
            self.failed = True

    def close(self, tmp: Path, target: Path | None) -> None:
        """Close the file once; rename it to ``target`` if given and nothing failed, else delete it."""
        if self.fh is None:
            return
        try:
            self.fh.close()
        except OSError:
            self.failed = True
        self.fh = None
        if target is not None and not self.failed:
            try:
                os.replace(tmp, target)  # readers see nothing or the whole file
                self.kept = True
            except OSError:
                pass
        _unlink(tmp)


def source_entry(path: str | os.PathLike[str]) -> SourceEntry | None:
    """The cache entry of the local file ``path`` as it is now; ``None`` if the cache is off or ``path`` is not a file."""
    if not derived_cache_enabled():
        return None
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    if not os.path.isfile(real):
        return None
    sample = _content_sample(real, st.st_size)
    if sample is None:
        return None
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, sample)
    return SourceEntry(derived_cache_root(), real, identity)


def _content_sample(path: str, size: int, pieces: int = 16, piece: int = 4096) -> str | None:
    """A digest of a few spread-out 4 KiB pieces of the file (and its last 64 KiB).

    Modification times tick coarsely (a few ms): a file written again in place with the same size
    within one tick keeps its whole stat identity, but not these bytes (weights differ everywhere).
    """
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for i in range(pieces):
                fh.seek(size * i // pieces)
                h.update(fh.read(piece))
            fh.seek(max(0, size - (64 << 10)))
            h.update(fh.read(64 << 10))
    except OSError:
        return None
    return h.hexdigest()[:32]


def _open_checked(path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """``np.load(path, mmap_mode="c")`` after checking the header and the exact file size."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unexpected .npy version {version}")
        offset = fh.tell()
        size = os.fstat(fh.fileno()).st_size
    if tuple(got_shape) != shape or got_dtype != dtype or fortran or got_dtype.hasobject:
        raise ValueError(f"{path}: {got_dtype} {got_shape}, expected {dtype} {shape}")
    if size != offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ValueError(f"{path}: {size} bytes, not the size of its header and data")
    if 0 in shape:
        return np.empty(shape, dtype=dtype)
    return np.load(path, mmap_mode="c", allow_pickle=False)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _folder_size(folder: Path) -> int:
    total = 0
    try:
        for p in folder.iterdir():
            try:
                total += p.stat().st_size
            except OSError:
                pass
    except OSError:
        pass
    return total


def _evict(root: Path, budget: int, keep: Path) -> None:
    """Delete least recently used source entries until the cache holds at most ``budget`` bytes."""
    try:
        entries = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return
    _drop_stale_temporaries(entries)
    sized = []
    for p in entries:
        try:
            sized.append((p.stat().st_mtime_ns, p, _folder_size(p)))
        except OSError:
            pass
    total = sum(s for _, _, s in sized)
    for _, p, s in sorted(sized, key=lambda t: t[0]):
        if total <= budget:
            break
        if p == keep:
            continue
        shutil.rmtree(p, ignore_errors=True)
        total -= s
    if total > budget:
        # the entry being written is itself over budget: make room inside it, oldest files first
        files = sorted(keep.glob("*.npy"), key=lambda f: f.stat().st_mtime_ns if f.exists() else 0)
        for f in files:
            if total <= budget:
                break
            try:
                n = f.stat().st_size
            except OSError:
                continue
            _unlink(f)
            total -= n


#: a temporary this old is a killed writer's, not one being written
STALE_TMP_S = 3600


def _drop_stale_temporaries(entries: list[Path]) -> None:
    import time

    cutoff = time.time() - STALE_TMP_S
    for folder in entries:
        for tmp in folder.glob("*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                pass


_SHA_NAME = "verified-sha256"


def known_sha256(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 a manifest check found for the local file ``path`` as it is now, or ``None``.

    Remembered by :func:`remember_sha256` under the file's identity (device, inode, size,
    modification time and a sample of its bytes, as every derived array is): a file changed
    since has another identity and is hashed again.
    """
    entry = source_entry(path)
    value = entry.get_json(_SHA_NAME) if entry is not None else None
    return value if isinstance(value, str) else None


def remember_sha256(path: str | os.PathLike[str], digest: str) -> None:
    """Remember that the local file ``path``, as it is now, hashes to ``digest`` (skipped when the cache is off)."""
    entry = source_entry(path)
    if entry is not None:
        entry.put_json(_SHA_NAME, digest)
