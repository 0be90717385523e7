"""``berg convert SRC DST``: a BERG 2.0 store into berg's native Zarr layout."""

from __future__ import annotations

import argparse

from berg_core.cli.commands.args import add_progress_flag, add_subject_flag, model_ids, show_progress


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="convert a BERG 2.0 store (or some models/subjects) to the Zarr layout",
        description=(
            "Write the Zarr twin of every BERG 2.0 weight and metadata file of SRC into DST (local folder or URL; "
            "DST may be SRC), with each model's card and a manifest. See specs/store_layout.md."
        ),
    )
    p.add_argument("src", help="BERG 2.0 store: folder or URL (s3://...)")
    p.add_argument("dst", help="destination store: folder or URL")
    p.add_argument("--model", action="extend", type=model_ids, metavar="ID[,ID...]",
                   help="model id(s), comma-separated or repeated; default: every model folder in SRC")
    add_subject_flag(p)
    p.add_argument("--src-option", action="append", metavar="KEY=VALUE", help="fsspec storage option for SRC (repeatable)")
    p.add_argument("--dst-option", action="append", metavar="KEY=VALUE", help="fsspec storage option for DST (repeatable)")
    add_progress_flag(p, quiet_alias=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.cli.commands.options import parse_storage_options
    from berg_core.workflows.convert import convert_store

    report = convert_store(
        args.src,
        args.dst,
        models=args.model,
        subjects=args.subject,
        src_options=parse_storage_options(args.src_option),
        dst_options=parse_storage_options(args.dst_option),
        show_progress=show_progress(args),
    )
    print(
        f"converted {len(report.converted)} files, copied {len(report.copied)}, skipped {len(report.skipped)} "
        f"(accuracy plots); wrote {report.bytes_written / 2**20:.1f} MiB and {len(report.manifests)} manifest(s) to {args.dst}"
    )
    return 0
