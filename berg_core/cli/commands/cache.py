"""``berg cache info|clear``: what berg keeps in its cache folder (remote stores, the demo)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from berg_core.cli.commands.args import folder


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from berg_core.store.cache_parts import PARTS

    p = sub.add_parser(
        "cache",
        help="show or clear what berg keeps in its cache folder",
        description=(
            "berg keeps two things in its cache folder ($BERG_CACHE_DIR, else ~/.cache/berg): the files of remote "
            "stores read so far (stores/) and the demo's store and outputs (demo/). 'info' gives the size of each; "
            "'clear' deletes them. Anything else in the folder is not berg's and is left alone."
        ),
    )
    p.add_argument("action", choices=["info", "clear"], help="info: sizes per part and per store; clear: delete them")
    p.add_argument("--cache-dir", type=folder, help="cache folder (default: $BERG_CACHE_DIR or ~/.cache/berg)")
    p.add_argument("--store", metavar="URL", help="clear only this remote store's files")
    p.add_argument("--only", choices=list(PARTS), action="append", help="clear only this part (repeatable)")
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=run)


def _report(cache_dir: str | None) -> dict[str, Any]:
    from berg_core.store.cache import describe_cache
    from berg_core.store.cache_parts import cache_parts, foreign_entries

    info = describe_cache(cache_dir)
    parts = cache_parts(cache_dir)
    info["parts"] = [{"name": p.name, "what": p.what, "folder": str(p.folder), "files": p.files, "bytes": p.bytes} for p in parts]
    info["total_bytes"] = sum(p.bytes for p in parts)
    info["not_berg"] = foreign_entries(cache_dir)
    return info


def run(args: argparse.Namespace) -> int:
    from berg_core.store.cache import cache_info, clear_cache, human_size, resolve_cache_dir
    from berg_core.store.cache_parts import clear_parts

    root = resolve_cache_dir(args.cache_dir)
    if args.action == "clear":
        if args.store:
            freed = clear_cache(args.cache_dir, args.store)
            what = f"the cache of {args.store}"
        else:
            freed = clear_parts(args.cache_dir, args.only)
            what = " and ".join(args.only) if args.only else "everything berg keeps"
        print(f"cleared {what} in {root}: {human_size(freed)} freed")
        return 0
    info = _report(args.cache_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"cache: {info['cache_dir']} ({human_size(info['total_bytes'])})")
    for part in info["parts"]:
        print(f"  {part['name']}/: {human_size(part['bytes'])} in {part['files']} files ({part['what']})")
        if part["name"] == "stores":
            for store in cache_info(args.cache_dir):
                print(f"    {store.line()}")
    if info["not_berg"]:
        print(f"  not berg's, left alone: {', '.join(info['not_berg'][:10])}")
    if not info["total_bytes"]:
        print("  (empty)")
    return 0
