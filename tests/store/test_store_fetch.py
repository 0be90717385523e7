"""Copying one file: resumable from ``.part`` (only against the same remote version), verified before it takes its name."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import fsspec
import pytest

from berg_core import IntegrityError, StoreError
from berg_core.store.fetch import fetch_file
from berg_core.store.manifest import FileEntry, Manifest

DATA = bytes(range(256)) * 40  # 10,240 bytes
NEW = bytes(reversed(DATA))  # another version of the same size
URL = "memory://fetch/data.bin"


@pytest.fixture
def memfs() -> fsspec.AbstractFileSystem:
    fs = fsspec.filesystem("memory")
    fs.pipe("/fetch/data.bin", DATA)
    fs.pipe("/fetch/empty.bin", b"")
    yield fs
    fs.rm("/fetch", recursive=True)


def _stop_after(n_bytes: int) -> Callable[[int], None]:
    """A progress callback that interrupts the copy once ``n_bytes`` are written."""
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        if done[0] >= n_bytes:
            raise ConnectionResetError("interrupted by the test")

    return progress


def _interrupted(fs: fsspec.AbstractFileSystem, rpath: str, target: Path, url: str, n_bytes: int = 4000) -> None:
    with pytest.raises(StoreError, match="interrupted by the test"):
        fetch_file(fs, rpath, target, None, url, progress=_stop_after(n_bytes), block_size=1000)
    assert target.with_name(target.name + ".part").stat().st_size == n_bytes
    assert not target.exists()


def test_resumes_from_the_partial_copy(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    _interrupted(memfs, "/fetch/data.bin", target, URL)
    seen: list[int] = []
    fetch_file(memfs, "/fetch/data.bin", target, len(DATA), URL, progress=seen.append, block_size=1000)
    assert target.read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]  # no .part, no identity left behind
    assert seen[0] == 4000 and sum(seen) == len(DATA)  # the kept bytes count as done, then 1,000-byte blocks


@pytest.mark.parametrize("new", [NEW, NEW[:7000], NEW + b"more"], ids=["same-size", "shorter", "longer"])
def test_changed_remote_file_restarts_from_zero(memfs: fsspec.AbstractFileSystem, tmp_path: Path, new: bytes) -> None:
    target = tmp_path / "data.bin"
    _interrupted(memfs, "/fetch/data.bin", target, URL)
    memfs.pipe("/fetch/data.bin", new)
    seen: list[int] = []
    fetch_file(memfs, "/fetch/data.bin", target, None, URL, progress=seen.append, block_size=1000)
    assert target.read_bytes() == new  # not the old version's first 4,000 bytes
    assert seen[0] == min(1000, len(new)) and sum(seen) == len(new)


def test_partial_copy_without_a_recorded_identity_is_not_resumed(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(NEW[:4000])  # left by an older berg, or a foreign file
    fetch_file(memfs, "/fetch/data.bin", target, len(DATA), URL, block_size=1000)
    assert target.read_bytes() == DATA


def test_damaged_identity_record_restarts(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    _interrupted(memfs, "/fetch/data.bin", target, URL)
    record = tmp_path / "data.bin.part.json"
    assert json.loads(record.read_text())["size"] == len(DATA)
    record.write_text("[1, 2")
    memfs.pipe("/fetch/data.bin", NEW)
    fetch_file(memfs, "/fetch/data.bin", target, None, URL, block_size=1000)
    assert target.read_bytes() == NEW


def test_local_source_identity_is_size_and_mtime(tmp_path: Path) -> None:
    source = tmp_path / "src" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)
    fs = fsspec.filesystem("file")
    target = tmp_path / "dst" / "data.bin"
    _interrupted(fs, str(source), target, str(source))
    source.write_bytes(NEW)
    os.utime(source, ns=(1, 10**18))  # a different mtime even on a coarse clock
    fetch_file(fs, str(source), target, None, str(source), block_size=1000)
    assert target.read_bytes() == NEW


def test_change_during_the_copy_discards_it(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"

    def replace_after_first_block(n: int) -> None:
        if n and memfs.cat_file("/fetch/data.bin") == DATA:
            memfs.pipe("/fetch/data.bin", NEW)

    with pytest.raises(StoreError, match="changed on the server while it was copied"):
        fetch_file(memfs, "/fetch/data.bin", target, None, URL, progress=replace_after_first_block, block_size=1000)
    assert list(tmp_path.iterdir()) == []  # nothing mixed is kept
    fetch_file(memfs, "/fetch/data.bin", target, None, URL, block_size=1000)
    assert target.read_bytes() == NEW


def test_size_other_than_listed_is_refused(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match=r"memory://fetch/data.bin has 10240 bytes on the server, but its store lists 20000"):
        fetch_file(memfs, "/fetch/data.bin", tmp_path / "data.bin", 20_000, URL)
    assert list(tmp_path.iterdir()) == []


def test_rejected_copy_is_deleted(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    wrong = Manifest([FileEntry("data.bin", len(DATA), hashlib.sha256(b"other").hexdigest())], "manifest")
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        fetch_file(memfs, "/fetch/data.bin", tmp_path / "data.bin", len(DATA), "u",
                   verify=lambda p: wrong.check_file("data.bin", p, "u"))
    assert list(tmp_path.iterdir()) == []


def test_short_source_keeps_the_part_and_says_so(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    class Short(type(memfs)):  # type: ignore[misc]
        """A server that ends a response early (the remote says 10,240 bytes, sends fewer)."""

        def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kw: object) -> bytes:
            return b"" if (start or 0) >= 6000 else super().cat_file(path, start, min(end or 6000, 6000), **kw)

    with pytest.raises(StoreError, match=r"got 6000 of 10240 bytes; the partial copy is kept"):
        fetch_file(Short(), "/fetch/data.bin", tmp_path / "data.bin", len(DATA), URL, block_size=1000)
    assert (tmp_path / "data.bin.part").stat().st_size == 6000
    fetch_file(memfs, "/fetch/data.bin", tmp_path / "data.bin", len(DATA), URL, block_size=1000)
    assert (tmp_path / "data.bin").read_bytes() == DATA


def test_missing_and_empty_files(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    assert fetch_file(memfs, "/fetch/empty.bin", tmp_path / "empty.bin", 0, "u").read_bytes() == b""
    with pytest.raises(StoreError, match="missing file in store: memory://fetch/nope"):
        fetch_file(memfs, "/fetch/nope", tmp_path / "nope", 10, "memory://fetch/nope")
    with pytest.raises(StoreError, match="memory://fetch is a folder, not a file"):
        fetch_file(memfs, "/fetch", tmp_path / "folder", None, "memory://fetch")


COPIER = """
import sys, time
from pathlib import Path
import fsspec
from berg_core.store.fetch import fetch_file
src, target, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
ready.touch()
while not go.exists():
    time.sleep(0.01)
fetch_file(fsspec.filesystem("file"), src, target, None, src, progress=lambda n: time.sleep(0.005), block_size=4096)
"""


def test_two_processes_copying_the_same_file(tmp_path: Path) -> None:
    """Workers sharing a cache: the second waits for the first, nothing is appended twice."""
    import subprocess
    import sys
    import time

    source = tmp_path / "source.bin"
    source.write_bytes(DATA * 20)  # 50 blocks of 4 KiB, a quarter of a second each way
    target = tmp_path / "cache" / "source.bin"
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", COPIER, str(source), str(target), str(tmp_path / f"ready{i}"), str(go)],
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both start copying together
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert target.read_bytes() == DATA * 20
    assert sorted(p.name for p in target.parent.iterdir()) == ["source.bin"]
