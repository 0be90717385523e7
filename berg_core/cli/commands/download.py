"""``berg download MODEL [DEST]``: fetch just what some models need."""

from __future__ import annotations

import argparse

from berg_core.cli.commands.args import add_progress_flag, add_subject_flag, csv_list, folder, show_progress


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "download",
        help="fetch the files of a model (some subjects/ROIs) from a store",
        description=(
            "Fetch the files MODEL needs for the given subjects (and ROIs) from the store (--berg-dir, else $BERG_DIR, "
            "else the public bucket), resumably and verified. Without DEST they go to the local cache, so later loads "
            "need no network; with DEST, DEST becomes a local store with a manifest."
        ),
    )
    p.add_argument("model", help="model id, see 'berg models'")
    p.add_argument("dest", nargs="?", help="destination folder (default: the cache)")
    add_subject_flag(p)
    p.add_argument("--roi", action="extend", type=csv_list, metavar="NAME[,NAME...]",
                   help="ROI(s), comma-separated or repeated (per-ROI models); default: all")
    p.add_argument("--berg-dir", help="source store: folder or URL (default: $BERG_DIR, else the public bucket)")
    p.add_argument("--storage-option", action="append", metavar="KEY=VALUE", help="fsspec storage option (repeatable)")
    p.add_argument("--cache-dir", type=folder, help="cache folder (default: $BERG_CACHE_DIR or ~/.cache/berg)")
    add_progress_flag(p, quiet_alias=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.cli.commands.options import parse_storage_options
    from berg_core.workflows.download import download_model

    report = download_model(
        args.model,
        subjects=args.subject,
        rois=args.roi,
        dest=args.dest,
        berg_dir=args.berg_dir,
        storage_options=parse_storage_options(args.storage_option) or None,
        cache_dir=args.cache_dir,
        show_progress=show_progress(args),
    )
    for note in report.notes:
        print(f"note: {note}")
    print(
        f"{len(report.files)} files ({report.bytes_total / 2**20:.1f} MiB) in {report.dest}: "
        f"{len(report.fetched)} fetched, {len(report.already_there)} already there"
    )
    return 0
