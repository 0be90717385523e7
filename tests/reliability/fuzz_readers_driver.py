"""Child process of ``test_fuzz_readers.py``: flip bits of real-format files and read each result.

Run as ``python fuzz_readers_driver.py FORMAT SEED COUNT OUT`` (COUNT 0: every bit). It writes one
seeded file of FORMAT, then for each chosen bit flips it, reads the damaged bytes with berg's
reader and counts the outcome: ``read`` (no error; for a checkpoint, whose CRC-32 covers every byte
that matters, the original values), ``IntegrityError``, or anything else (``wrong values``, ``hang`` or
a raw exception's type, each with its flip listed in ``raw``). The report (JSON) goes to OUT. A crash of the interpreter ends the
process: the parent sees the exit status, and ``OUT.progress`` names the flip being tried. Address
space is capped a few GiB above what the process holds, so a reader that asks for terabytes fails
with a MemoryError this driver reports instead of exhausting the machine; each flip has an alarm.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import signal
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PER_FLIP_S = 5
HEADROOM = 3 << 30


class Hang(Exception):
    """A read took longer than PER_FLIP_S."""


def _fwrf_style_metadata() -> bytes:
    from berg_fmri_nsd.synthetic import _fwrf_metadata

    rng = np.random.default_rng(7)
    mask = np.zeros((3, 3, 2), dtype=bool)
    mask[1, :, 1] = True
    buf = io.BytesIO()
    np.save(buf, np.array(_fwrf_metadata(rng, mask), dtype=object), allow_pickle=True)
    return buf.getvalue()


def _fwrf_style_checkpoint() -> bytes:
    # the layout of BERG 2.0's fwRF checkpoints (see berg_fmri_nsd.synthetic), with small modules
    import argparse as ap

    import torch

    torch.manual_seed(3)
    enc = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.BatchNorm2d(2)).state_dict()
    fwrf = torch.nn.Linear(2, 3).state_dict()
    checkpoint = {
        "args": ap.Namespace(subject=1, roi="V1", lr=1e-4),
        "stim_mean": np.full((1, 3, 1, 1), 0.5, dtype=np.float32),
        "best_params": {"enc": enc, "fwrfs": {1: fwrf}},
        "best_epoch": 4,
        "trn_hist": np.linspace(0.5, 1.0, 3).astype(np.float32),
        "hold_hist": {1: [np.float64(0.25), np.float32(0.5)]},
    }
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    return buf.getvalue()


def _pickle_of(checkpoint: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(checkpoint)) as zf:
        return next(zf.read(n) for n in zf.namelist() if n.endswith("data.pkl"))


_CHECKPOINT: list[bytes] = []


def _checkpoint_with_pickle(pickled: bytes) -> bytes:
    """The checkpoint with its ``data.pkl`` replaced and valid CRCs: damage the CRC cannot catch."""
    if not _CHECKPOINT:
        _CHECKPOINT.append(_fwrf_style_checkpoint())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_CHECKPOINT[0])) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, pickled if info.filename.endswith("data.pkl") else src.read(info))
    return out.getvalue()


def _manifest() -> bytes:
    from berg_core.store.manifest import FileEntry, Manifest

    entries = [FileEntry(f"weights/w{i}.npy", 1000 * i + 7, f"{i:02x}" * 32) for i in range(3)]
    return Manifest(entries).to_json().encode()


def _read_npy(data: bytes) -> Any:
    from berg_core.io.lazy_pickle import load_lazy_npy
    from berg_core.io.safe_pickle import load_pickled_npy

    load_pickled_npy(io.BytesIO(data), "flipped.npy")
    return load_lazy_npy(lambda: io.BytesIO(data), "flipped.npy")


def _read_checkpoint(data: bytes) -> Any:
    from berg_core.io.torch_checkpoint import TorchCheckpoint

    # what the fwRF loader reads (berg_fmri_nsd.fwrf_checkpoint)
    with TorchCheckpoint(io.BytesIO(data), "flipped.pt") as ckpt:
        out = [ckpt.get("stim_mean"), ckpt.get("best_params", "enc")]
        for subject in ckpt.keys("best_params", "fwrfs"):
            out.append(ckpt.get("best_params", "fwrfs", subject))
    return out


def _read_manifest(data: bytes) -> Any:
    from berg_core.store.manifest import Manifest

    return Manifest.from_json(data, "flipped.json")


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return bool(a == b)


#: formats whose every byte that matters is covered by a checksum: a read must give the original values
CHECKSUMMED = {"pt"}

FORMATS: dict[str, tuple[Callable[[], bytes], Callable[[bytes], Any]]] = {
    "npy": (_fwrf_style_metadata, _read_npy),
    "pt": (_fwrf_style_checkpoint, _read_checkpoint),
    "pt-pickle": (lambda: _pickle_of(_fwrf_style_checkpoint()), lambda b: _read_checkpoint(_checkpoint_with_pickle(b))),
    "manifest": (_manifest, _read_manifest),
}


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang


def _cap_address_space() -> None:
    with open("/proc/self/statm") as fh:
        held = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (held + HEADROOM, resource.getrlimit(resource.RLIMIT_AS)[1]))


def sweep(fmt: str, seed: int, count: int, progress: Path) -> dict[str, Any]:
    """Flip ``count`` seeded bits (all when 0) of a fresh ``fmt`` file; count the outcomes."""
    from berg_core.errors import IntegrityError

    make, read = FORMATS[fmt]
    original = make()
    expected = read(original)  # the undamaged file reads
    bits = range(len(original) * 8)
    chosen = list(bits) if count == 0 else sorted(random.Random(seed).sample(bits, min(count, len(bits))))
    outcomes: Counter[str] = Counter()
    raw: list[dict[str, Any]] = []
    signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()
    for bit in chosen:
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        progress.write_text(f"{fmt} byte {bit // 8} bit {bit % 8}")
        signal.alarm(PER_FLIP_S)
        try:
            got = read(bytes(damaged))
            outcome = "read" if fmt not in CHECKSUMMED or _same(expected, got) else "wrong values"
        except IntegrityError:
            outcome = "IntegrityError"
        except Hang:
            outcome = "hang"
        except BaseException as exc:  # every other exception is what the sweep looks for
            outcome = type(exc).__name__
        finally:
            signal.alarm(0)
        outcomes[outcome] += 1
        if outcome not in ("read", "IntegrityError") and len(raw) < 20:
            raw.append({"byte": bit // 8, "bit": bit % 8, "error": outcome})
    return {"bytes": len(original), "tried": len(chosen), "outcomes": dict(outcomes), "raw": raw,
            "seconds": round(time.perf_counter() - start, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=0, help="flips per format; 0: every bit")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args(argv)
    import torch  # noqa: F401  # imported before the cap: its libraries are not what is measured

    _cap_address_space()
    report = {}
    progress = args.out.with_name(args.out.name + ".progress")
    for fmt in args.formats.split(","):
        report[fmt] = sweep(fmt, args.seed, args.count, progress)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(report, fh)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
