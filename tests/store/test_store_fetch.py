"""Copying one file: resumable from ``.part``, verified before it takes its name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import fsspec
import pytest

from berg_core import IntegrityError, StoreError
from berg_core.fetch import fetch_file
from berg_core.manifest import FileEntry, Manifest

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def memfs() -> fsspec.AbstractFileSystem:
    fs = fsspec.filesystem("memory")
    fs.pipe("/fetch/data.bin", DATA)
    fs.pipe("/fetch/empty.bin", b"")
    yield fs
    fs.rm("/fetch", recursive=True)


def test_resumes_from_the_partial_copy(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(DATA[:4000])
    seen: list[int] = []
    fetch_file(memfs, "/fetch/data.bin", target, len(DATA), "memory://fetch/data.bin", progress=seen.append, block_size=1000)
    assert target.read_bytes() == DATA and not (tmp_path / "data.bin.part").exists()
    assert seen[0] == 4000 and sum(seen) == len(DATA)  # the kept bytes count as done, then 1,000-byte blocks


def test_rejected_copy_is_deleted(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    wrong = Manifest([FileEntry("data.bin", len(DATA), hashlib.sha256(b"other").hexdigest())], "manifest")
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        fetch_file(memfs, "/fetch/data.bin", tmp_path / "data.bin", len(DATA), "u",
                   verify=lambda p: wrong.check_file("data.bin", p, "u"))
    assert list(tmp_path.iterdir()) == []


def test_short_source_keeps_the_part_and_says_so(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"got 10240 of 20000 bytes; the partial copy is kept"):
        fetch_file(memfs, "/fetch/data.bin", tmp_path / "data.bin", 20_000, "memory://fetch/data.bin")
    assert (tmp_path / "data.bin.part").stat().st_size == len(DATA)


def test_missing_and_empty_files(memfs: fsspec.AbstractFileSystem, tmp_path: Path) -> None:
    assert fetch_file(memfs, "/fetch/empty.bin", tmp_path / "empty.bin", 0, "u").read_bytes() == b""
    with pytest.raises(StoreError, match="missing file in store: memory://fetch/nope"):
        fetch_file(memfs, "/fetch/nope", tmp_path / "nope", 10, "memory://fetch/nope")
