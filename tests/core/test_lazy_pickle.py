"""Lazy reading of pickled .npy dicts: only the rows asked for, nothing executed, any pickle protocol."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from berg_core import IntegrityError
from berg_core.io.lazy_pickle import LazyArray, load_lazy_npy, read_rows


class CountingFile(io.FileIO):
    """A real file that counts the bytes read from it."""

    total = 0

    def read(self, n=-1):
        data = super().read(n)
        CountingFile.total += len(data)
        return data


def _save(path, obj, protocol):
    arr = np.empty((), dtype=object)
    arr[()] = obj
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(arr, fh, protocol=protocol)


def _data():
    rng = np.random.default_rng(0)
    return {
        "scaler_param": {"mean_": rng.normal(size=50_000), "n_samples_seen_": np.int64(9), "n_features_in_": 50_000},
        "pca_param": {"components_": rng.normal(size=(6, 50_000)).astype(np.float32), "noise_variance_": np.float64(0.5)},
        "lh_reg_param": {"coef_": rng.normal(size=(40_000, 6)), "intercept_": rng.normal(size=40_000)},
        "names": ["Fp1", "Oz"],
        "fortran": np.asfortranarray(rng.normal(size=(300, 40))),
    }


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_protocol_gives_the_same_values(tmp_path, protocol):
    path = tmp_path / "w.npy"
    data = _data()
    _save(path, data, protocol)
    out = load_lazy_npy(lambda: open(path, "rb"), str(path))
    rows = np.array([39_999, 3, 17, 20_000, 3])
    np.testing.assert_array_equal(read_rows(out["lh_reg_param"]["coef_"], rows), data["lh_reg_param"]["coef_"][rows])
    np.testing.assert_array_equal(read_rows(out["pca_param"]["components_"], None), data["pca_param"]["components_"])
    np.testing.assert_array_equal(read_rows(out["fortran"], [5, 1]), data["fortran"][[5, 1]])
    assert out["scaler_param"]["n_samples_seen_"] == 9 and out["names"] == ["Fp1", "Oz"]


def test_large_arrays_stay_on_disk_and_rows_read_only_their_bytes(tmp_path):
    path = tmp_path / "w.npy"
    data = _data()
    np.save(path, data, allow_pickle=True)
    CountingFile.total = 0
    out = load_lazy_npy(lambda: CountingFile(path, "rb"), str(path))
    coef = out["lh_reg_param"]["coef_"]
    assert isinstance(coef, LazyArray) and coef.shape == (40_000, 6)
    assert CountingFile.total < 100_000  # the structure, not the 3 MB of arrays
    CountingFile.total = 0
    got = coef.read(np.array([10, 11, 12]))
    np.testing.assert_array_equal(got, data["lh_reg_param"]["coef_"][10:13])
    assert CountingFile.total == 3 * 6 * 8


def test_lazy_reader_refuses_code_and_never_runs_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.npy"
    np.save(path, {"big": np.zeros(100_000), "x": Evil()}, allow_pickle=True)
    with pytest.raises(IntegrityError, match=r"unsafe: its pickle asks for (posix|os)\.system"):
        load_lazy_npy(lambda: open(path, "rb"), str(path))
    assert not marker.exists()


def test_truncated_file_is_an_integrity_error_when_its_rows_are_read(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, {"a": np.arange(200_000.0), "b": 1}, allow_pickle=True)
    raw = path.read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(raw[: len(raw) - 50])
    with pytest.raises(IntegrityError, match="corrupt or truncated"):
        load_lazy_npy(lambda: open(cut, "rb"), str(cut))


@pytest.mark.parametrize("reuse", [0, 1, 3])
def test_row_blocks_with_reused_buffers_give_the_same_rows(tmp_path, reuse):
    path = tmp_path / "w.npy"
    comp = np.random.default_rng(4).normal(size=(37, 1000))
    np.save(path, {"pca": {"components_": comp}}, allow_pickle=True)
    arr = load_lazy_npy(lambda: open(path, "rb"), str(path))["pca"]["components_"]
    starts, rows = [], []
    for start, block in arr.iter_row_blocks(8, reuse=reuse):
        starts.append(start)
        rows.append(block.copy())  # with reuse, a block is overwritten some blocks later
    assert starts == [0, 8, 16, 24, 32]
    np.testing.assert_array_equal(np.concatenate(rows), comp)
    # the file cut short after it was opened: the block that runs past the end says so
    raw = path.read_bytes()
    path.write_bytes(raw[: arr.offset + arr.nbytes - 100])
    with pytest.raises(IntegrityError, match="truncated"):
        list(arr.iter_row_blocks(8, reuse=reuse))


def test_large_arrays_of_local_files_are_mapped_copy_on_write(tmp_path):
    coef = np.random.default_rng(5).normal(size=(600, 250)).astype(np.float32)  # 600 KB: read
    big = np.random.default_rng(6).normal(size=(3000, 250)).astype(np.float32)  # 3 MB: mapped where aligned
    seen = set()
    for pad in range(4):  # the payload's offset in the pickle moves with the bytes before it
        path = tmp_path / f"w{pad}.npy"
        np.save(path, {"pad": "x" * pad, "coef_": coef, "big": big}, allow_pickle=True)
        raw = path.read_bytes()
        tree = load_lazy_npy(lambda path=path: open(path, "rb"), str(path))
        small, whole = tree["coef_"].read(), tree["big"].read()
        aligned = tree["big"].offset % 4 == 0
        seen.add(aligned)
        assert not isinstance(small, np.memmap) and isinstance(whole, np.memmap) == aligned
        np.testing.assert_array_equal(small, coef)
        np.testing.assert_array_equal(whole, big)
        whole[0, 0] = 123.0  # writable either way; a mapped array privately: the file keeps its bytes
        assert path.read_bytes() == raw
    assert seen == {True, False}
