"""``berg demo``: encode procedural stimuli with every installed model, offline, and draw the results."""

from __future__ import annotations

import argparse

from berg_core.cli.commands.args import add_progress_flag, folder, model_ids, show_progress


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run every installed model end to end on synthetic weights (offline) and draw the results",
        description=(
            "Build once, in the cache, a small store in the real BERG 2.0 formats with seeded SYNTHETIC weights for "
            "every installed model (and seeded ViT-B/32 weights inside it); encode a few procedural stimuli of each "
            "model's kind (images, short video clips, sentences, timed-word stories) with all models of a kind in one "
            "pass; write the labelled results to Zarr and one picture per model. Needs no network. "
            "The outputs are not responses of a real brain: point BERG(berg_dir=...) at the BERG 2.0 store for those."
        ),
    )
    p.add_argument("--cache-dir", type=folder, help="cache folder (default: $BERG_CACHE_DIR or ~/.cache/berg); the store is <cache>/demo/store")
    p.add_argument("-o", "--output-dir", type=folder, help="where results.zarr and pictures/ go (default: <cache>/demo/output)")
    p.add_argument("--model", action="extend", type=model_ids, metavar="ID[,ID...]",
                   help="run only these model(s), comma-separated or repeated; default: every installed model")
    p.add_argument("--refresh", action="store_true", help="rebuild the demo store even if one is cached")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    add_progress_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.demo.run import run_demo

    report = run_demo(
        cache_dir=args.cache_dir, output_dir=args.output_dir, refresh=args.refresh, device=args.device,
        show_progress=show_progress(args), models=args.model, log=lambda line: print(f"... {line}", flush=True),
    )
    print(report.summary())
    return 0
