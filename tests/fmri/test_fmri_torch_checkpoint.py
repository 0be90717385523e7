"""The restricted torch checkpoint loader: real ``torch.save`` files, hostile payloads, corrupt archives."""

from __future__ import annotations

import argparse
import builtins
import collections
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from berg_core.errors import IntegrityError
from berg_core.io import TorchCheckpoint


class Payload:
    """Unpickling this would run ``func(*args)``: the loader must never do it."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> Any:
        return (self.func, self.args)


class Thing:
    """A class berg does not know (like a training-history object)."""

    def __init__(self) -> None:
        self.values = [1, 2, 3]


def _payloads(marker: Path) -> list[Payload]:
    return [
        Payload(os.system, f"touch {marker}"),
        Payload(builtins.open, str(marker), "w"),
        Payload(builtins.exec, f"open({str(marker)!r}, 'w').write('x')"),
    ]


def _open(path: Path) -> TorchCheckpoint:
    return TorchCheckpoint(open(path, "rb"), str(path))


def _weights() -> collections.OrderedDict[str, Any]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=g)
    return collections.OrderedDict(
        f32=torch.randn(3, 4, generator=g),
        f64=torch.randn(2, generator=g, dtype=torch.float64),
        f16=torch.randn(4, generator=g).half(),
        bf16=torch.randn(4, generator=g).bfloat16(),
        i64=torch.arange(7),
        flag=torch.tensor([True, False]),
        u8=torch.arange(5, dtype=torch.uint8),
        scalar=torch.tensor(3.5),
        empty=torch.empty(0, 3),
        transposed=base.T,  # non-contiguous view
        window=base.flatten()[4:9],  # view into the middle of a storage
        param=torch.nn.Parameter(torch.ones(2)),
    )


def test_rebuilds_what_torch_saved(tmp_path: Path) -> None:
    weights = _weights()
    path = tmp_path / "c.pt"
    torch.save({"best_params": {"enc": weights, "fwrfs": {1: weights}}, "stim_mean": np.full((1, 3, 1, 1), 0.4, np.float32),
                "meta": {"name": "x", "ks": (1, 2.5, None), "n": [1, 2]}}, path)
    with _open(path) as ckpt:
        enc = ckpt.get("best_params", "enc")
        assert list(enc) == list(weights) and isinstance(enc, collections.OrderedDict)
        for key, tensor in weights.items():
            assert enc[key].dtype == tensor.dtype and enc[key].shape == tensor.shape
            assert torch.equal(enc[key], tensor.detach()), key
        assert torch.equal(ckpt.get("best_params", "fwrfs", 1)["window"], weights["window"])
        np.testing.assert_array_equal(ckpt.get("stim_mean"), np.full((1, 3, 1, 1), 0.4, np.float32))
        assert ckpt.get("meta") == {"name": "x", "ks": (1, 2.5, None), "n": [1, 2]}
        assert ckpt.keys("best_params", "fwrfs") == [1]


def test_ignored_entries_never_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "c.pt"
    torch.save({
        "args": argparse.Namespace(lr=0.1, hook=_payloads(marker)[0]),
        "history": collections.defaultdict(list, {"loss": [0.5, 0.4]}),
        "things": [Thing(), {1, 2}],
        "payloads": _payloads(marker),
        "best_params": {"enc": collections.OrderedDict(w=torch.ones(2))},
    }, path)
    with _open(path) as ckpt:
        assert ckpt.keys() == ["args", "history", "things", "payloads", "best_params"]
        assert torch.equal(ckpt.get("best_params", "enc")["w"], torch.ones(2))
        for entry, name in (("args", "argparse.Namespace"), ("history", "collections.defaultdict"), ("payloads", "posix.system")):
            with pytest.raises(IntegrityError, match=rf"entry \['{entry}'\].* holds an object of type {name}.*It was not executed"):
                ckpt.get(entry)
    assert not marker.exists()


@pytest.mark.parametrize("which", [0, 1, 2])
def test_payload_in_a_used_entry_is_refused(tmp_path: Path, which: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "c.pt"
    torch.save({"best_params": {"enc": collections.OrderedDict(w=torch.ones(2), evil=_payloads(marker)[which])}}, path)
    with _open(path) as ckpt, pytest.raises(IntegrityError, match=r"entry \['best_params'\]\['enc'\]\['evil'\] holds an object of type"):
        ckpt.get("best_params", "enc")
    assert not marker.exists()


def test_missing_entries_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    torch.save({"best_params": {"fwrfs": {1: {"b": torch.ones(1)}}}, "stim_mean": [1.0]}, path)
    with _open(path) as ckpt:
        with pytest.raises(IntegrityError, match=r"has no entry \['best_params'\]\['fwrfs'\]\[2\]; entries at that level: 1$"):
            ckpt.get("best_params", "fwrfs", 2)
        with pytest.raises(IntegrityError, match=r"entry \['stim_mean'\] is a list, expected a dict holding 0"):
            ckpt.get("stim_mean", 0)
        with pytest.raises(IntegrityError, match=r"entry \['stim_mean'\] is a list, not a dict"):
            ckpt.keys("stim_mean")


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    """Copy a zip archive record by record, letting ``change(name, data)`` edit or drop (None) records."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "good.pt"
    torch.save({"best_params": {"enc": collections.OrderedDict(w=torch.arange(12.0).reshape(3, 4), n=torch.tensor(7))}}, path)
    return path


def test_truncated_and_foreign_files(saved: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(IntegrityError, match=r"cut.pt is not a torch checkpoint archive .* or it is truncated"):
        _open(cut)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(IntegrityError, match=r"legacy.pt is not a torch checkpoint archive"):
        _open(legacy)
    garbage = tmp_path / "garbage.pt"
    with zipfile.ZipFile(garbage, "w") as z:
        z.writestr("c/data.pkl", b"\x80\x02not a pickle")
    with pytest.raises(IntegrityError, match=r"garbage.pt is corrupt or truncated: UnpicklingError"):
        _open(garbage)


def test_storage_records_are_checked(saved: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.pt"
    _rewrite(saved, short, lambda n, d: d[:-4] if n.endswith("/data/0") else d)
    with pytest.raises(IntegrityError, match=r"storage data/0 holds 44 bytes, expected 12 x 4 bytes"):
        _open(short)
    missing = tmp_path / "missing.pt"
    _rewrite(saved, missing, lambda n, d: None if n.endswith("/data/1") else d)
    with pytest.raises(IntegrityError, match=r"missing.pt is truncated: storage record data/1 is missing"):
        _open(missing)


def test_corrupt_tensor_bytes_fail_the_crc(saved: Path, tmp_path: Path) -> None:
    raw = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/data/0"))
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])  # local header
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + 5] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(raw))
    with _open(bad) as ckpt, pytest.raises(IntegrityError, match=r"flipped.pt: storage .*data/0 is corrupt: BadZipFile: Bad CRC-32"):
        ckpt.get("best_params", "enc")


def test_tensor_reaching_past_its_storage(tmp_path: Path) -> None:
    class StorageMarker:
        pass

    class FakeTensor:
        def __reduce__(self) -> Any:
            return (torch._utils._rebuild_tensor_v2, (marker, 0, (100,), (1,), False, collections.OrderedDict()))

    marker = StorageMarker()

    class Writer(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if obj is marker else None

    buf = io.BytesIO()
    Writer(buf, protocol=2).dump({"w": FakeTensor()})
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("crafted/data.pkl", buf.getvalue())
        z.writestr("crafted/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(IntegrityError, match=r"tensor of size \(100,\) .* reaches element 99 of a storage holding 4"):
        _open(path)


def test_big_endian_archives(saved: Path, tmp_path: Path) -> None:
    def swap(name: str, data: bytes) -> bytes:
        if name.endswith("/byteorder"):
            return b"big"
        if name.endswith("/data/0"):
            return np.frombuffer(data, "<f4").astype(">f4").tobytes()
        if name.endswith("/data/1"):
            return np.frombuffer(data, "<i8").astype(">i8").tobytes()
        return data

    big = tmp_path / "big.pt"
    _rewrite(saved, big, swap)
    with _open(big) as ckpt:
        enc = ckpt.get("best_params", "enc")
    assert torch.equal(enc["w"], torch.arange(12.0).reshape(3, 4)) and int(enc["n"]) == 7


def test_local_records_are_mapped_not_read(saved: Path) -> None:
    """A local archive's storages are copy-on-write maps of its records (CRC-checked); other sources are read."""
    with open(saved, "rb") as fh, TorchCheckpoint(fh, "good.pt") as ckpt:
        enc = ckpt.get("best_params", "enc")
        assert ckpt.all_mapped and ckpt.mapped == 2
    assert torch.equal(enc["w"], torch.arange(12.0).reshape(3, 4)) and int(enc["n"]) == 7
    raw = saved.read_bytes()
    enc["w"].add_(1.0)  # private to this process: the file keeps its bytes
    assert saved.read_bytes() == raw
    with TorchCheckpoint(io.BytesIO(raw), "good.pt") as ckpt:
        assert torch.equal(ckpt.get("best_params", "enc")["w"], torch.arange(12.0).reshape(3, 4))
        assert not ckpt.all_mapped and ckpt.mapped == 0
