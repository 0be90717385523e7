"""Measuring helpers shared by the benchmarks.

Numbers are reported next to the machine's own measured fp32 matmul peak, so
results from noisy or different machines can be compared as ratios.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

#: FLOPs of one ViT-B/32 forward pass at 224 x 224 (multiply-adds counted as 2).
VIT_B_32_FLOPS = 8.7e9


def matmul_peak_flops(n: int = 2048, repeats: int = 5, device: str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """Best-of-``repeats`` FLOP/s of an ``n`` x ``n`` matmul on ``device``.

    On the CPU in float32 the best of torch's plain product (MKL) and oneDNN's product on a
    prepacked weight, the path berg's backbones take (:mod:`berg_core.models.onednn`): oneDNN
    is 15-45 % faster on these machines, so a peak from MKL alone would flatter every ratio.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    products: list[Callable[[], Any]] = [lambda: torch.mm(a, b)]
    if device == "cpu" and dtype == torch.float32:
        from berg_core.models.onednn import pack_linear

        packed = pack_linear(b, torch.zeros(n), n)
        if packed is not None:
            products.append(lambda: packed(a))
    best = float("inf")
    for product in products:
        product()  # warm-up: thread pool, caches
        for _ in range(repeats):
            if device != "cpu":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            product()
            if device != "cpu":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


@contextlib.contextmanager
def plain_products() -> Iterator[None]:
    """torch's plain ops inside (``BERG_ONEDNN=0``): ``FlopCounterMode`` does not count oneDNN's packed products."""
    before = os.environ.get("BERG_ONEDNN")
    os.environ["BERG_ONEDNN"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["BERG_ONEDNN"]
        else:
            os.environ["BERG_ONEDNN"] = before


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak RSS above the starting RSS while the block runs (sampled every 5 ms)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.baseline = current_rss()
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, current_rss())

    @property
    def increase(self) -> int:
        return self.peak - self.baseline


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def report(name: str, results: dict[str, Any], out_dir: str | os.PathLike[str] | None = None, quiet: bool = False) -> Path:
    """Print ``results`` (unless ``quiet``) and write them as JSON to ``benchmarks/results/NAME.json``."""
    out = Path(out_dir or Path(__file__).parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine_info(), "results": results}
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if not quiet:
        print(json.dumps(payload, indent=2, default=str))
    return path
