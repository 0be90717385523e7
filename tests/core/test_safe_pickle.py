"""The restricted unpickler reads BERG 2.0's files and refuses anything that runs code."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from berg_core import IntegrityError
from berg_core.io import load_pickled_npy


def _npy_bytes(obj, allow_pickle=True):
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=allow_pickle)
    return buf.getvalue()


def test_reads_a_berg_style_dict_of_arrays_and_scalars():
    rng = np.random.default_rng(0)
    data = {
        "scaler_param": {"mean_": rng.normal(size=10), "n_samples_seen_": np.int64(7), "n_features_in_": 10},
        "pca_param": {"components_": rng.normal(size=(3, 10)).astype(np.float32), "noise_variance_": np.float64(0.5)},
        "names": ["Fp1", "Oz"],
        "nested": {"t": (1, 2.5), "none": None},
    }
    out = load_pickled_npy(io.BytesIO(_npy_bytes(data)), "w.npy")
    np.testing.assert_array_equal(out["scaler_param"]["mean_"], data["scaler_param"]["mean_"])
    assert out["pca_param"]["components_"].dtype == np.float32
    assert out["scaler_param"]["n_samples_seen_"] == 7 and out["names"] == ["Fp1", "Oz"]
    assert out["nested"] == {"t": (1, 2.5), "none": None}


def test_reads_plain_numeric_npy_without_pickle():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(load_pickled_npy(io.BytesIO(_npy_bytes(arr, False)), "a.npy"), arr)
    f = np.asfortranarray(arr)
    np.testing.assert_array_equal(load_pickled_npy(io.BytesIO(_npy_bytes(f, False)), "f.npy"), arr)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = _npy_bytes({"scaler_param": {"mean_": np.zeros(3)}, "x": _Evil(marker)})
    with pytest.raises(IntegrityError, match=r"evil.npy is unsafe: its pickle asks for (posix|os)\.system"):
        load_pickled_npy(io.BytesIO(payload), "evil.npy")
    assert not marker.exists()


@pytest.mark.parametrize("target", ["builtins.eval", "builtins.exec", "subprocess.Popen", "numpy.load"])
def test_other_dangerous_globals_are_refused(target):
    module, name = target.rsplit(".", 1)
    raw = b"\x80\x04\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93."
    header = _npy_bytes(np.array(None, dtype=object))
    # swap the pickle body of a valid object .npy for the hostile one
    hdr_len = header.index(b"\n") + 1
    with pytest.raises(IntegrityError, match=f"asks for {module}.{name}"):
        load_pickled_npy(io.BytesIO(header[:hdr_len] + raw), "x.npy")


def test_truncated_and_non_npy_files_are_integrity_errors():
    good = _npy_bytes({"a": np.arange(1000.0)})
    with pytest.raises(IntegrityError, match="t.npy is corrupt or truncated"):
        load_pickled_npy(io.BytesIO(good[: len(good) // 2]), "t.npy")
    with pytest.raises(IntegrityError, match="not a valid .npy file"):
        load_pickled_npy(io.BytesIO(b"PK\x03\x04 not numpy"), "z.npy")
    plain = _npy_bytes(np.arange(100.0), False)
    with pytest.raises(IntegrityError, match="p.npy is truncated: expected 800 bytes"):
        load_pickled_npy(io.BytesIO(plain[:-8]), "p.npy")


# ---- hostile and damaged pickles: always an IntegrityError naming the file, never a crash --------
# Each case is checked with both readers (the restricted one and the lazy one of the weight files),
# and with a tracemalloc bound: a reader must refuse before allocating what the file claims.
import codecs  # noqa: E402
import pickle  # noqa: E402
import struct  # noqa: E402
import tracemalloc  # noqa: E402

from berg_core.io.lazy_pickle import load_lazy_npy  # noqa: E402

MAX_ALLOCATED = 64 << 20


class _Reduce:
    """Pickles as ``func(*args)`` (then BUILD ``state``), without calling anything here."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _object_npy(body: bytes) -> bytes:
    """A 0-d object ``.npy`` (BERG 2.0's dict files) whose pickle is ``body``."""
    header = _npy_bytes(np.array(None, dtype=object))
    return header[: header.index(b"\n") + 1] + body


def _array_state(shape, dtype, data):
    # what np.ndarray.__reduce__ gives, with a state of our choosing
    return _Reduce(np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, shape, np.dtype(dtype), False, data))


def _flip_dtype(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(b"\x8c\x02" + old) >= 1
    return data.replace(b"\x8c\x02" + old, b"\x8c\x02" + new, 1)


def _nested(depth: int) -> bytes:
    return b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."


def _shared_tree(levels: int) -> bytes:
    # billion laughs: each level is a list holding the previous one twice (memo references)
    out = b"\x80\x04\x8c\x01x\x94"
    for i in range(levels):
        get = b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)
        out += b"](" + get + get + b"e\x94"
    return out + b"."


def _bin(data: bytes) -> bytes:
    return _object_npy(data)


BERG_DICT = _npy_bytes({"eeg": {"ch_names": ["Fp1", "Oz"]}, "encoding_models": {"r": np.arange(6.0).reshape(2, 3)}})

HOSTILE_NPY = {
    # ---- dtypes beyond what BERG files hold (one flipped bit made 'O8' into 'M8': a SIGSEGV in NumPy 2.4)
    "object dtype flipped to M8": (_flip_dtype(BERG_DICT, b"O8", b"M8"), r"dtype 'M8' is not one BERG files hold"),
    "object dtype flipped to m8": (_flip_dtype(BERG_DICT, b"O8", b"m8"), r"dtype 'm8' is not one"),
    "float dtype flipped to M8": (_flip_dtype(BERG_DICT, b"f8", b"M8"), r"dtype 'M8' is not one"),
    "float dtype flipped to V8": (_flip_dtype(BERG_DICT, b"f8", b"V8"), r"dtype 'V8' is not one"),
    "a datetime array": (_npy_bytes({"t": np.array(["2020-01-01"], dtype="M8[D]")}), r"dtype 'M8' is not one"),
    "a structured array": (_npy_bytes({"s": np.zeros(2, dtype=[("x", "f8"), ("y", "i4")])}), r"dtype 'V\d+' is not one"),
    "a dtype state with fields": (
        _npy_bytes({"a": np.arange(3.0)}).replace(b"NNNJ\xff\xff\xff\xff", b"N)NJ\xff\xff\xff\xff", 1),
        r"unexpected pickled state"),
    "a datetime .npy header": (_npy_bytes(np.array(["2020"], dtype="M8[Y]"), False), r"dtype .*M8.* BERG files hold only"),
    "a structured .npy header": (_npy_bytes(np.zeros(2, dtype=[("x", "f8")]), False), r"BERG files hold only"),
    # ---- sizes declared beyond the bytes present, checked before allocating
    "bytes(2**63)": (_bin(pickle.dumps(_Reduce(bytes, (2**63,)), 4)), r"bytes built from"),
    "bytes(10**9)": (_bin(pickle.dumps(_Reduce(bytes, (10**9,)), 4)), r"bytes built from"),
    "a 2**62-byte BINBYTES8": (_bin(b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"xx."), r"asks for \d+ bytes, only 3"),
    "a 2**31-byte BINUNICODE": (_bin(b"\x80\x04X" + struct.pack("<I", 2**31) + b"xx."), r"asks for \d+ bytes"),
    "a 2**60-byte frame": (_bin(b"\x80\x04\x95" + struct.pack("<Q", 2**60) + b"N."), r"asks for \d+ bytes"),
    "an array claiming 10**12 elements": (_bin(pickle.dumps(_array_state((10**12,), "f8", b"\0" * 8), 4)), r"needs 8000000000000 bytes, the file holds 8"),
    "an array claiming 2**64 rows (int64 overflow)": (
        _bin(pickle.dumps(_array_state((2**63, 2), "f8", b"\0" * 8), 4)), r"needs \d+ bytes, the file holds 8"),
    "a negative shape": (_bin(pickle.dumps(_array_state((-1,), "f8", b"\0" * 8), 4)), r"shape \(-1,\) is not"),
    "a 40-dimensional shape": (_bin(pickle.dumps(_array_state((1,) * 40, "f8", b"\0" * 8), 4)), r"at most 32"),
    "a .npy header claiming 10**12 elements": (
        _npy_bytes(np.zeros(1), False).replace(b"(1,)", b"(10**12,)".replace(b"10**12", b"1000000000000"), 1)[:-8] + b"\0" * 8,
        r"(expected|needs) 8000000000000 bytes"),
    "a scalar of the wrong size": (_bin(pickle.dumps(_Reduce(np._core.multiarray.scalar, (np.dtype("f8"), b"\0" * 3)), 4)), r"needs 8 bytes"),
    # ---- numbers, nesting, cycles
    "a 5,000-digit LONG": (_bin(b"\x80\x02L" + b"9" * 5000 + b"L\n."), r"corrupt or truncated: ValueError"),
    "a 1 MB LONG4": (_bin(b"\x80\x04\x8b" + struct.pack("<i", 10**6) + b"\x7f" * 10**6 + b"."), r"1000000-byte integer"),
    "10**5-deep nesting": (_bin(_nested(10**5)), r"nests deeper than 64"),
    "a list that holds itself": (_bin(b"\x80\x04]\x94h\x00a."), r"reference cycle"),
    "a 2**60-leaf shared tree": (_bin(_shared_tree(60)), r"more than 10000000 objects"),
    # ---- codecs, opcodes, constructions BERG files never contain
    "an unknown codec": (_bin(pickle.dumps(_Reduce(codecs.encode, ("x", "no-such-codec")), 2)), r"codec 'no-such-codec'"),
    "the rot13 codec": (_bin(pickle.dumps(_Reduce(codecs.encode, ("x", "rot13")), 2)), r"codec 'rot13'"),
    "an invalid opcode": (_bin(b"\x80\x04\xff."), r"invalid pickle opcode"),
    "a memo key never stored": (_bin(b"\x80\x04h\x07."), r"memo key 7 was never stored"),
    "an empty pickle": (_bin(b""), r"corrupt or truncated"),
    "a persistent id": (_bin(b"\x80\x04N\x51."), r"persistent ids"),
    "NEWOBJ of an allowed function": (_bin(b"\x80\x04\x8c\x05numpy\x8c\x07ndarray\x93)\x81."), r"creates an object"),
    "BUILD on a dict": (_bin(b"\x80\x04}}b."), r"sets the state of a dict"),
    "an out-of-band buffer": (_bin(b"\x80\x05\x97."), r"out-of-band buffers"),
    "str with a codec": (_bin(pickle.dumps(_Reduce(str, (b"x", "utf-8")), 4)), r"str built from"),
}


@pytest.mark.parametrize("reader", ["restricted", "lazy"])
@pytest.mark.parametrize("case", sorted(HOSTILE_NPY))
def test_a_hostile_or_damaged_npy_is_an_integrity_error_naming_it_before_allocating(case, reader):
    data, message = HOSTILE_NPY[case]
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError, match=message) as err:
            if reader == "restricted":
                load_pickled_npy(io.BytesIO(data), "hostile.npy")
            else:
                load_lazy_npy(lambda: io.BytesIO(data), "hostile.npy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "hostile.npy" in str(err.value)
    assert peak < MAX_ALLOCATED + 4 * len(data), f"{case}: {peak >> 20} MiB allocated before refusing"


def test_every_dtype_and_construction_of_berg_files_still_reads():
    # the allow-list is exactly what NumPy writes for BERG 2.0's contents, in every pickle protocol
    rng = np.random.default_rng(1)
    data = {
        "floats": {d: rng.normal(size=(2, 3)).astype(d) for d in ("f2", "f4", "f8", ">f8")},
        "ints": {d: np.arange(-3, 3).astype(d) for d in ("i1", "i2", "i4", "i8", "<i8")},
        "uints": np.arange(4, dtype="u2"), "bools": np.array([True, False]), "complex": np.array([1 + 2j]),
        "text": np.array(["Fp1", "Oz"]), "bytes": np.array([b"ab"]), "objects": np.array([{"a": 1}, [2]], dtype=object),
        "fortran": np.asfortranarray(rng.normal(size=(3, 2))),
        "scalars": [np.float32(1.5), np.int64(7), np.bool_(True)], "set": {1, 2}, "frozen": frozenset({3}),
        "tuple": (1, "a", None), "bytes_value": b"\x00\xff", "complex_value": 1 + 2j, "big_int": 2**70,
    }
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        raw = _object_npy(pickle.dumps(np.array(data, dtype=object), protocol))
        for out in (load_pickled_npy(io.BytesIO(raw), "ok.npy"), load_lazy_npy(lambda raw=raw: io.BytesIO(raw), "ok.npy")):
            for group in ("floats", "ints"):
                for key, arr in data[group].items():
                    np.testing.assert_array_equal(out[group][key], arr)
                    assert out[group][key].dtype == arr.dtype
            for key in ("uints", "bools", "complex", "text", "bytes", "fortran"):
                np.testing.assert_array_equal(out[key], data[key])
                assert out[key].dtype == data[key].dtype
            assert list(out["objects"]) == [{"a": 1}, [2]]
            assert out["scalars"] == data["scalars"] and out["set"] == {1, 2} and out["frozen"] == frozenset({3})
            assert out["tuple"] == (1, "a", None) and out["bytes_value"] == b"\x00\xff"
            assert out["complex_value"] == 1 + 2j and out["big_int"] == 2**70
