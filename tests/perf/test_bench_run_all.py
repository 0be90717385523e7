"""benchmarks/run_all.py measures what issue 16 asks, counting FLOPs on torch's plain ops (not oneDNN's)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"
EEG = "eeg-things_eeg_2-vit_b_32"


@pytest.fixture(scope="module")
def run_all() -> Any:
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("run_all", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_reports_encode_and_backbone_ratios(run_all: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    saved: dict[str, Any] = {}
    monkeypatch.setattr(run_all, "BATCHES", (1, 2))
    monkeypatch.setattr(run_all, "report", lambda name, results, quiet=False: saved.update(results))
    before = torch.get_num_threads()
    try:
        results = run_all.main(["--sections", "throughput", "--models", EEG, "--quick", "--repeats", "1", "--n-images", "3",
                                "--workdir", str(tmp_path)])
    finally:
        torch.set_num_threads(before)
    r = results["throughput"][EEG]
    assert saved["throughput"] is results["throughput"]
    # ViT-B/32: 8.72 GFLOP per 224 x 224 image (8.82 once bench_kinds has taught the counter CPU attention),
    # counted on the plain path even though encode takes oneDNN's (which the counter would not see)
    assert 8.7 < r["gflops_per_stimulus"] < 8.85
    for key in ("batch_1", "batch_2", "backbone_batch_1", "backbone_batch_2", "default_3_images"):
        t = r[key]
        assert t["images_per_s"] > 0 and t["peak_gflops"] > 0
        assert t["ratio_to_bound"] == pytest.approx(t["images_per_s"] * r["gflops_per_stimulus"] / t["peak_gflops"])
    assert r["backbone"] == "vit_b_32" and r["default_batch_size"] >= 1
