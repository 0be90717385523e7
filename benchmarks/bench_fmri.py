"""Benchmark of the NSD fMRI models: throughput, load time and load memory.

Run ``python benchmarks/bench_fmri.py [--device cpu|cuda] [--store DIR]``. It
writes a synthetic full-size store (seeded; 250 PCA components for the
fsaverage model, subject 1's real V1 for fwRF) and seeded ViT-B/32 weights
into a temporary folder, then measures

* images/s of each model for 1 and 100 images, next to the FLOPs of one image
  (counted with ``torch.utils.flop_counter``) and the machine's fp32 matmul
  peak measured in the same run (:mod:`benchmarks.common`);
* load time and memory of a whole-brain and a one-ROI (V1) fsaverage model,
  each in a fresh process: the peak RSS increase while loading and the RSS
  increase that stays after loading, for BERG 2.0's pickled ``.npy`` and for
  its Zarr conversion (``berg convert``). The shared ViT-B/32 is loaded before
  the measurement, so the numbers are the model's own weights.

Results go to ``benchmarks/results/bench_fmri.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import PeakMemory, current_rss, matmul_peak_flops, plain_products, report, time_call

FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """A full-size synthetic store, its Zarr conversion and seeded ViT-B/32 weights (written once per folder)."""
    from berg_fmri_nsd.synthetic import write_fsaverage_store, write_fwrf_store
    from torchvision.models import vit_b_32

    from berg_core.workflows.convert import convert_store

    store, weights = folder / "store", folder / "vit_b_32-d86f8d99.pth"
    if not weights.exists():
        torch.manual_seed(0)
        torch.save(vit_b_32(weights=None).state_dict(), weights)
    if not (store / "done").exists():
        write_fsaverage_store(store, [1], seed=0, n_components=250)
        write_fwrf_store(store, [1], seed=0, rois=["V1"])
        (store / "done").touch()
    if not (folder / "zarr" / "done").exists():
        convert_store(str(store), str(folder / "zarr"), models=[FSAVERAGE], show_progress=False)
        (folder / "zarr" / "done").touch()
    return store, weights


def _berg(store: Path) -> Any:
    from berg_core import BERG

    return BERG(berg_dir=str(store))


def _load(berg: Any, model_id: str, selection: dict[str, Any] | None, device: str, weights: Path) -> Any:
    options = {"backbone_weights": str(weights)} if model_id == FSAVERAGE else {}
    return berg.get_encoding_model(model_id, subject=1, selection=selection, device=device, **options)


def flops_per_image(berg: Any, model: Any, image: np.ndarray) -> float:
    """FLOPs of encoding one image (preprocessing excluded), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from berg_core.stimuli.inputs import as_stimuli

    x = model.preprocess(as_stimuli(image))
    with plain_products(), FlopCounterMode(display=False) as counter:
        model.encode_batch(x, [0])
    return float(counter.get_total_flops())


def _encoder(berg: Any, model: Any, images: np.ndarray, device: str) -> Any:
    def run() -> None:
        berg.encode(model, images, show_progress=False, batch_size=min(len(images), 50))
        if device != "cpu":
            torch.cuda.synchronize()

    return run


def throughput(store: Path, weights: Path, device: str, peak: float) -> dict[str, Any]:
    berg = _berg(store)
    images = np.random.default_rng(0).integers(0, 256, (100, 3, 256, 256), dtype=np.uint8)
    out: dict[str, Any] = {}
    for model_id, selection in ((FSAVERAGE, None), (FSAVERAGE, {"roi": "V1"}), (FWRF, {"roi": "V1"})):
        model = _load(berg, model_id, selection, device, weights)
        flops = flops_per_image(berg, model, images[:1])
        label = f"{model_id}[{'whole brain' if selection is None else selection['roi']}]"
        rows = {}
        for n in (1, 100):
            seconds = time_call(_encoder(berg, model, images[:n], device), repeats=3 if n == 1 else 2, warmup=1)
            rows[f"{n}_images"] = {
                "seconds": seconds,
                "images_per_s": n / seconds,
                "achieved_flops": n * flops / seconds,
                "ratio_to_matmul_peak": n * flops / seconds / peak,
            }
        out[label] = {"gflops_per_image": flops / 1e9, "outputs": model.n_vertices if model_id == FSAVERAGE else model.n_voxels, **rows}
        model.cleanup()
        gc.collect()
    return out


def measure_load_child(store: Path, weights: Path, roi: str | None, device: str) -> dict[str, Any]:
    """Runs in a fresh process: load time and memory of one fsaverage model."""
    from berg_core.backbones import get_vit_b_32

    backbone = get_vit_b_32(device, weights=weights)  # shared, not the model's own cost  # noqa: F841
    gc.collect()
    berg = _berg(store)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        model = _load(berg, FSAVERAGE, None if roi is None else {"roi": roi}, device, weights)
        seconds = time.perf_counter() - t0
    gc.collect()
    held = current_rss() - mem.baseline
    return {"selection": roi or "whole brain", "vertices": model.n_vertices, "load_seconds": seconds,
            "peak_rss_increase_mb": mem.increase / 2**20, "held_rss_increase_mb": held / 2**20}


def load_memory(folder: Path, device: str, layout: str) -> dict[str, Any]:
    """Load time and memory of a whole-brain and a V1 model, each in a fresh process."""
    rows = {}
    for roi in (None, "V1"):
        cmd = [sys.executable, __file__, "--load-child", "--store", str(folder), "--layout", layout, "--device", device]
        if roi:
            cmd += ["--roi", roi]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows[roi or "whole brain"] = json.loads(line)
    whole, one = rows["whole brain"], rows["V1"]
    rows["one_roi_over_whole_brain"] = {
        "peak": one["peak_rss_increase_mb"] / whole["peak_rss_increase_mb"],
        "held": one["held_rss_increase_mb"] / whole["held_rss_increase_mb"],
    }
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--store", help="folder for the synthetic store (kept; default: a temporary folder)")
    parser.add_argument("--load-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--roi", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--layout", default="store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_child:
        store, weights = Path(args.store) / args.layout, Path(args.store) / "vit_b_32-d86f8d99.pth"
        print(json.dumps(measure_load_child(store, weights, args.roi, args.device)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.store or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        store, weights = write_inputs(folder)
        write_s = time.perf_counter() - t0
        peak = matmul_peak_flops(device=args.device)
        results = {
            "device": args.device,
            "fp32_matmul_peak_gflops": peak / 1e9,
            "store_write_seconds": write_s,
            # BERG 2.0's pickled .npy must be unpickled whole; the Zarr twin reads only the rows asked for
            "load_memory_fsaverage_pickled_npy": load_memory(folder, args.device, "store"),
            "load_memory_fsaverage_zarr": load_memory(folder, args.device, "zarr"),
            "throughput": throughput(store, weights, args.device, peak),
        }
    report("bench_fmri", results)


if __name__ == "__main__":
    main()
