"""Read BERG 2.0's pickled ``.npy`` files without executing anything.

BERG 2.0 saves dicts of arrays with ``np.save(..., allow_pickle=True)``; loading
them with ``np.load(allow_pickle=True)`` would run any code a tampered file
carries. The unpickler here is Python's pure unpickler with three changes:

* globals resolve only to functions of this module (never to NumPy's or the
  builtins' own constructors), each accepting exactly the arguments BERG 2.0
  files hold: a dtype is one of :data:`SAFE_DTYPE_CODES` and its pickled state
  is checked, then the dtype is built by ``np.dtype(code)`` (NumPy's
  ``dtype.__setstate__`` never sees file bytes: one flipped bit turning
  ``'O8'`` into ``'M8'`` made it crash the interpreter);
* arrays are rebuilt from their pickled state only after the declared shape
  and dtype are checked to need exactly the bytes present; every length
  field is checked against the bytes left in the file before anything is
  allocated; nesting depth and object count of the result are bounded;
* any failure, whatever the damage, is an :class:`~berg_core.IntegrityError`
  naming the file.

One class from outside NumPy is understood: a pickled nibabel
``Nifti1Header`` (BERG 2.0's BOLD Moments metadata stores two) is read as its
348-byte binary block (``bytes``; ``nibabel.Nifti1Header(binaryblock=...)``
rebuilds it), without importing nibabel or running anything: its record dtype is
taken as opaque bytes, and a header with extensions is refused.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import re
import struct
import tokenize
from typing import IO, Any, ClassVar, Literal

import numpy as np

from berg_core.errors import BERGError, IntegrityError

__all__ = [
    "SAFE_DTYPE_CODES",
    "BoundedUnpickler",
    "RestrictedUnpickler",
    "check_dtype",
    "load_pickled_npy",
    "read_npy_header",
    "restricted_loads",
]

#: dtype codes a BERG file may hold (as NumPy pickles them, without byte order)
SAFE_DTYPE_CODES = frozenset(
    {"O8", "O4", "b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
)
_TEXT_DTYPE = re.compile(r"[US][0-9]{1,7}")
_VOID_DTYPE = re.compile(r"V[0-9]{1,4}")
#: the largest record (NIfTI-1 header: 348 bytes; its 4-16 byte fields are records too)
MAX_VOID_BYTES = 348
NIFTI1_HEADER_BYTES = 348
#: BERG files nest dicts a few levels deep; cycles and deep trees are damage
MAX_DEPTH = 64
#: objects in the unpickled tree, counting shared ones once per reference
MAX_OBJECTS = 10_000_000
MAX_NDIM = 32

#: failures of parsing damaged bytes; each becomes an IntegrityError naming the file
PARSE_ERRORS: tuple[type[Exception], ...] = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    LookupError,
    struct.error,
    ArithmeticError,
    SystemError,
)
#: NumPy parses a .npy header (at most 10,000 bytes) as a Python literal: deep nesting fails these ways too
HEADER_ERRORS: tuple[type[Exception], ...] = (*PARSE_ERRORS, SyntaxError, tokenize.TokenError, RecursionError, MemoryError)


def short_repr(obj: Any, limit: int = 120) -> str:
    """``repr`` for messages: truncated, and safe for huge ints or deep nesting."""
    try:
        text = repr(obj)
    except Exception:  # repr of damaged data must not replace the real message
        return f"<{type(obj).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def check_dtype(dtype: np.dtype[Any], source: str) -> np.dtype[Any]:
    """Return ``dtype`` if a BERG file may hold it, else raise :class:`IntegrityError`."""
    code = f"{dtype.kind}{dtype.itemsize}"
    ok = dtype.names is None and dtype.subdtype is None and dtype.metadata is None and (
        code in SAFE_DTYPE_CODES or (dtype.kind in "US" and dtype.itemsize > 0)
    )
    if not ok:
        raise IntegrityError(
            f"{source} holds an array of dtype {short_repr(dtype)}; BERG files hold only numbers, "
            "booleans, text and objects (the file is damaged or not a BERG file)"
        )
    return dtype


class _NDArrayName:
    """What the pickle's ``numpy.ndarray`` global resolves to: a name, not the class."""


_NDARRAY = _NDArrayName()


class _DtypeState:
    """A dtype named by the pickle; BUILD may set its byte order, nothing else."""

    __slots__ = ("built", "dtype")

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if isinstance(code, str) and _VOID_DTYPE.fullmatch(code) and 0 < int(code[1:]) <= MAX_VOID_BYTES:
            # a record (a NIfTI header's fields): kept as opaque bytes, its fields never built
            if align not in (False, 0) or copy not in (True, 1):
                raise IntegrityError(f"dtype {code} with align={short_repr(align)}, copy={short_repr(copy)}")
            self.dtype = np.dtype(code)
            self.built = False
            return
        if not isinstance(code, str) or not (code in SAFE_DTYPE_CODES or _TEXT_DTYPE.fullmatch(code)):
            raise IntegrityError(f"dtype {short_repr(code)} is not one BERG files hold")
        if align not in (False, 0) or copy not in (True, 1):
            raise IntegrityError(f"dtype {code} with align={short_repr(align)}, copy={short_repr(copy)}")
        self.dtype = np.dtype(code)
        self.built = False

    def set_state(self, state: Any) -> None:
        if self.dtype.kind == "V":
            self._set_void_state(state)
            return
        # NumPy writes (3, byteorder, None, None, None, elsize, alignment, flags)
        ok = (
            not self.built
            and isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[1] in ("<", ">", "|", "=")
            and state[2:5] == (None, None, None)
            and all(type(v) is int for v in state[5:])
        )
        if not ok:
            raise IntegrityError(f"dtype {self.dtype.str} has an unexpected pickled state {short_repr(state)}")
        if self.dtype.kind in "US":
            if state[5] != self.dtype.itemsize:
                raise IntegrityError(f"dtype {self.dtype.str} claims {state[5]} bytes per item")
        elif state[5] != -1:
            raise IntegrityError(f"dtype {self.dtype.str} has an unexpected item size {state[5]}")
        if state[1] in "<>" and (self.dtype.itemsize > 1 or self.dtype.kind == "U") and self.dtype.kind != "O":
            self.dtype = self.dtype.newbyteorder(state[1])
        self.built = True

    def _set_void_state(self, state: Any) -> None:
        # (3, '|', subarray or None, names or None, fields or None, elsize, alignment, flags): the layout of a
        # record's fields, which is only checked for its kind; the dtype stays plain bytes of elsize
        ok = (
            not self.built
            and isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[1] == "|"
            and (state[2] is None or (isinstance(state[2], tuple) and len(state[2]) == 2))
            and (state[3] is None or (isinstance(state[3], tuple) and all(isinstance(n, str) for n in state[3])))
            and (state[4] is None or isinstance(state[4], dict))
            and all(type(v) is int for v in state[5:])
            and state[5] == self.dtype.itemsize
        )
        if not ok:
            raise IntegrityError(
                f"dtype {self.dtype.str[1:]!r} is not one BERG files hold (a record dtype with the pickled state "
                f"{short_repr(state)})"
            )
        self.built = True


class _ArrayState:
    """Stands for an ndarray between ``_reconstruct`` and BUILD; finished after loading."""

    __slots__ = ("fortran", "raw", "shape", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.raw: Any = None
        self.shape: tuple[int, ...] = ()
        self.fortran = False


def _as_dtype(obj: Any) -> np.dtype[Any]:
    if isinstance(obj, _DtypeState):
        return obj.dtype
    raise IntegrityError(f"expected a dtype, found {short_repr(obj)}")


def checked_shape(shape: Any) -> tuple[int, ...]:
    """A shape of non-negative ints, at most :data:`MAX_NDIM` long."""
    if not isinstance(shape, (tuple, list)) or len(shape) > MAX_NDIM or not all(type(s) is int and s >= 0 for s in shape):
        raise IntegrityError(f"array shape {short_repr(shape)} is not a tuple of at most {MAX_NDIM} non-negative integers")
    return tuple(shape)


def checked_nbytes(shape: tuple[int, ...], dtype: np.dtype[Any], present: int) -> int:
    """``prod(shape) * itemsize`` (Python ints: no overflow), which must equal the ``present`` bytes."""
    need = math.prod(shape) * dtype.itemsize
    if need != present:
        raise IntegrityError(f"an array of shape {short_repr(shape)} and dtype {dtype} needs {need} bytes, the file holds {present}")
    return need


def _reconstruct(cls: Any, shape: Any = (0,), code: Any = b"b") -> _ArrayState:
    if cls is not _NDARRAY:
        raise IntegrityError("only numpy.ndarray can be reconstructed")
    return _ArrayState()


def _scalar(dtype: Any, data: Any = None) -> Any:
    dt = _as_dtype(dtype)
    if dt.hasobject or not isinstance(data, (bytes, str)):
        raise IntegrityError(f"a NumPy scalar of dtype {dt} must be stored as bytes")
    raw = data.encode("latin1") if isinstance(data, str) else data
    if len(raw) != dt.itemsize:
        raise IntegrityError(f"a NumPy scalar of dtype {dt} needs {dt.itemsize} bytes, found {len(raw)}")
    return np.frombuffer(raw, dtype=dt)[0]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    dt = _as_dtype(dtype)
    if dt.hasobject or not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F"):
        raise IntegrityError("a pickled buffer must hold bytes of a numeric dtype")
    shape_t = checked_shape(shape)
    checked_nbytes(shape_t, dt, len(buf))
    return np.frombuffer(buf, dtype=dt).reshape(shape_t, order=order).copy()


def _codecs_encode(obj: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    # protocol 2 pickles bytes as latin-1 text; no other codec is ever needed
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise IntegrityError(f"_codecs.encode with codec {short_repr(encoding)}; only latin1 is allowed")
    return obj.encode("latin1")


def _from_container(kind: type) -> Any:
    def build(*args: Any) -> Any:
        if not args:
            return kind()
        if len(args) == 1 and isinstance(args[0], (list, tuple, set, frozenset, dict, str, bytes)):
            return kind(args[0])
        raise IntegrityError(f"{kind.__name__} built from {short_repr(args)}")

    build.__name__ = f"safe_{kind.__name__}"
    return build


def _from_scalar(kind: type) -> Any:
    def build(*args: Any) -> Any:
        # numbers only from numbers or short text, never from a length (bytes(2**63))
        if all(isinstance(a, (int, float)) or (isinstance(a, str) and len(a) <= 100) for a in args) and len(args) <= 2:
            if kind is bytes and any(not isinstance(a, str) for a in args):
                raise IntegrityError(f"bytes built from {short_repr(args)}")
            if kind is str and args:
                raise IntegrityError(f"str built from {short_repr(args)}")
            return kind(*args)
        raise IntegrityError(f"{kind.__name__} built from {short_repr(args)}")

    build.__name__ = f"safe_{kind.__name__}"
    return build


def _bytes(*args: Any) -> bytes:
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], (bytes, list, tuple)) and len(args[0]) <= 1 << 30:
        return bytes(args[0])
    raise IntegrityError(f"bytes built from {short_repr(args)}")


def _slice(*args: Any) -> slice:
    if len(args) > 3 or not all(a is None or type(a) is int for a in args):
        raise IntegrityError(f"slice built from {short_repr(args)}")
    return slice(*args)


class _NiftiHeader:
    """A pickled ``nibabel.nifti1.Nifti1Header``: becomes its 348-byte binary block when finished."""

    __slots__ = ("block",)

    def __init__(self) -> None:
        self.block: bytes | None = None


class _NiftiExtensions(list):  # type: ignore[type-arg]
    """A header's (empty) extension list; any extension is refused (its class is not allowed)."""


# NumPy moved its internals from numpy.core to numpy._core in 2.0; files
# written by either version name one of them.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in _NUMPY_MODULES:
    _ALLOWED[(_mod, "_reconstruct")] = _reconstruct
    _ALLOWED[(_mod, "scalar")] = _scalar
    _ALLOWED[(_mod, "_frombuffer")] = _frombuffer
_ALLOWED[("numpy", "ndarray")] = _NDARRAY
_ALLOWED[("numpy", "dtype")] = _DtypeState
for _container in (dict, list, tuple, set, frozenset):
    _ALLOWED[("builtins", _container.__name__)] = _from_container(_container)
for _scalar_kind in (int, float, complex, bool, str):
    _ALLOWED[("builtins", _scalar_kind.__name__)] = _from_scalar(_scalar_kind)
_ALLOWED[("builtins", "bytes")] = _bytes
_ALLOWED[("builtins", "slice")] = _slice
for (_m, _n), _f in list(_ALLOWED.items()):
    if _m == "builtins":
        _ALLOWED[("__builtin__", _n)] = _f
_ALLOWED[("collections", "OrderedDict")] = _from_container(collections.OrderedDict)
_ALLOWED[("_codecs", "encode")] = _codecs_encode  # py2-era bytes pickling of array data
_ALLOWED[("nibabel.nifti1", "Nifti1Header")] = _NiftiHeader
_ALLOWED[("nibabel.nifti1", "Nifti1Extensions")] = _NiftiExtensions


class _BoundedReader:
    """The file as the unpickler sees it: a read past the end fails before allocating."""

    def __init__(self, fh: IO[bytes], end: int) -> None:
        self._fh = fh
        self.end = end

    def remaining(self) -> int:
        return self.end - self._fh.tell()

    def read(self, n: int = -1) -> bytes:
        left = self.remaining()
        if n < 0:
            n = left
        if n > left:
            raise EOFError(f"the pickle asks for {n} bytes, only {left} are left in the file")
        data = self._fh.read(n)
        if len(data) != n:
            raise EOFError(f"expected {n} bytes, got {len(data)}")
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[:] = data
        return len(data)

    def readline(self) -> bytes:
        return self._fh.readline(max(self.remaining(), 0))

    def tell(self) -> int:
        return self._fh.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._fh.seek(pos, whence)


def file_end(fh: IO[bytes]) -> int:
    """Size of a seekable file, the position left unchanged."""
    here = fh.tell()
    end = fh.seek(0, io.SEEK_END)
    fh.seek(here)
    return end


class _Opcodes(dict):  # type: ignore[type-arg]
    """Opcode table: an unknown opcode is damage, not a KeyError."""

    def __missing__(self, key: int) -> Any:
        raise pickle.UnpicklingError(f"invalid pickle opcode {bytes([key])!r}")


class BoundedUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Pure-Python unpickler resolving globals through :data:`_ALLOWED` only.

    Subclasses extend :meth:`find_class` and :meth:`build_other`. The result of
    :meth:`load` is finished: array placeholders replaced by arrays, depth
    and size bounded, no cycles.
    """

    dispatch: ClassVar[dict[int, Any]] = _Opcodes(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    # set by pickle._Unpickler (not in its type stubs)
    stack: list[Any]
    memo: dict[Any, Any]
    append: Any
    read: Any
    readline: Any
    _unframer: Any

    def __init__(self, fh: IO[bytes], source: str, end: int | None = None) -> None:
        self._reader = _BoundedReader(fh, file_end(fh) if end is None else end)
        super().__init__(self._reader, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        raise IntegrityError(
            f"{self._source} is unsafe: its pickle asks for {str(module)[:80]}.{str(name)[:80]}, but a BERG "
            "file may only hold NumPy arrays and plain containers. Nothing from it was executed; do not use this file."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise IntegrityError(f"{self._source} uses pickle persistent ids, which BERG files never contain")

    # ---- opcodes that would build objects other than through find_class's functions ----
    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _ArrayState):
            self.set_array_state(inst, state)
        elif isinstance(inst, _DtypeState):
            inst.set_state(state)
        else:
            self.build_other(inst, state)

    def build_other(self, inst: Any, state: Any) -> None:
        if isinstance(inst, _NiftiHeader):
            self._build_nifti_header(inst, state)
            return
        raise IntegrityError(f"the pickle sets the state of a {type(inst).__name__}, which BERG files never do")

    def _build_nifti_header(self, inst: _NiftiHeader, state: Any) -> None:
        # nibabel pickles {'_structarr': 0-d record array, 'extensions': Nifti1Extensions()}
        if inst.block is not None or not isinstance(state, dict) or "_structarr" not in state:
            raise IntegrityError(f"unexpected Nifti1Header state {short_repr(state)}")
        unknown = set(state) - {"_structarr", "extensions", "endianness"}
        if unknown:
            raise IntegrityError(f"a Nifti1Header with unexpected entries {sorted(map(str, unknown))}")
        ext = state.get("extensions")
        if ext is not None and not (isinstance(ext, _NiftiExtensions) and len(ext) == 0):
            raise IntegrityError("a Nifti1Header with extensions, which berg does not read")
        arr = state["_structarr"]
        if isinstance(arr, np.ndarray) and arr.dtype.kind == "V" and arr.shape == ():  # protocol 5's _frombuffer
            dtype, block = arr.dtype, arr.tobytes()
        elif isinstance(arr, _ArrayState) and arr.raw is not None and arr.shape == () and isinstance(arr.raw[1], bytes):
            dtype, block = arr.raw[0], arr.raw[1]
        else:
            dtype, block = None, b""
        if dtype is None or dtype.kind != "V" or len(block) != NIFTI1_HEADER_BYTES:
            raise IntegrityError(f"a Nifti1Header whose fields are not one {NIFTI1_HEADER_BYTES}-byte record")
        inst.block = block

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.new_object(cls, args))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if kwargs:
            raise IntegrityError("the pickle creates an object with keyword arguments")
        self.append(self.new_object(cls, args))

    def new_object(self, cls: Any, args: Any) -> Any:
        if cls in (_NiftiHeader, _NiftiExtensions) and args == ():
            return cls()
        raise IntegrityError(f"the pickle creates an object of type {short_repr(cls)}, which BERG files never do")

    def _refuse(self) -> None:
        raise IntegrityError("the pickle uses out-of-band buffers or opcodes BERG files never contain")

    def load_long4(self) -> None:
        (n,) = struct.unpack("<i", self.read(4))
        if n < 0 or n > 1024:  # ints in BERG files fit 64 bits; a longer one is damage
            raise IntegrityError(f"the pickle holds a {n}-byte integer")
        self.append(pickle.decode_long(self.read(n)))

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(n)))  # read() refuses n beyond the file before allocating

    def _memo_get(self, key: Any) -> None:
        try:
            self.append(self.memo[key])
        except KeyError:
            raise pickle.UnpicklingError(f"memo key {short_repr(key)} was never stored") from None

    def load_get(self) -> None:
        self._memo_get(int(self.readline()[:-1]))

    def load_binget(self) -> None:
        self._memo_get(self.read(1)[0])

    def load_long_binget(self) -> None:
        (i,) = struct.unpack("<I", self.read(4))
        self._memo_get(i)

    dispatch[pickle.GET[0]] = load_get
    dispatch[pickle.BINGET[0]] = load_binget
    dispatch[pickle.LONG_BINGET[0]] = load_long_binget
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.LONG4[0]] = load_long4
    for _op in (pickle.NEXT_BUFFER, pickle.READONLY_BUFFER, pickle.INST, pickle.OBJ, pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse

    # ---- arrays -------------------------------------------------------------------------
    def set_array_state(self, inst: _ArrayState, state: Any) -> None:
        if inst.raw is not None or not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise IntegrityError(f"unexpected ndarray state {short_repr(state)}")
        _version, shape, dtype, fortran, raw = state
        dt = _as_dtype(dtype)
        if dt.kind != "V":  # records are opaque bytes, allowed only inside a NIfTI header (checked when finished)
            dt = check_dtype(dt, self._source)
        inst.shape = checked_shape(shape)
        if type(fortran) is not bool:
            raise IntegrityError(f"ndarray order flag {short_repr(fortran)} is not a bool")
        inst.fortran = fortran
        if dt.hasobject:
            if not isinstance(raw, list):
                raise IntegrityError("an object array's items must be a list")
            checked_nbytes(inst.shape, np.dtype(np.int8), len(raw))  # one item per element
        else:
            if isinstance(raw, str):  # protocol 2: bytes pickled as latin-1 text
                raw = raw.encode("latin1")
            raw = self.check_array_data(raw, inst.shape, dt)
        inst.raw = (dt, raw)

    def check_array_data(self, raw: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
        if not isinstance(raw, bytes):
            raise IntegrityError(f"array data must be bytes, found {type(raw).__name__}")
        checked_nbytes(shape, dtype, len(raw))
        return raw

    def make_array(self, inst: _ArrayState, items: list[Any] | None) -> Any:
        """The array of a finished placeholder (``items``: an object array's finished items)."""
        dt, raw = inst.raw
        order: Literal["C", "F"] = "F" if inst.fortran else "C"
        if items is not None:
            arr = np.empty(len(items), dtype=object)
            for i, v in enumerate(items):
                arr[i] = v
            return arr.reshape(inst.shape, order=order)
        return np.frombuffer(raw, dtype=dt).reshape(inst.shape, order=order).copy()

    # ---- the result ---------------------------------------------------------------------
    def load(self) -> Any:
        return self.finish(super().load())

    def finish(self, root: Any) -> Any:
        """Replace placeholders; refuse cycles, depth over :data:`MAX_DEPTH`, trees over :data:`MAX_OBJECTS`."""
        done: dict[int, tuple[Any, int]] = {}  # id -> (finished object, objects below it as a tree)
        active: set[int] = set()
        keep: list[Any] = []  # keeps ids valid while walking

        def walk(obj: Any, depth: int) -> tuple[Any, int]:
            key = id(obj)
            if key in done:
                return done[key]
            if depth > MAX_DEPTH:
                raise IntegrityError(f"the pickle nests deeper than {MAX_DEPTH} levels")
            if key in active:
                raise IntegrityError("the pickle holds a reference cycle")
            active.add(key)
            keep.append(obj)
            out, size = self.finish_one(obj, lambda child: walk(child, depth + 1))
            active.discard(key)
            if size > MAX_OBJECTS:
                raise IntegrityError(f"the pickle expands to more than {MAX_OBJECTS} objects")
            done[key] = (out, size)
            return out, size

        return walk(root, 0)[0]

    def finish_one(self, obj: Any, walk: Any) -> tuple[Any, int]:
        size = 1
        if isinstance(obj, _NiftiHeader):
            if obj.block is None:
                raise IntegrityError("a Nifti1Header in the pickle has no state")
            return obj.block, 1
        if isinstance(obj, _ArrayState):
            if obj.raw is None:
                raise IntegrityError("an ndarray in the pickle has no state")
            if obj.raw[0].kind == "V":
                raise IntegrityError(f"dtype {obj.raw[0].str[1:]!r} is not one BERG files hold (a record array outside a NIfTI header)")
            items = None
            if obj.raw[0].hasobject:
                items = []
                for v in obj.raw[1]:
                    fv, n = walk(v)
                    items.append(fv)
                    size += n
            value = self.make_array(obj, items)
            if isinstance(value, np.ndarray) and value.dtype.hasobject and value.shape == ():
                value = value.item()
            return value, size
        if isinstance(obj, _DtypeState):
            return obj.dtype, 1
        if isinstance(obj, (dict, collections.OrderedDict)):
            pairs = []
            for k, v in obj.items():
                fk, nk = walk(k)
                fv, nv = walk(v)
                pairs.append((fk, fv))
                size += nk + nv
            return type(obj)(pairs), size
        if isinstance(obj, (list, tuple, set, frozenset)):
            items = []
            for v in obj:
                fv, n = walk(v)
                items.append(fv)
                size += n
            return type(obj)(items), size
        return self.finish_other(obj)

    def finish_other(self, obj: Any) -> tuple[Any, int]:
        if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind == "V":
            raise IntegrityError(f"dtype {obj.dtype.str[1:]!r} is not one BERG files hold (a record array outside a NIfTI header)")
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, bytearray, slice, np.generic, np.ndarray)):
            return obj, 1
        raise IntegrityError(f"the pickle holds an unsupported {type(obj).__name__}")


#: kept for callers of the former name
RestrictedUnpickler = BoundedUnpickler


def unpickle(fh: IO[bytes], source: str, cls: type[BoundedUnpickler] = BoundedUnpickler, **kwargs: Any) -> Any:
    """Run ``cls`` on ``fh``; every failure becomes an :class:`IntegrityError` naming ``source``."""
    try:
        return cls(fh, source, **kwargs).load()
    except IntegrityError as exc:
        text = str(exc)
        raise IntegrityError(text if source in text else f"{source}: {text}") from None
    except BERGError:
        raise
    except PARSE_ERRORS as exc:
        raise IntegrityError(f"{source} is corrupt or truncated: {type(exc).__name__}: {str(exc)[:200]}") from None


def restricted_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing only NumPy arrays and plain containers."""
    return unpickle(io.BytesIO(data), source)


def read_npy_header(fh: IO[bytes], source: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Read a ``.npy`` header, checking its shape and dtype (:func:`check_dtype`).

    Raises
    ------
    IntegrityError
        Not a ``.npy`` file, or a header no BERG file has.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unknown .npy version {version}")
        header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = header(fh)
    except HEADER_ERRORS as exc:
        raise IntegrityError(f"{source} is not a valid .npy file: {type(exc).__name__}: {str(exc)[:200]}") from None
    try:
        return checked_shape(shape), bool(fortran), check_dtype(dtype, source)
    except IntegrityError as exc:
        raise IntegrityError(f"{source}: {exc}") from None


def load_pickled_npy(fh: IO[bytes], source: str) -> Any:
    """Load a ``.npy`` file safely.

    Plain numeric ``.npy`` files are read by NumPy without pickle. Object
    arrays (BERG 2.0's dicts) are unpickled with :class:`BoundedUnpickler`;
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
        The file is not a ``.npy`` file, is truncated or damaged, or asks to run code.
    """
    if not fh.seekable():
        fh = io.BytesIO(fh.read())
    shape, fortran, dtype = read_npy_header(fh, source)
    if not dtype.hasobject:
        left = file_end(fh) - fh.tell()
        nbytes = math.prod(shape) * dtype.itemsize
        # checked before allocating: a damaged header may claim terabytes
        if nbytes > left:
            raise IntegrityError(f"{source} is truncated: expected {nbytes} bytes of data, the file holds {left}")
        if nbytes < left:
            raise IntegrityError(f"{source} is damaged: its header declares {nbytes} bytes of data, the file holds {left}")
        arr = np.empty(math.prod(shape), dtype=dtype)
        got = _read_into(fh, arr.data.cast("B"))
        if got != arr.nbytes:
            raise IntegrityError(f"{source} is truncated: expected {arr.nbytes} bytes of data, found {got}")
        return arr.reshape(shape, order="F" if fortran else "C")
    obj = unpickle(fh, source)
    if not isinstance(obj, np.ndarray) and shape != ():
        raise IntegrityError(f"{source}: expected a pickled object array, found {type(obj).__name__}")
    return obj


def _read_into(fh: IO[bytes], buf: memoryview) -> int:
    total = 0
    while total < len(buf):
        n = fh.readinto(buf[total:])  # type: ignore[attr-defined]
        if not n:
            break
        total += n
    return total

