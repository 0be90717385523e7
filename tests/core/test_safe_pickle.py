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
