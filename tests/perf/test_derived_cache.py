"""The persistent cache of folded projections and float32 heads (berg_core.store.derived_cache).

A BERG 2.0 weight file is written here in its real format (a pickled dict of float64 arrays,
``numpy.save(allow_pickle=True)``), small but above the cache's size threshold; every result is
compared with an independent float64 NumPy fold and with the uncached path, bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core.io import lazy_pickle
from berg_core.models.folded_heads import read_regression_rows
from berg_core.models.weights import PickledNpyFile, read_folded_projection
from berg_core.store import derived_cache
from berg_core.store.model_store import Store

K, F, U = 64, 2304, 1200  # components_ 64 x 2304 float64 = 1.2 MB; coef_ 1200 x 64 float64 = 0.6 MB
REL = "encoding_models/weights_subject-01.npy"


def _weights(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "scaler_param": {"mean_": rng.normal(size=F), "scale_": rng.uniform(0.5, 2.0, size=F)},
        "pca_param": {"mean_": rng.normal(size=F), "components_": rng.normal(size=(K, F))},
        "reg_param": {"coef_": rng.normal(size=(U, K)), "intercept_": rng.normal(size=U)},
    }


def _write(root: Path, seed: int = 0) -> Path:
    path = root / REL
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array(_weights(seed), dtype=object), allow_pickle=True)
    return path


def _load(root: Path, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    wf = PickledNpyFile(Store(str(root)), REL)
    try:
        W, c = read_folded_projection(wf)
        coef, intercept = read_regression_rows(wf, "reg_param", rows, U, K)
    finally:
        wf.close()
    return np.array(W), np.array(c), np.array(coef), np.array(intercept)


def _reference(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    w = _weights(seed)
    scale, comp = w["scaler_param"]["scale_"], w["pca_param"]["components_"]
    shift = w["scaler_param"]["mean_"] / scale + w["pca_param"]["mean_"]
    return comp / scale, -(comp @ shift)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("BERG_CACHE_DIR", str(root))
    monkeypatch.delenv(derived_cache.ENABLE_ENV, raising=False)
    monkeypatch.delenv(derived_cache.LIMIT_ENV, raising=False)
    monkeypatch.setattr(derived_cache, "MIN_BYTES", 256 << 10)
    return root / derived_cache.DERIVED_DIR


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Shapes of the stored arrays read from the source file (whole, by rows, or by row blocks)."""
    seen: list[tuple[int, ...]] = []
    read, blocks = lazy_pickle.LazyArray.read, lazy_pickle.LazyArray.iter_row_blocks

    def counted_read(self: Any, rows: Any = None) -> np.ndarray:
        seen.append(self.shape)
        return read(self, rows)

    def counted_blocks(self: Any, block_rows: int, reuse: int = 0) -> Any:
        seen.append(self.shape)
        return blocks(self, block_rows, reuse)

    monkeypatch.setattr(lazy_pickle.LazyArray, "read", counted_read)
    monkeypatch.setattr(lazy_pickle.LazyArray, "iter_row_blocks", counted_blocks)
    return seen


def _files(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.npy")) if cache.exists() else []


def test_second_load_reads_the_cache_not_the_float64_arrays(tmp_path: Path, cache: Path, reads: list[Any]) -> None:
    _write(tmp_path)
    first = _load(tmp_path)
    assert (K, F) in reads and (U, K) in reads
    assert len(_files(cache)) == 3  # W, c, coef_ as float32
    reads.clear()
    second = _load(tmp_path)
    assert (K, F) not in reads and (U, K) not in reads  # neither components_ nor coef_ was read again
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    W64, c64 = _reference()
    np.testing.assert_allclose(second[0], W64, rtol=2e-7, atol=0)
    np.testing.assert_allclose(second[1], c64, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(second[2], _weights()["reg_param"]["coef_"].astype(np.float32))


def test_cached_outputs_are_bit_identical_to_the_uncached_path(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path)
    rows = np.array([5, 3, 1100, 7, 7, *range(400, 800)])  # a large selection, unordered, with a repeat
    _load(tmp_path, rows)  # fills the cache
    cached = _load(tmp_path, rows)
    small = _load(tmp_path, np.array([9, 2]))  # a small selection uses the cache that is there
    monkeypatch.setenv(derived_cache.ENABLE_ENV, "0")
    plain, plain_small = _load(tmp_path, rows), _load(tmp_path, np.array([9, 2]))
    for a, b in zip(cached + small, plain + plain_small, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_small_selection_alone_does_not_convert_the_whole_regression(tmp_path: Path, cache: Path, reads: list[Any]) -> None:
    _write(tmp_path)
    _load(tmp_path, np.array([3]))
    assert len(_files(cache)) == 2  # the projection only: one row of coef_ is cheaper read from the source


def test_rewritten_or_touched_source_invalidates(tmp_path: Path, cache: Path, reads: list[Any]) -> None:
    path = _write(tmp_path, seed=0)
    _load(tmp_path)
    old_entries = {p.name for p in cache.iterdir()}
    _write(tmp_path, seed=1)  # other weights, same path
    reads.clear()
    W, _c, coef, _ = _load(tmp_path)
    assert (K, F) in reads  # read and folded again
    W64, _ = _reference(seed=1)
    np.testing.assert_allclose(W, W64, rtol=2e-7, atol=0)
    np.testing.assert_array_equal(coef, _weights(1)["reg_param"]["coef_"].astype(np.float32))
    assert not old_entries & {p.name for p in cache.iterdir()}  # the old version's entry is gone
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched only
    reads.clear()
    _load(tmp_path)
    assert (K, F) in reads


def test_truncated_or_foreign_cache_file_is_rebuilt_never_used(tmp_path: Path, cache: Path, reads: list[Any]) -> None:
    _write(tmp_path)
    expected = _load(tmp_path)
    biggest = max(_files(cache), key=lambda p: p.stat().st_size)
    with open(biggest, "r+b") as fh:
        fh.truncate(biggest.stat().st_size - 4)
    reads.clear()
    again = _load(tmp_path)
    assert reads  # rebuilt from the source
    assert all(np.array_equal(a, b) for a, b in zip(expected, again, strict=True))
    assert biggest.stat().st_size > 0 and biggest.exists()
    # an array of another shape under the same name (a foreign file) is refused too
    np.save(biggest, np.zeros((2, 2), dtype=np.float32))
    again = _load(tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(expected, again, strict=True))


def test_off_switch(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, reads: list[Any]) -> None:
    _write(tmp_path)
    monkeypatch.setenv(derived_cache.ENABLE_ENV, "0")
    _load(tmp_path)
    _load(tmp_path)
    assert _files(cache) == []
    assert reads.count((K, F)) == 2


def test_eviction_keeps_the_cache_under_its_limit(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one_file = (K * F + K + U * K) * 4 + 3 * 128  # W, c, coef_ as float32, with their headers
    monkeypatch.setenv(derived_cache.LIMIT_ENV, str(1.5 * one_file / (1 << 30)))  # room for one file's arrays
    stores = [tmp_path / f"s{i}" for i in range(3)]
    for i, root in enumerate(stores):
        _write(root, seed=i)
        _load(root)
        time.sleep(0.01)  # distinct folder times
    assert sum(p.stat().st_size for p in _files(cache)) <= 1.5 * one_file
    assert len(list(cache.iterdir())) == 1  # only the most recent source is kept
    got = _load(stores[2])
    W64, _ = _reference(seed=2)
    np.testing.assert_allclose(got[0], W64, rtol=2e-7, atol=0)
    monkeypatch.setenv(derived_cache.LIMIT_ENV, "0")  # nothing fits: nothing is written, loads still work
    _write(tmp_path / "s3", seed=3)
    before = _files(cache)
    _load(tmp_path / "s3")
    assert _files(cache) == before


_WRITER = r"""
import sys, numpy as np
from berg_core.store import derived_cache
entry = derived_cache.source_entry(sys.argv[1])
arr = np.arange(int(sys.argv[2]), dtype=np.float32).reshape(-1, 1024)
for _ in range(int(sys.argv[3])):
    entry.put("concurrent", arr)
"""


def test_concurrent_writers_never_leave_a_half_written_entry_in_use(tmp_path: Path, cache: Path) -> None:
    source = _write(tmp_path)
    n = 4 << 20  # 16 MB of float32: long enough to write that a reader would catch a partial file
    expected = np.arange(n, dtype=np.float32).reshape(-1, 1024)
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(source), str(n), "4"], env=env) for _ in range(2)]
    entry = derived_cache.source_entry(source)
    assert entry is not None
    seen = 0
    while any(p.poll() is None for p in procs):
        got = entry.get("concurrent", expected.shape, np.float32)
        if got is not None:
            assert np.array_equal(got, expected)  # complete, or not there at all
            seen += 1
    assert all(p.wait() == 0 for p in procs)
    got = entry.get("concurrent", expected.shape, np.float32)
    assert got is not None and np.array_equal(got, expected)
    assert not list(entry.folder.glob("*.tmp"))  # no temporary left behind
    # a writer killed half-way leaves only a temporary, which is never read
    (entry.folder / "leftover.npy.0123.tmp").write_bytes(b"\x93NUMPY")
    assert entry.get("other", (3,), np.float32) is None
    old = time.time() - derived_cache.STALE_TMP_S - 10
    os.utime(entry.folder / "leftover.npy.0123.tmp", (old, old))
    entry.put("small", np.zeros(3, dtype=np.float32))  # a write cleans up killed writers' temporaries
    assert not list(entry.folder.glob("*.tmp"))


def test_remote_style_stores_are_not_cached(tmp_path: Path, cache: Path) -> None:
    _write(tmp_path)
    wf = PickledNpyFile(Store(str(tmp_path)), REL)
    wf.local_path = None  # what a remote store's file has
    read_folded_projection(wf)
    assert _files(cache) == []


def test_damaged_regression_is_never_cached_and_still_refused(tmp_path: Path, cache: Path) -> None:
    from berg_core.errors import IntegrityError

    w = _weights()
    w["reg_param"]["coef_"][1000, 3] = np.nan
    path = tmp_path / REL
    path.parent.mkdir(parents=True)
    np.save(path, np.array(w, dtype=object), allow_pickle=True)
    with pytest.raises(IntegrityError, match="NaN"):
        _load(tmp_path)
    _, _, coef, _ = _load(tmp_path, np.arange(900))  # a selection without the damaged row loads as before
    np.testing.assert_array_equal(coef, w["reg_param"]["coef_"][:900].astype(np.float32))
    assert len(_files(cache)) == 2  # the projection only


def test_backbone_checkpoint_is_mapped_on_later_loads(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from berg_core.backbones.catalog import VIT_B_32
    from berg_core.backbones.loading import WeightsSource

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.LayerNorm(512), torch.nn.BatchNorm1d(512))
    path = tmp_path / "tiny.pth"
    torch.save(module.state_dict(), path)  # float32 weights, an int64 0-d counter (num_batches_tracked)
    expected = torch.load(path, weights_only=True)
    raw = path.read_bytes()
    opened: list[int] = []
    open_file = WeightsSource._open
    monkeypatch.setattr(WeightsSource, "_open", lambda self: opened.append(1) or open_file(self))

    def load(p: Path) -> dict[str, Any]:
        return WeightsSource(VIT_B_32, "test", path=str(p)).load_state_dict()

    # torch.save's zip archive: its records are the tensors' bytes, mapped from the file itself (no derived copy)
    first, second = load(path), load(path)
    assert len(opened) == 2 and _files(cache) == []
    for state in (first, second):
        assert list(state) == list(expected)
        for name, t in expected.items():
            assert state[name].dtype == t.dtype and state[name].shape == t.shape and torch.equal(state[name], t)
    second["0.weight"].add_(1.0)  # a copy-on-write map: neither the file nor a later load changes
    assert torch.equal(load(path)["0.weight"], expected["0.weight"]) and path.read_bytes() == raw
    # bfloat16 (no NumPy dtype) maps too
    torch.save({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in module.state_dict().items()}, tmp_path / "bf.pth")
    state = load(tmp_path / "bf.pth")
    assert state["0.weight"].dtype == torch.bfloat16 and torch.equal(state["0.weight"], expected["0.weight"].to(torch.bfloat16))
    # torch's legacy (non-zip) format can't be mapped: its checked state dict is kept in the derived cache instead
    legacy = tmp_path / "legacy.pth"
    torch.save(module.state_dict(), legacy, _use_new_zipfile_serialization=False)
    opened.clear()
    first, second = load(legacy), load(legacy)
    assert len(opened) == 1 and _files(cache)  # the second load read no checkpoint
    for name, t in expected.items():
        assert torch.equal(second[name], t)


def test_source_rewritten_in_place_within_one_clock_tick_invalidates(tmp_path: Path, cache: Path) -> None:
    path = _write(tmp_path, seed=0)
    st = path.stat()
    _load(tmp_path)
    _write(tmp_path, seed=1)  # same size, same inode (written in place)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same modification time
    assert path.stat().st_ino == st.st_ino and path.stat().st_size == st.st_size
    W, _, coef, _ = _load(tmp_path)
    np.testing.assert_array_equal(coef, _weights(1)["reg_param"]["coef_"].astype(np.float32))
    np.testing.assert_allclose(W, _reference(seed=1)[0], rtol=2e-7, atol=0)


def test_many_arrays_of_one_entry_measure_the_cache_once(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backbone's 150 tensors: one pass over the cache folder for all of them, not one per tensor."""
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(1 << 16))
    entry = derived_cache.source_entry(source)
    assert entry is not None
    passes: list[int] = []
    evict = derived_cache._evict
    monkeypatch.setattr(derived_cache, "_evict", lambda *a, **k: passes.append(1) or evict(*a, **k))
    arrays = {f"t{i}": np.full((64, 64), i, dtype=np.float32) for i in range(20)}
    entry.reserve(sum(a.nbytes for a in arrays.values()))
    assert all(entry.put(name, a) for name, a in arrays.items())
    assert len(passes) == 1
    assert entry.put("extra", np.zeros(8, dtype=np.float32))  # past what was reserved: measured again
    assert len(passes) == 2
    for name, a in arrays.items():
        got = entry.get(name, a.shape, a.dtype)
        assert got is not None and np.array_equal(got, a)


def test_an_array_written_block_by_block_is_kept_only_when_whole(tmp_path: Path, cache: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(1 << 16))
    entry = derived_cache.source_entry(source)
    assert entry is not None
    arr = np.random.default_rng(0).normal(size=(10, 300)).astype(np.float32)
    with entry.writing("ok", arr.shape, np.float32) as write:
        assert write is not None
        for start in range(0, 10, 4):
            write(start, arr[start : start + 4])
    got = entry.get("ok", arr.shape, np.float32)
    assert got is not None and np.array_equal(got, arr)
    with pytest.raises(RuntimeError), entry.writing("failed", arr.shape, np.float32) as write:
        assert write is not None
        write(0, arr[:4])
        raise RuntimeError("the fold failed half way")
    with entry.writing("short", arr.shape, np.float32) as write:
        assert write is not None
        write(0, arr[:4])  # rows 4-9 never come
    with entry.writing("gap", arr.shape, np.float32) as write:
        assert write is not None
        write(0, arr[:4])
        write(8, arr[8:])  # rows 4-7 skipped
    for name in ("failed", "short", "gap"):
        assert entry.get(name, arr.shape, np.float32) is None
    assert not list(entry.folder.glob("*.tmp"))  # no temporaries left behind
