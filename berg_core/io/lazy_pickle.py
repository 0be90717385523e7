"""Read BERG 2.0's pickled ``.npy`` dicts without loading the large arrays.

The restricted unpickler of :mod:`berg_core.io.safe_pickle` rebuilds whole
arrays: a one-ROI model would read and hold the whole-brain regression. This
reader walks the same pickle with Python's pure unpickler and, for every large
``bytes`` payload (an array's data), records where it lies in the file and
seeks past it. Arrays then come back as :class:`LazyArray` handles that read
just the rows asked for, from a local file or with ranged reads from S3.

Only the same globals as the restricted unpickler are resolved (NumPy array
and dtype reconstruction, plain containers), so nothing in the file can run.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, ClassVar

import numpy as np

from ..errors import IntegrityError
from .safe_pickle import RestrictedUnpickler

__all__ = ["LazyArray", "load_lazy_npy", "materialize"]

#: payloads at least this large stay on disk until read
LAZY_THRESHOLD = 1 << 16
#: gaps between wanted rows smaller than this are read through rather than seeked over
COALESCE_BYTES = 1 << 20

Opener = Callable[[], IO[bytes]]


class _LazyBytes:
    """Where a bytes payload lies in the file."""

    __slots__ = ("length", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length


class LazyArray:
    """An array stored inside a pickled file, read on demand.

    Parameters
    ----------
    opener
        Opens the file (binary, seekable).
    offset, nbytes
        Where the array's data lies.
    shape, dtype, fortran
        How to interpret it.
    source
        Name of the file for messages.
    """

    def __init__(self, opener: Opener, offset: int, nbytes: int, shape: tuple[int, ...], dtype: np.dtype[Any], fortran: bool, source: str) -> None:
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if expected != nbytes:
            raise IntegrityError(f"{source}: an array of shape {shape} and dtype {dtype} needs {expected} bytes, the file holds {nbytes}")
        self._open = opener
        self.offset = offset
        self.nbytes = nbytes
        self.shape = shape
        self.dtype = dtype
        self.fortran = fortran
        self.source = source

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"LazyArray(shape={self.shape}, dtype={self.dtype}, source={self.source!r})"

    def _read_bytes(self, fh: IO[bytes], start: int, length: int) -> bytes:
        fh.seek(self.offset + start)
        data = fh.read(length)
        if len(data) != length:
            raise IntegrityError(f"{self.source} is truncated: expected {length} bytes at offset {self.offset + start}, got {len(data)}")
        return data

    def read(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The whole array, or only ``rows`` (int indices along axis 0), in the order given."""
        with self._open() as fh:
            if rows is None or self.fortran or self.ndim == 0:
                arr = np.frombuffer(self._read_bytes(fh, 0, self.nbytes), dtype=self.dtype)
                arr = arr.reshape(self.shape, order="F" if self.fortran else "C")
                arr = arr if rows is None else arr[rows]
                return np.array(arr, copy=True)  # writable, owns its memory
            return self._read_rows(fh, np.asarray(rows, dtype=np.int64))

    def _read_rows(self, fh: IO[bytes], rows: np.ndarray) -> np.ndarray:
        row_shape = self.shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
        out = np.empty((rows.size, *row_shape), dtype=self.dtype)
        if rows.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        # runs of rows close enough to read in one go
        gap_rows = max(1, COALESCE_BYTES // max(row_bytes, 1))
        breaks = np.flatnonzero(np.diff(sorted_rows) > gap_rows) + 1
        for run in np.split(np.arange(sorted_rows.size), breaks):
            first, last = int(sorted_rows[run[0]]), int(sorted_rows[run[-1]])
            block = np.frombuffer(self._read_bytes(fh, first * row_bytes, (last - first + 1) * row_bytes), dtype=self.dtype)
            block = block.reshape((last - first + 1, *row_shape))
            out[order[run]] = block[sorted_rows[run] - first]
        return out

    def iter_row_blocks(self, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows[start:start + block_rows])`` for the whole array, one block in memory at a time."""
        if self.fortran or self.ndim == 0:
            yield 0, self.read()
            return
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with self._open() as fh:
            for start in range(0, self.shape[0], block_rows):
                n = min(block_rows, self.shape[0] - start)
                data = self._read_bytes(fh, start * row_bytes, n * row_bytes)
                yield start, np.frombuffer(data, dtype=self.dtype).reshape((n, *self.shape[1:]))


class _ArrayState:
    """Stands for ``ndarray`` during unpickling; BUILD hands it the array's state."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


def _reconstruct(cls: Any, shape: Any, dtype_code: Any) -> _ArrayState:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only numpy.ndarray can be reconstructed")
    return _ArrayState()


class _LazyUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Pure-Python unpickler: restricted globals, large bytes left in the file."""

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, fh: IO[bytes], opener: Opener, source: str) -> None:
        super().__init__(fh, encoding="latin1")
        self._fh = fh
        self._opener = opener
        self._source = source
        self._guard = RestrictedUnpickler(fh, source)

    def find_class(self, module: str, name: str) -> Any:
        found = self._guard.find_class(module, name)  # raises IntegrityError for anything unsafe
        if name == "_reconstruct":
            return _reconstruct
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise IntegrityError(f"{self._source} uses pickle persistent ids, which BERG files never contain")

    def _bytes(self, n: int) -> None:
        unframer = self._unframer
        if n >= LAZY_THRESHOLD and getattr(unframer, "current_frame", None) is None:
            offset = self._fh.tell()
            self._fh.seek(n, 1)
            self.append(_LazyBytes(offset, n))
        else:
            data = self.read(n)
            if len(data) != n:
                raise EOFError(f"expected {n} bytes, got {len(data)}")
            self.append(data)

    def load_binbytes(self) -> None:
        (n,) = struct.unpack("<I", self.read(4))
        self._bytes(n)

    def load_binbytes8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self._bytes(n)

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _ArrayState):
            inst.value = self._array(state)
            return
        self.stack.append(state)
        super().load_build()

    def _array(self, state: Any) -> Any:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("unexpected ndarray state")
        _version, shape, dtype, fortran, raw = state
        shape = tuple(int(s) for s in shape)
        if dtype.hasobject:
            arr = np.empty(len(raw), dtype=object)
            arr[:] = raw
            return arr.reshape(shape, order="F" if fortran else "C")
        if isinstance(raw, _LazyBytes):
            return LazyArray(self._opener, raw.offset, raw.length, shape, dtype, bool(fortran), self._source)
        if isinstance(raw, str):  # protocol 2: bytes pickled as latin-1 text
            raw = raw.encode("latin1")
        arr = np.frombuffer(raw, dtype=dtype)
        return arr.reshape(shape, order="F" if fortran else "C").copy()

    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8
    dispatch[pickle.BUILD[0]] = load_build


def materialize(obj: Any) -> Any:
    """Replace the unpickler's array placeholders by their arrays, in nested containers."""
    if isinstance(obj, _ArrayState):
        value = obj.value
        if isinstance(value, np.ndarray) and value.dtype.hasobject and value.shape == ():
            return materialize(value.item())
        return materialize(value)
    if isinstance(obj, dict):
        return {k: materialize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [materialize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(materialize(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        out = np.empty(obj.shape, dtype=object)
        for idx, v in np.ndenumerate(obj):
            out[idx] = materialize(v)
        return out
    return obj


def load_lazy_npy(opener: Opener, source: str) -> Any:
    """Load a pickled ``.npy`` with large arrays left as :class:`LazyArray` handles.

    Raises
    ------
    IntegrityError
        Not a ``.npy`` file, truncated, or asks to run code.
    """
    fmt = np.lib.format
    with opener() as fh:
        try:
            version = fmt.read_magic(fh)
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = header(fh)
        except (ValueError, EOFError) as exc:
            raise IntegrityError(f"{source} is not a valid .npy file: {exc}") from None
        if not dtype.hasobject:
            start = fh.tell()
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            return LazyArray(opener, start, nbytes, tuple(shape), dtype, fortran, source)
        try:
            obj = _LazyUnpickler(fh, opener, source).load()
        except IntegrityError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, struct.error) as exc:
            raise IntegrityError(f"{source} is corrupt or truncated: {type(exc).__name__}: {exc}") from None
    return materialize(obj)


def read_rows(arr: Any, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """Rows of a NumPy array or a :class:`LazyArray`."""
    if isinstance(arr, LazyArray):
        return arr.read(None if rows is None else np.asarray(rows))
    return arr if rows is None else arr[np.asarray(rows)]
