"""``berg validate PATH``: check model cards or an installed plugin."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "validate",
        help="validate model cards or an installed plugin",
        description="Validate a card file, a folder of cards, or an installed plugin (by entry-point name).",
    )
    p.add_argument("path", help="card file, folder, or installed plugin name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.registry.validate import validate_target

    reports = validate_target(args.path)
    bad = 0
    for r in reports:
        if r.ok:
            print(f"ok      {r.source} ({r.card.id if r.card else ''})")
        else:
            bad += 1
            print(f"INVALID {r.error}")
    print(f"{len(reports) - bad} valid, {bad} invalid")
    return 1 if bad else 0
