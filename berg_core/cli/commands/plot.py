"""``berg plot RESULT.zarr``: one picture per result in a Zarr store written by encode."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from berg_core.cli.commands.args import folder
from berg_core.errors import InvalidParameterError


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"plot options look like [MODEL:]KEY=VALUE (e.g. dpi=150), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _mask_where_possible(results: dict[str, Any], threshold: float, per_model: dict[str, dict[str, Any]]) -> None:
    """``--reliability`` applies to the results that carry a reliability coordinate (EEG results have none)."""
    from berg_core.results.accessor import RELIABILITY_COORDS

    models = {str(r.attrs.get("model_id")) for r in results.values() if any(c in r.coords for c in RELIABILITY_COORDS)}
    if not models:
        raise InvalidParameterError(
            f"--reliability needs results with a reliability coordinate (one of {list(RELIABILITY_COORDS)}); "
            f"these results have none: {sorted(results)}"
        )
    for model in models:
        per_model.setdefault(model, {}).setdefault("reliability", threshold)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "plot",
        help="draw the results in a Zarr store (one picture per model group)",
        description=(
            "Draw each result of a Zarr store written by encode(..., store=...) or 'berg encode': a store of one model "
            "gives one picture, a multi-model store one picture per model group. Each model's plugin draws its own "
            "results (EEG: time courses and scalp maps; fsaverage: inflated surface views; fwRF: slice mosaics)."
        ),
        epilog="example: berg plot run.zarr -o pictures --stimulus face --option eeg-things_eeg_2-vit_b_32:times=[0.1,0.2]",
    )
    p.add_argument("store", help="result store: folder or URL (s3://...)")
    p.add_argument("-o", "--output-dir", type=folder, default=".", help="folder for the pictures, created if needed (default: the current folder)")
    p.add_argument("--stimulus", help="draw this stimulus id (default: the mean over all stimuli)")
    p.add_argument("--reliability", type=float,
                   help="hide units whose reliability (ncsnr) is below this threshold, in results that have one")
    p.add_argument("--option", action="append", type=_option, default=[], metavar="[MODEL:]KEY=VALUE",
                   help="a plot option, value as JSON when it parses (repeatable); MODEL:KEY=VALUE gives it to that "
                   "model's results only (e.g. eeg-things_eeg_2-vit_b_32:times=[0.1,0.2])")
    p.add_argument("--storage-option", action="append", metavar="KEY=VALUE", help="fsspec storage option (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.cli.commands.options import parse_storage_options
    from berg_core.results.groups import open_results
    from berg_core.results.plotting import UndrawableResultWarning, plot_results

    options: dict[str, Any] = {}
    per_model: dict[str, dict[str, Any]] = {}
    for key, value in args.option:
        model, sep, name = key.rpartition(":")
        (per_model.setdefault(model, {}) if sep else options)[name] = value
    for flag in ("stimulus", "reliability"):
        if getattr(args, flag) is not None and flag in options:
            raise InvalidParameterError(f"--{flag} and --option {flag}=... both given; use one")
    if args.stimulus is not None:
        options["stimulus"] = args.stimulus
    results = open_results(args.store, parse_storage_options(args.storage_option) or None)
    if args.reliability is not None:
        _mask_where_possible(results, args.reliability, per_model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndrawableResultWarning)
        written = plot_results(results, args.output_dir, per_model=per_model, **options)
    for w in caught:
        if issubclass(w.category, UndrawableResultWarning):
            print(f"berg plot: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for label, path in written.items():
        print(f"{label}: {path}")
    print(f"{len(written)} picture(s) in {args.output_dir}")
    return 0
