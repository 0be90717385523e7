"""``berg cache info|clear``: what the local cache of remote stores holds."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cache",
        help="show or clear the cache of remote stores",
        description="Files of remote stores are cached locally ($BERG_CACHE_DIR, else ~/.cache/berg).",
    )
    p.add_argument("action", choices=["info", "clear"], help="info: sizes per store; clear: delete cached files")
    p.add_argument("--cache-dir", help="cache folder (default: $BERG_CACHE_DIR or ~/.cache/berg)")
    p.add_argument("--store", metavar="URL", help="clear only this store's files")
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cache import cache_info, clear_cache, describe_cache, human_size, resolve_cache_dir

    if args.action == "clear":
        freed = clear_cache(args.cache_dir, args.store)
        what = f"the cache of {args.store}" if args.store else "the cache"
        print(f"cleared {what} in {resolve_cache_dir(args.cache_dir)}: {human_size(freed)} freed")
        return 0
    info = describe_cache(args.cache_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"cache: {info['cache_dir']} ({human_size(info['total_bytes'])})")
    for store in cache_info(args.cache_dir):
        print(f"  {store.line()}")
    if not info["stores"]:
        print("  (empty)")
    return 0
