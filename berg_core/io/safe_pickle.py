"""Read BERG 2.0's pickled ``.npy`` files without executing anything.

BERG 2.0 saves dicts of arrays with ``np.save(..., allow_pickle=True)``; loading
them with ``np.load(allow_pickle=True)`` would run any code a tampered file
carries. The unpickler here resolves only the globals needed to rebuild NumPy
arrays, NumPy scalars and plain containers; any other global (``os.system``,
``builtins.eval``...) is refused with :class:`~berg_core.IntegrityError`
before it can be called.
"""

from __future__ import annotations

import builtins
import io
import pickle
from typing import IO, Any

import numpy as np

from ..errors import IntegrityError

__all__ = ["RestrictedUnpickler", "load_pickled_npy", "restricted_loads"]

# NumPy moved its internals from numpy.core to numpy._core in 2.0; files
# written by either version name one of them.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in _NUMPY_MODULES:
    _ALLOWED[(_mod, "_reconstruct")] = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
    _ALLOWED[(_mod, "scalar")] = np._core.multiarray.scalar  # type: ignore[attr-defined]
    _ALLOWED[(_mod, "_frombuffer")] = np._core.numeric._frombuffer  # type: ignore[attr-defined]
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
for _name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "bool", "str", "bytes", "slice"):
    _ALLOWED[("builtins", _name)] = getattr(builtins, _name)
    _ALLOWED[("__builtin__", _name)] = getattr(builtins, _name)
_ALLOWED[("collections", "OrderedDict")] = __import__("collections").OrderedDict
_ALLOWED[("_codecs", "encode")] = __import__("codecs").encode  # py2-era bytes pickling of array data


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds NumPy arrays and plain containers."""

    def __init__(self, file: IO[bytes], source: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            pass
        # numpy dtype classes (numpy.dtypes.Float64DType) appear in NumPy 2 pickles
        if module == "numpy.dtypes" and name.endswith("DType"):
            import numpy.dtypes

            obj = getattr(numpy.dtypes, name, None)
            if obj is not None:
                return obj
        raise IntegrityError(
            f"{self._source} is unsafe: its pickle asks for {module}.{name}, but a BERG file may only hold "
            "NumPy arrays and plain containers. Nothing from it was executed; do not use this file."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise IntegrityError(f"{self._source} uses pickle persistent ids, which BERG files never contain")


def restricted_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing only NumPy arrays and plain containers."""
    return _restricted_load(io.BytesIO(data), source)


def _restricted_load(fh: IO[bytes], source: str) -> Any:
    try:
        return RestrictedUnpickler(fh, source).load()
    except IntegrityError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise IntegrityError(f"{source} is corrupt or truncated: {type(exc).__name__}: {exc}") from None


def load_pickled_npy(fh: IO[bytes], source: str) -> Any:
    """Load a ``.npy`` file safely.

    Plain numeric ``.npy`` files are read by NumPy without pickle. Object
    arrays (BERG 2.0's dicts) are unpickled with :class:`RestrictedUnpickler`;
    a 0-d object array is returned as the object it holds.

    Parameters
    ----------
    fh
        Binary file object positioned at the start of the ``.npy`` file.
    source
        Name or URL of the file, used in error messages.

    Raises
    ------
    IntegrityError
        The file is not a ``.npy`` file, is truncated, or asks to run code.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            shape, fortran, dtype = fmt._read_array_header(fh, version)  # type: ignore[attr-defined]
    except (ValueError, EOFError) as exc:
        raise IntegrityError(f"{source} is not a valid .npy file: {exc}") from None
    if not dtype.hasobject:
        count = int(np.prod(shape)) if shape else 1
        arr = np.empty(count, dtype=dtype)
        # readinto fills the array in place: no second copy of a large weight file
        got = _read_into(fh, arr.data.cast("B"))
        if got != arr.nbytes:
            raise IntegrityError(f"{source} is truncated: expected {arr.nbytes} bytes of data, found {got}")
        return arr.reshape(shape, order="F" if fortran else "C")
    obj = _restricted_load(fh, source)
    if not isinstance(obj, np.ndarray):
        raise IntegrityError(f"{source}: expected a pickled object array, found {type(obj).__name__}")
    if obj.shape == ():
        return obj.item()
    return obj


def _read_into(fh: IO[bytes], buf: memoryview) -> int:
    total = 0
    while total < len(buf):
        n = fh.readinto(buf[total:])  # type: ignore[attr-defined]
        if not n:
            break
        total += n
    return total
