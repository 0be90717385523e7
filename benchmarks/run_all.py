"""All of issue 16's figures in one run: speed near the machine's bound, load time, peak memory.

Run: ``python benchmarks/run_all.py`` (results in ``benchmarks/results/run_all.json``).

Sections (``--sections``, default all):

``throughput``
    Per installed image model (default: every one whose plugin writes a synthetic store): images/s
    through ``BERG.encode`` at batch 1, 8 and 32 (that many images, one batch; ``backbone_batch_N``:
    the backbone's forward alone on the prepared batch, the rest being read-out, preparation and
    labelling) and with the defaults
    (``--n-images`` images, the model's default batch size), each next to the fp32 matmul peak
    measured right before and after it (the larger is used, so a slow peak measurement cannot
    inflate a ratio). The FLOPs per stimulus of each backbone are counted with
    ``torch.utils.flop_counter.FlopCounterMode`` on the model's own input, so every backbone
    registered (ViT-B/32, AlexNet, ...) gets its ratio. On CUDA the peak and the ratio are the device's.
``multi``
    "One pass, many models": every installed ViT-B/32 model (one per plugin) in one ``encode``
    against the first alone, on the same images (issue 14: five models <= 1.3x one).
``load``
    Per ViT-B/32 model, each in a fresh child process: the time from ``get_encoding_model`` to a
    loaded model (backbone included) from the BERG 2.0 layout, after plugin discovery (timed apart,
    ``plugin_discovery_s``); a second load in the same process; the same load in a second process
    (``berg_berg2_layout_second_process``: the folded projection and float32 heads memory-mapped from
    the derived cache the first process wrote, see ``berg_core.store.derived_cache``) and with that
    cache off (``berg_berg2_layout_cache_off``);
    the peak RSS increase of the load next to the bytes of weights the model keeps; the same
    from the Zarr layout of ``berg convert`` for a one-channel / one-ROI selection; and, as the
    baseline, what BERG 2.0 does for the same model on the same files (labelled
    ``berg2_equivalent``: ``numpy.load(allow_pickle=True)`` of the weight and metadata files, and
    torchvision's ``vit_b_32`` built, loaded from the checkpoint and wrapped by
    ``create_feature_extractor``), in a child process of its own. Files are in the page cache
    for both (they were just written).

Stores are synthetic (seeded, BERG 2.0's real sizes unless ``--quick``) in a temporary folder.
The machine is shared in CI and on these 2-core boxes: compare ratios, not images/s, and read the
``load_average`` recorded with the results.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak_flops, plain_products, report

BATCHES = (1, 8, 32)
#: one-output selections for the Zarr load (issue 16: "a one-ROI or one-channel selection")
ONE_OUTPUT = {
    "eeg-things_eeg_2-vit_b_32": {"channels": ["Oz"]},
    "fmri-nsd_fsaverage-vit_b_32": {"roi": "V1v"},
}
QUICK_OPTIONS = {"n_components": 8}


def _pm() -> Any:
    from berg_core.registry.manager import get_plugin_manager

    return get_plugin_manager()


def _image_models(wanted: list[str] | None) -> list[str]:
    pm = _pm()
    out = []
    for mid in pm.registry.ids():
        card = pm.registry.get(mid).card
        if wanted and mid not in wanted:
            continue
        if getattr(card, "stimuli", "images") != "images" or not getattr(card, "backbone", None):
            continue
        out.append(mid)
    return out


def _subject(model_id: str) -> Any:
    """The subject the synthetic store holds: the card's first (``None`` for a participant-averaged model)."""
    subjects = _pm().registry.get(model_id).card.subjects
    return subjects[0] if subjects else None


def _write_store(root: Path, models: list[str], quick: bool) -> tuple[list[str], dict[str, str]]:
    """Synthetic stores of ``models`` (those whose plugin writes one); failures are reported, not fatal."""
    from berg_core.workflows.synthetic import write_synthetic_store

    written, failed = [], {}
    for mid in models:
        try:
            write_synthetic_store(root, models=[mid], seed=0, options={mid: QUICK_OPTIONS} if quick else None)
            written.append(mid)
        except Exception as exc:  # a plugin without synthetic stores, or one still being written
            failed[mid] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return written, failed


def _peak(device: torch.device) -> float:
    dev = "cuda" if device.type == "cuda" else "cpu"
    return matmul_peak_flops(n=4096 if dev == "cuda" else 2048, repeats=3, device=dev)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_stimulus(model: Any, images: np.ndarray) -> float:
    """FLOPs of the model's backbone for one stimulus, counted by ``FlopCounterMode`` on its own input."""
    from torch.utils.flop_counter import FlopCounterMode

    from berg_core.stimuli.inputs import as_stimuli

    x = model.preprocess(as_stimuli(images[:2]))
    with plain_products(), FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.feature_extractor(x)
    return counter.get_total_flops() / 2


def _timed(encode: Any, n: int, device: torch.device, flops: float, repeats: int) -> dict[str, Any]:
    trials = []
    for _ in range(repeats):
        before = _peak(device)
        _sync(device)
        t0 = time.perf_counter()
        encode()
        _sync(device)
        seconds = time.perf_counter() - t0
        peak = max(before, _peak(device))
        per_s = n / seconds
        trials.append({"images_per_s": per_s, "peak_gflops": peak / 1e9, "ratio_to_bound": per_s * flops / peak})
    trials.sort(key=lambda t: t["ratio_to_bound"])
    return {**trials[len(trials) // 2], "best_ratio": trials[-1]["ratio_to_bound"], "all_ratios": [t["ratio_to_bound"] for t in trials]}


def bench_throughput(berg: Any, models: list[str], weights: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(max(args.n_images, *BATCHES), 3, 256, 256), dtype=np.uint8)
    for mid in models:
        try:
            model = berg.get_encoding_model(mid, subject=_subject(mid), device=args.device, **weights)
        except Exception as exc:
            out[mid] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            continue
        flops = flops_per_stimulus(model, images)
        res: dict[str, Any] = {"backbone": model.card.backbone, "gflops_per_stimulus": flops / 1e9,
                               "default_batch_size": model.default_batch_size}
        berg.encode(model, images[:8], batch_size=8, show_progress=False)  # warm-up: thread pool, allocator

        def run(n: int, bs: int | None, model: Any = model) -> None:
            berg.encode(model, images[:n], batch_size=bs, show_progress=False)

        from berg_core.stimuli.inputs import as_stimuli

        for bs in BATCHES:
            res[f"batch_{bs}"] = _timed(lambda bs=bs: run(bs, bs), bs, device, flops, args.repeats)
            # the backbone pass alone on a prepared batch: what the read-out, preparation and labelling add is the gap
            x = model.preprocess(as_stimuli(images[:bs]))
            with torch.inference_mode():
                model.feature_extractor(x)
                res[f"backbone_batch_{bs}"] = _timed(lambda x=x, m=model: m.feature_extractor(x), bs, device, flops, args.repeats)
        n = args.n_images
        res[f"default_{n}_images"] = _timed(lambda n=n: run(n, None), n, device, flops, args.repeats)
        out[mid] = res
        model.cleanup()
        del model
        gc.collect()
    return out


def bench_multi(berg: Any, models: list[str], weights: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    pm = _pm()
    vit = [m for m in models if pm.registry.get(m).card.backbone == "vit_b_32"]
    if len(vit) < 2:
        return {"skipped": f"fewer than two ViT-B/32 models installed ({vit})"}
    loaded = [berg.get_encoding_model(m, subject=_subject(m), device=args.device, **weights) for m in vit]
    images = np.random.default_rng(1).integers(0, 256, size=(args.n_images, 3, 256, 256), dtype=np.uint8)
    berg.encode(loaded, images[:8], batch_size=8, show_progress=False)  # warm-up
    one, many = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        berg.encode(loaded[0], images, show_progress=False)
        one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        berg.encode(loaded, images, show_progress=False)
        many.append(time.perf_counter() - t0)
    for m in loaded:
        m.cleanup()
    one_s, many_s = float(np.median(one)), float(np.median(many))
    return {"models": vit, "n_images": args.n_images, "one_model_s": one_s, "all_models_s": many_s,
            "cost_of_all_over_one": many_s / one_s, "all_ratios": [b / a for a, b in zip(one, many, strict=True)]}


# ---- loads, each in a fresh child process ----------------------------------------------------------
#: the memory readings both children make (current and peak RSS of the child itself)
_CHILD_MEMORY = r"""
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def hwm():
    # the peak RSS of this program: VmHWM starts afresh at exec (ru_maxrss keeps the forked parent's)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
"""

_CHILD_BERG = r"""
import json, os, sys, time
import torch
import torchvision  # imported before the clock starts, as in the BERG 2.0 child
from berg_core import BERG
from berg_core.models.base import EncodingModel
""" + _CHILD_MEMORY + r"""
def kept_bytes(model):
    seen, total, stack = set(), 0, [model.__dict__]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            total += obj.untyped_storage().nbytes()
        elif isinstance(obj, torch.nn.Module):
            stack.extend(obj.state_dict(keep_vars=True).values())
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, (type, EncodingModel)) and type(obj).__module__.startswith("berg"):
            stack.extend(vars(obj).values())
    return total

root, mid, weights, selection, subject = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
berg = BERG(root)
t0 = time.perf_counter()
berg._pm.registry  # plugin discovery and card parsing, which the first call of a process does once
discovery = time.perf_counter() - t0
before = rss()
t0 = time.perf_counter()
model = berg.get_encoding_model(mid, subject=subject, selection=selection, device="cpu", backbone_weights=weights)
first = time.perf_counter() - t0
peak = hwm()
t0 = time.perf_counter()
again = berg.get_encoding_model(mid, subject=subject, selection=selection, device="cpu", backbone_weights=weights)
second = time.perf_counter() - t0
kept = kept_bytes(model)
print(json.dumps({"load_s": first, "plugin_discovery_s": discovery, "second_load_s": second, "peak_increase_bytes": peak - before, "kept_bytes": kept,
                  "peak_over_kept": (peak - before) / kept}))
"""

_CHILD_BERG2 = r"""
import json, os, sys, time
import numpy as np
import torch
""" + _CHILD_MEMORY + r"""
files, weights = json.loads(sys.argv[1]), sys.argv[2]
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor
before = rss()
t0 = time.perf_counter()
loaded = [np.load(f, allow_pickle=True).item() for f in files]
vit = torchvision.models.vit_b_32(weights=None)
vit.load_state_dict(torch.load(weights, map_location="cpu"))
nodes = [f"encoder.layers.encoder_layer_{i}.add_1" for i in range(12)]
extractor = create_feature_extractor(vit.eval(), return_nodes=nodes)
seconds = time.perf_counter() - t0
peak = hwm()
print(json.dumps({"load_s": seconds, "peak_increase_bytes": peak - before}))
"""


def _child(code: str, *argv: str, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _subject_files(root: Path, store_path: str) -> list[str]:
    base = root / store_path
    return sorted(str(p) for folder in ("encoding_models_weights", "metadata") for p in (base / folder).glob("*.npy"))


def bench_load(root: Path, models: list[str], weights: str, args: argparse.Namespace) -> dict[str, Any]:
    from berg_core.workflows.convert import convert_store

    pm = _pm()
    out: dict[str, Any] = {}
    zarr_root = root.parent / "zarr_store"
    for mid in models:
        card = pm.registry.get(mid).card
        if card.backbone != "vit_b_32":
            continue
        res: dict[str, Any] = {}
        # a fresh derived cache (folded projections, float32 heads): the first process fills it, the second reads it
        env = {"BERG_CACHE_DIR": str(root.parent / f"cache_{mid}")}
        res["berg_berg2_layout"] = _child(_CHILD_BERG, str(root), mid, weights, "null", json.dumps(_subject(mid)), env_extra=env)
        res["berg_berg2_layout_second_process"] = _child(_CHILD_BERG, str(root), mid, weights, "null", json.dumps(_subject(mid)),
                                                         env_extra=env)
        res["berg_berg2_layout_cache_off"] = _child(_CHILD_BERG, str(root), mid, weights, "null", json.dumps(_subject(mid)),
                                                    env_extra={**env, "BERG_DERIVED_CACHE": "0"})
        files = _subject_files(root, card.store_path)
        res["berg2_equivalent"] = _child(_CHILD_BERG2, json.dumps(files), weights)
        res["berg2_files"] = [os.path.relpath(f, root) for f in files]
        base = res["berg2_equivalent"].get("load_s")
        for kind, label in (("berg_berg2_layout", "load_time_over_berg2"),
                            ("berg_berg2_layout_second_process", "second_process_load_time_over_berg2")):
            if "load_s" in res[kind] and base:
                res[label] = res[kind]["load_s"] / base
        if mid in ONE_OUTPUT:
            try:
                convert_store(str(root), str(zarr_root), models=[mid], show_progress=False)
                res["berg_zarr_one_output"] = _child(_CHILD_BERG, str(zarr_root), mid, weights, json.dumps(ONE_OUTPUT[mid]),
                                                       json.dumps(_subject(mid)))
                res["zarr_selection"] = ONE_OUTPUT[mid]
            except Exception as exc:
                res["berg_zarr_one_output"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        out[mid] = res
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="throughput,multi,load")
    parser.add_argument("--models", default=None, help="comma-separated model ids (default: every installed image model)")
    parser.add_argument("--n-images", type=int, default=40, help="images of the default-settings run and of 'multi'")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="small synthetic read-outs (8 components): a smoke run")
    parser.add_argument("--workdir", default=None, help="where to write the stores (default: a temp folder)")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    if args.threads:
        torch.set_num_threads(args.threads)
    from berg_core import BERG

    models = _image_models(args.models.split(",") if args.models else None)
    results: dict[str, Any] = {"device": args.device, "threads": torch.get_num_threads(), "quick": args.quick,
                               "load_average_before": os.getloadavg()}
    if args.device.startswith("cuda"):
        results["device_name"] = torch.cuda.get_device_name(torch.device(args.device))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp) / "store"
        t0 = time.perf_counter()
        models, failed = _write_store(root, models, args.quick)
        results["store_write_s"], results["models"], results["models_not_written"] = time.perf_counter() - t0, models, failed
        weights = {"backbone_weights": str(root / "backbones" / "vit_b_32-d86f8d99.pth")}
        berg = BERG(root)
        # every backbone a written model names: its weights were written too, under the spec's store path
        # each section's figures are written as soon as it ends: a run stopped later keeps them
        if "throughput" in sections:
            results["throughput"] = bench_throughput(berg, models, {}, args)
            report("run_all", results, quiet=True)
        if "multi" in sections:
            results["multi"] = bench_multi(berg, models, {}, args)
            report("run_all", results, quiet=True)
        if "load" in sections:
            results["load"] = bench_load(root, models, weights["backbone_weights"], args)
    results["load_average_after"] = os.getloadavg()
    report("run_all", results)
    return results


if __name__ == "__main__":
    os.environ.setdefault("BERG_STRICT_PLUGINS", "1")
    main()
