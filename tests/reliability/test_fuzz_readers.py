"""Single-bit flips of every file format berg reads from a store: an IntegrityError or a read, never worse.

The sweep runs in one child process (``fuzz_readers_driver.py``) so that a reader which kills the
interpreter (a SIGSEGV in NumPy, as ``'O8'`` flipped to ``'M8'`` once did) or hangs fails the test
instead of the test run. Formats: a BERG 2.0 pickled metadata ``.npy`` (read by both the restricted
and the lazy reader), a fwRF-style ``.pt`` checkpoint (flips anywhere in the archive, which the
CRC-32 often catches), the same checkpoint's ``data.pkl`` flipped with valid CRCs (damage only the
unpickler can catch), and a ``berg-manifest.json``. A "read" is fine: BERG 2.0 files carry no
checksum, so a flip inside an array's numbers reads as other numbers.

By default a seeded sample of each format runs (seconds); ``-m exhaustive`` flips every bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).with_name("fuzz_readers_driver.py")
FORMATS = ("npy", "pt", "pt-pickle", "manifest")
SAMPLE = 250


def _sweep(tmp_path: Path, count: int, seed: int, timeout: float) -> dict[str, Any]:
    out = tmp_path / "fuzz.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, str(DRIVER), str(out), "--count", str(count), "--seed", str(seed), "--formats", ",".join(FORMATS)],
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        progress = out.with_name(out.name + ".progress")
        where = progress.read_text() if progress.exists() else "before the first flip"
        pytest.fail(f"the readers hung: no report after {timeout} s, last flip tried: {where}")
    if proc.returncode != 0:
        progress = out.with_name(out.name + ".progress")
        where = progress.read_text() if progress.exists() else "before the first flip"
        pytest.fail(f"the reader process died (exit {proc.returncode}) at {where}:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def _check(report: dict[str, Any], expect_tried: dict[str, int] | None) -> None:
    assert set(report) == set(FORMATS)
    for fmt, r in report.items():
        assert r["raw"] == [], f"{fmt}: flips that raised something other than IntegrityError: {r['raw']}"
        assert set(r["outcomes"]) <= {"read", "IntegrityError"}, (fmt, r["outcomes"])
        assert sum(r["outcomes"].values()) == r["tried"]
        # the damage is seen: most flips of the structure are refused, not silently read
        assert r["outcomes"].get("IntegrityError", 0) > r["tried"] // 4, (fmt, r["outcomes"])
        if expect_tried is not None:
            assert r["tried"] == expect_tried[fmt]
        else:
            assert r["tried"] == r["bytes"] * 8


def test_a_seeded_sample_of_bit_flips_gives_integrity_errors_or_reads(tmp_path: Path) -> None:
    report = _sweep(tmp_path, SAMPLE, seed=11, timeout=240)
    _check(report, dict.fromkeys(FORMATS, SAMPLE))


@pytest.mark.exhaustive
def test_every_bit_flip_gives_an_integrity_error_or_a_read(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "exhaustive" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("every bit of every format takes minutes; select with -m exhaustive")
    report = _sweep(tmp_path, 0, seed=0, timeout=3600)
    _check(report, None)
    print(json.dumps({fmt: {k: r[k] for k in ("bytes", "tried", "outcomes", "seconds")} for fmt, r in report.items()}))
