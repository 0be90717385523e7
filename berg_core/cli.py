"""The ``berg`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ._version import __version__
from .errors import BERGError

__all__ = ["build_parser", "main"]


def _cmd_models(args: argparse.Namespace) -> int:
    from .plugins import get_plugin_manager

    reg = get_plugin_manager().registry
    if args.json:
        print(json.dumps([{"id": r.card.id, "modality": r.card.modality, "plugin": r.plugin_name} for r in reg], indent=2))
        return 0
    if not len(reg):
        print("no models: install a berg plugin (e.g. pip install berg-eeg-things)")
        return 0
    width = max(len(r.card.id) for r in reg)
    for r in reg:
        print(f"{r.card.id:<{width}}  {r.card.modality:<5}  subjects {r.card.subjects[0]}-{r.card.subjects[-1]}  [{r.plugin_name}]")
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    from .api import describe_card, format_description
    from .plugins import get_plugin_manager

    card = get_plugin_manager().registry.get(args.model).card
    info = describe_card(card)
    print(json.dumps(info, indent=2, default=str) if args.json else format_description(info))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate_target

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berg", description="In silico neural responses from pretrained encoding models.")
    parser.add_argument("--version", action="version", version=f"berg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list the models of the installed plugins", description="List installed models.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("describe", help="describe a model", description="Print a model's card (BERG 2.0's describe).")
    p.add_argument("model", help="model id, see 'berg models'")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_describe)

    p = sub.add_parser(
        "validate",
        help="validate model cards or an installed plugin",
        description="Validate a card file, a folder of cards, or an installed plugin (by entry-point name).",
    )
    p.add_argument("path", help="card file, folder, or installed plugin name")
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except BERGError as exc:
        print(f"berg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
