"""``berg describe MODEL``: print a model card (and what a store holds of it)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "describe",
        help="describe a model",
        description=(
            "Print a model's card (BERG 2.0's describe): the valid values of every parameter and selection key, "
            "preprocessing modes, performance and references. With --store, also which subjects (and ROIs) that "
            "store holds."
        ),
    )
    p.add_argument("model", help="model id, see 'berg models'")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--store", metavar="URL", help="a store (folder or URL): list the subjects and ROIs it holds of MODEL")
    p.add_argument("--storage-option", action="append", metavar="KEY=VALUE", help="fsspec storage option (repeatable)")
    p.set_defaults(func=run)


def holdings_text(held: dict[str, Any]) -> str:
    """The text of :func:`berg_core.workflows.holdings.store_holdings`."""
    lines = ["", f"In the store {held['store']}:", f"  subjects: {', '.join(map(str, held['subjects']))}"]
    if held["missing_subjects"]:
        lines.append(f"  not there: subject(s) {', '.join(map(str, held['missing_subjects']))}")
    if held["rois"] is None:
        lines.append("  ROIs: every ROI of the card (each subject's files hold them all)")
    else:
        for subject, rois in held["rois"].items():
            lines.append(f"  subject {subject} ROIs: {', '.join(rois) or '(none)'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from berg_core.api import describe_card, format_description
    from berg_core.cli.commands.options import parse_storage_options
    from berg_core.registry.manager import get_plugin_manager

    card = get_plugin_manager().registry.get(args.model).card
    info = describe_card(card)
    held = None
    if args.store is not None:
        from berg_core.store.model_store import resolve_store
        from berg_core.workflows.holdings import store_holdings

        held = store_holdings(resolve_store(args.store, parse_storage_options(args.storage_option) or None), card)
    if args.json:
        print(json.dumps(info if held is None else {**info, "store": held}, indent=2, default=str))
    else:
        print(format_description(info) + ("" if held is None else holdings_text(held)))
    return 0
