"""Scale benchmarks (issue 6), on CPU.

* ``multi``: 8 ViT-B/32 models (4 EEG + 4 fsaverage subjects, full 250-component PCA) on the same
  images, encoded one after another versus in one pass (shared preprocessing and backbone).
* ``single``: one EEG model's images/s next to the fp32 matmul peak measured in the same run.
* ``memory``: peak RSS of streaming 1,000 and 10,000 stimuli (an on-disk Zarr array) into a Zarr
  result; each size runs in a fresh subprocess so the numbers do not share an allocator.

Run: ``python benchmarks/bench_scale.py [multi|single|memory ...]``; results go to
``benchmarks/results/bench_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import VIT_B_32_FLOPS, PeakMemory, matmul_peak_flops, report

EEG = "eeg-things_eeg_2-vit_b_32"
FMRI = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"


def _write(root: Path, model_id: str, subjects: list[int], options: dict[str, Any]) -> None:
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry.get(model_id)
    pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)(
        card=reg.card, root=str(root), subjects=subjects, seed=0, options=options
    )


def _vit_weights(root: Path) -> str:
    import torch
    from torchvision.models import vit_b_32

    path = root / "backbones" / "vit_b_32-d86f8d99.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(vit_b_32().state_dict(), path)
    return str(path)


def bench_multi(root: Path, n_images: int, n_components: int, batch_size: int) -> dict[str, Any]:
    from berg_core import BERG

    _write(root, EEG, [1, 2, 3, 4], {"n_components": n_components})
    _write(root, FMRI, [1, 2, 3, 4], {"n_components": n_components})
    weights = _vit_weights(root)
    berg = BERG(root)
    models = [berg.get_encoding_model(m, subject=s, device="cpu", backbone_weights=weights) for m in (EEG, FMRI) for s in (1, 2, 3, 4)]
    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 3, 256, 256), dtype=np.uint8)
    berg.encode(models, images[:batch_size], batch_size=batch_size, show_progress=False)  # warm-up
    peak = matmul_peak_flops()
    t0 = time.perf_counter()
    for m in models:
        berg.encode(m, images, batch_size=batch_size, show_progress=False)
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    berg.encode(models, images, batch_size=batch_size, show_progress=False)
    one_pass = time.perf_counter() - t0
    return {
        "models": len(models),
        "n_images": n_images,
        "n_components": n_components,
        "sequential_images_per_s": n_images / sequential,
        "one_pass_images_per_s": n_images / one_pass,
        "speedup": sequential / one_pass,
        "target_speedup": 5.0,
        "one_pass_ratio_to_peak_bound_single_backbone": (n_images / one_pass) / (peak / VIT_B_32_FLOPS),
        "peak_gflops": peak / 1e9,
    }


def bench_single(root: Path, n_images: int, batch_size: int) -> dict[str, Any]:
    from berg_core import BERG

    _write(root, EEG, [1], {"n_components": 250})
    weights = _vit_weights(root)
    berg = BERG(root)
    model = berg.get_encoding_model(EEG, subject=1, device="cpu", backbone_weights=weights)
    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 3, 256, 256), dtype=np.uint8)
    berg.encode(model, images[:batch_size], batch_size=batch_size, show_progress=False)
    best = None
    for _ in range(3):
        peak = matmul_peak_flops()
        t0 = time.perf_counter()
        berg.encode(model, images, batch_size=batch_size, show_progress=False)
        ips = n_images / (time.perf_counter() - t0)
        ratio = ips / (peak / VIT_B_32_FLOPS)
        if best is None or ratio > best["ratio_to_peak_bound"]:
            best = {"images_per_s": ips, "peak_gflops": peak / 1e9, "ratio_to_peak_bound": ratio}
    return {"model": EEG, "n_images": n_images, "batch_size": batch_size, **(best or {}), "target_ratio": 0.8}


def _memory_child(store: str, stimuli: str, n: int, out: str, batch_size: int) -> None:
    import zarr

    from berg_core import BERG

    berg = BERG(store)
    model = berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")
    arr = zarr.open_array(stimuli, mode="r")
    view = _Rows(arr, n)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        berg.encode(model, view, batch_size=batch_size, show_progress=False, store=out)
        seconds = time.perf_counter() - t0
    print(json.dumps({"n": n, "peak_rss_bytes": mem.peak, "increase_bytes": mem.increase, "images_per_s": n / seconds}))


class _Rows:
    """The first ``n`` rows of an on-disk array, still read lazily."""

    def __init__(self, arr: Any, n: int) -> None:
        self._arr, self.shape, self.dtype = arr, (n, *arr.shape[1:]), arr.dtype

    def __getitem__(self, index: Any) -> Any:
        return self._arr[index]


def bench_memory(root: Path, sizes: list[int], batch_size: int) -> dict[str, Any]:
    import zarr

    _write(root, FWRF, [1], {"rois": ["V1"]})
    n_max = max(sizes)
    stimuli = root / "stimuli.zarr"
    z = zarr.create_array(store=str(stimuli), shape=(n_max, 3, 96, 96), chunks=(256, 3, 96, 96), dtype="uint8")
    rng = np.random.default_rng(0)
    for a in range(0, n_max, 1024):
        b = min(n_max, a + 1024)
        z[a:b] = rng.integers(0, 256, size=(b - a, 3, 96, 96), dtype=np.uint8)
    runs = {}
    for n in sizes:
        out = root / f"out-{n}.zarr"
        here = str(Path(__file__).parent)
        code = (
            f"import sys; sys.path.insert(0, {here!r}); import bench_scale as b; "
            f"b._memory_child({str(root)!r}, {str(stimuli)!r}, {n}, {str(out)!r}, {batch_size})"
        )
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs[n] = json.loads(res.stdout.strip().splitlines()[-1])
    lo, hi = min(sizes), max(sizes)
    return {
        "model": f"{FWRF} (V1)",
        "runs": runs,
        "peak_ratio": runs[hi]["peak_rss_bytes"] / runs[lo]["peak_rss_bytes"],
        "target_peak_ratio": 1.2,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["multi", "single", "memory"])
    parser.add_argument("--n-images", type=int, default=64)
    parser.add_argument("--n-components", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--memory-sizes", default="1000,10000")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for which in args.which:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if which == "multi":
                results["multi"] = bench_multi(root, args.n_images, args.n_components, args.batch_size)
            elif which == "single":
                results["single"] = bench_single(root, max(args.n_images, 100), args.batch_size)
            elif which == "memory":
                results["memory"] = bench_memory(root, [int(s) for s in args.memory_sizes.split(",")], args.batch_size)
            else:
                parser.error(f"unknown benchmark {which!r}")
    report("bench_scale", results)
    return results


if __name__ == "__main__":
    os.environ.setdefault("BERG_STRICT_PLUGINS", "1")
    main()
