"""Benchmark of the convolutional backbones (AlexNet, S3D) against the machine's fp32 bound (issue 16), on CPU.

For each backbone it measures, with seeded weights of the real architecture at its real input size:

* the FLOPs of one stimulus, counted with ``torch.utils.flop_counter.FlopCounterMode`` on berg's own feature path
  (AlexNet: 224 x 224 image; S3D: 14 x 224 x 224 clip);
* stimuli/s of the forward pass alone (``forward``) and of preparation + forward (``prepared``: AlexNet's
  ``"train"`` and ``"berg-2.0"`` preparations of 500 x 500 uint8 images), at each ``--batch`` size, for two paths:

  ``plain``
      what BERG 2.0 runs: torchvision's ``create_feature_extractor`` on the unmodified network, node outputs
      flattened and concatenated; AlexNet's ``"train"`` images prepared one by one by
      ``AlexNet_Weights.IMAGENET1K_V1.transforms()`` on PIL images;
  ``berg``
      :func:`berg_core.backbones.alexnet.build_alexnet` / :func:`berg_core.backbones.alexnet.alexnet_input` and
      ``berg_fmri_bmd``'s :func:`build_s3d` (folded batch norms, channels-last, preallocated output);

* the ratio ``stimuli/s x FLOPs per stimulus / peak``: the fp32 matmul peak (:func:`common.matmul_peak_flops`) is
  measured right before and right after each figure and the larger is used, so a slow peak measurement cannot
  inflate a ratio. The paths run back to back, alternating, ``--repeats`` times; the best time of each is reported
  (on a shared machine the best is the least disturbed), with the load average (``uptime``) next to it.

Run: ``python benchmarks/bench_convnets.py [--backbones alexnet s3d] [--batch 1 8 32] [--s3d-batch 1 2]
[--repeats R] [--threads T] [--out DIR]``; results go to ``benchmarks/results/bench_convnets.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak_flops, plain_products, report

ALEXNET_NODES = ["features.2", "features.5", "features.7", "features.9", "features.12", "classifier.2",
                 "classifier.5", "classifier.6"]


def flops_per_stimulus(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> float:
    """FLOPs of ``fn(x)`` per stimulus (``x``'s first axis), as ``FlopCounterMode`` counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with plain_products(), FlopCounterMode(display=False) as counter:
        fn(x)
    return counter.get_total_flops() / x.shape[0]


def plain_extractor(net: torch.nn.Module, nodes: list[str]) -> Callable[[torch.Tensor], torch.Tensor]:
    """BERG 2.0's feature path: ``create_feature_extractor`` then flatten and ``cat``."""
    from torchvision.models.feature_extraction import create_feature_extractor

    fx = create_feature_extractor(net.eval(), return_nodes=nodes)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([v.flatten(1) for v in fx(x).values()], dim=1)

    return run


def plain_train_input(images: np.ndarray) -> torch.Tensor:
    """BERG 2.0's trainers' preparation, one PIL image at a time."""
    from PIL import Image
    from torchvision.models import AlexNet_Weights

    t = AlexNet_Weights.IMAGENET1K_V1.transforms()
    return torch.stack([t(Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)), mode="RGB")) for a in images])


def load_average() -> float:
    return os.getloadavg()[0]


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(cases: dict[str, Callable[[], Any]], n: int, flops: float, repeats: int) -> dict[str, Any]:
    """Run each case once to warm up, then ``repeats`` rounds alternating the cases, a peak before and after each."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    peaks: dict[str, list[float]] = {k: [] for k in cases}
    loads: list[float] = []
    for _ in range(repeats):
        for name, fn in cases.items():
            before = matmul_peak_flops()
            t = timed(fn)
            after = matmul_peak_flops()
            times[name].append(t)
            peaks[name].append(max(before, after))
            loads.append(load_average())
    out: dict[str, Any] = {"n": n, "load_average": [round(min(loads), 2), round(max(loads), 2)]}
    for name in cases:
        i = int(np.argmin(times[name]))
        rate = n / times[name][i]
        out[name] = {
            "per_s": round(rate, 3),
            "ratio_to_peak": round(rate * flops / peaks[name][i], 3),
            "peak_gflops": round(peaks[name][i] / 1e9, 1),
            "all_per_s": [round(n / t, 3) for t in times[name]],
        }
    return out


def bench_alexnet(batches: list[int], repeats: int) -> dict[str, Any]:
    from torchvision.models import alexnet

    from berg_core.backbones.alexnet import alexnet_input, build_alexnet, untrained_alexnet_state_dict
    from berg_core.stimuli.inputs import as_stimuli

    state = untrained_alexnet_state_dict(20200220)
    berg = build_alexnet(state)
    net = alexnet(weights=None)
    net.load_state_dict(state)
    plain = plain_extractor(net, ALEXNET_NODES)
    flops = flops_per_stimulus(berg, torch.randn(1, 3, 224, 224))
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"flops_per_image": flops, "threads": torch.get_num_threads(), "by_batch": {}}
    for b in batches:
        x = torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(b))
        images = rng.integers(0, 256, size=(b, 3, 500, 500), dtype=np.uint8)
        stimuli = as_stimuli(images)
        row = {
            "forward": compare({"plain": lambda x=x: plain(x), "berg": lambda x=x: berg(x)}, b, flops, repeats),
            "prepared_train": compare(
                {
                    "plain": lambda images=images: plain(plain_train_input(images)),
                    "berg": lambda st=stimuli: berg(alexnet_input(st, "train", "cpu")),
                },
                b, flops, repeats,
            ),
            "prepared_berg_2_0": compare(
                {
                    "plain": lambda st=stimuli: plain(alexnet_input(st, "berg-2.0", "cpu")),
                    "berg": lambda st=stimuli: berg(alexnet_input(st, "berg-2.0", "cpu")),
                },
                b, flops, repeats,
            ),
        }
        out["by_batch"][str(b)] = row
        print(f"alexnet batch {b}: " + ", ".join(
            f"{k} plain {v['plain']['per_s']}/s ({v['plain']['ratio_to_peak']}) berg {v['berg']['per_s']}/s "
            f"({v['berg']['ratio_to_peak']})" for k, v in row.items()), flush=True)
    return out


def bench_s3d(batches: list[int], repeats: int) -> dict[str, Any]:
    from berg_fmri_bmd.backbone import S3D_NODES
    from berg_fmri_bmd.s3d_features import build_s3d
    from torchvision.models.video import s3d

    torch.manual_seed(0)
    state = s3d(weights=None).state_dict()
    berg = build_s3d(state)
    net = s3d(weights=None)
    net.load_state_dict(state)
    plain = plain_extractor(net, list(S3D_NODES))
    # counted on the plain graph: the folded batch norms are not convolution FLOPs either way
    flops = flops_per_stimulus(plain, torch.randn(1, 3, 14, 224, 224))
    out: dict[str, Any] = {"flops_per_clip": flops, "threads": torch.get_num_threads(), "by_batch": {}}
    for b in batches:
        x = torch.randn(b, 3, 14, 224, 224, generator=torch.Generator().manual_seed(b))
        row = {"forward": compare({"plain": lambda x=x: plain(x), "berg": lambda x=x: berg(x)}, b, flops, repeats)}
        out["by_batch"][str(b)] = row
        f = row["forward"]
        print(f"s3d batch {b}: plain {f['plain']['per_s']} clips/s ({f['plain']['ratio_to_peak']}), "
              f"berg {f['berg']['per_s']} clips/s ({f['berg']['ratio_to_peak']})", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=["alexnet", "s3d"], choices=["alexnet", "s3d"])
    p.add_argument("--batch", nargs="+", type=int, default=[1, 8, 32], help="AlexNet batch sizes (default: 1 8 32)")
    p.add_argument("--s3d-batch", nargs="+", type=int, default=[1, 2], help="S3D batch sizes (default: 1 2)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"load_average_start": list(os.getloadavg())}
    if "alexnet" in args.backbones:
        results["alexnet"] = bench_alexnet(args.batch, args.repeats)
    if "s3d" in args.backbones:
        results["s3d"] = bench_s3d(args.s3d_batch, args.repeats)
    results["load_average_end"] = list(os.getloadavg())
    report("bench_convnets", results, args.out, quiet=True)
    return results


if __name__ == "__main__":
    main()
