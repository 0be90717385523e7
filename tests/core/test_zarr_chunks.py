"""Missing chunks of a Zarr array are found, by the rows about to be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from berg_core.io.zarr_chunks import missing_chunks


def _array(tmp_path: Path) -> zarr.Array:
    arr = zarr.create_array(store=str(tmp_path / "a.zarr"), shape=(10, 6), chunks=(4, 3), dtype="float32",
                            config={"write_empty_chunks": True})
    arr[:] = np.ones((10, 6), np.float32)
    return arr


def test_every_chunk_there_is_nothing_missing(tmp_path: Path) -> None:
    assert missing_chunks(_array(tmp_path)) == []


def test_a_deleted_chunk_is_named_and_only_where_its_rows_are_asked(tmp_path: Path) -> None:
    arr = _array(tmp_path)
    (tmp_path / "a.zarr" / "c" / "1" / "1").unlink()  # rows 4-7, columns 3-5
    assert missing_chunks(arr) == ["c/1/1"]
    assert missing_chunks(arr, rows=[5]) == ["c/1/1"]
    assert missing_chunks(arr, rows=range(4, 8)) == ["c/1/1"]
    assert missing_chunks(arr, rows=[0, 3, 8, 9]) == []
    # the array reads the hole as its fill value without a word: what the check is for
    assert float(np.asarray(arr[4:8, 3:]).sum()) == 0.0


def test_other_arrays_are_not_checked() -> None:
    assert missing_chunks(np.zeros((3, 3))) == []
