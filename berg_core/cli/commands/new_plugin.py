"""``berg new-plugin DIST_NAME --output DIR``: start a plugin from a working template."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "new-plugin",
        help="write a new plugin distribution to start from",
        description="Write DIR/DIST_NAME/: a plugin distribution (pyproject with the berg.plugins entry point, a card, "
        "a model on the shared ViT-B/32 backbone, a synthetic-store writer, tests running berg's conformance kit).",
    )
    p.add_argument("dist_name", metavar="DIST_NAME", help="distribution name, e.g. berg-my-model")
    p.add_argument("--output", "-o", default=".", metavar="DIR", help="folder to write it in (default: here)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.cli.scaffold import plugin_names, write_plugin_scaffold

    files = write_plugin_scaffold(args.dist_name, args.output)
    names = plugin_names(args.dist_name)
    for f in files:
        print(f"wrote {f}")
    root = Path(args.output).expanduser() / args.dist_name
    print(f"\nnext:\n  cd {root}\n  pip install -e '.[test]'\n  berg models            # lists {names['model_id']}\n"
          f"  berg validate {names['entry_point']}\n  berg demo --model {names['model_id']}\n  pytest")
    return 0
