"""``berg describe MODEL``: print a model card."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("describe", help="describe a model", description="Print a model's card (BERG 2.0's describe).")
    p.add_argument("model", help="model id, see 'berg models'")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api import describe_card, format_description
    from ..plugins import get_plugin_manager

    card = get_plugin_manager().registry.get(args.model).card
    info = describe_card(card)
    print(json.dumps(info, indent=2, default=str) if args.json else format_description(info))
    return 0
