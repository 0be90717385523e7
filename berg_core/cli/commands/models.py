"""``berg models``: list installed models."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list the models of the installed plugins", description="List installed models.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berg_core.cards.describe_text import subjects_text
    from berg_core.registry.manager import get_plugin_manager

    reg = get_plugin_manager().registry
    if args.json:
        print(json.dumps([{"id": r.card.id, "modality": r.card.modality, "plugin": r.plugin_name} for r in reg], indent=2))
        return 0
    if not len(reg):
        print("no models: install a berg plugin (pip install DIST_NAME), or write one with 'berg new-plugin'")
        return 0
    width = max(len(r.card.id) for r in reg)
    for r in reg:
        print(f"{r.card.id:<{width}}  {r.card.modality:<5}  {subjects_text(r.card.subjects)}  [{r.plugin_name}]")
    return 0
