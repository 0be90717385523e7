"""The ``berg`` command line (each sub-command lives in ``berg_core.cli.commands``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from berg_core._version import __version__
from berg_core.cli.commands import COMMANDS, load
from berg_core.errors import BERGError

__all__ = ["TRACEBACK_ENV", "main", "build_parser"]

#: Set to 1 to see the traceback of an unexpected error instead of its one-line summary.
TRACEBACK_ENV = "BERG_TRACEBACK"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2.

    argparse prints the whole usage block before the error; in a log of many jobs one line
    that names the command and the problem is what a user can grep for. Sub-parsers inherit
    this class, so every sub-command behaves the same.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="berg", description="In silico neural responses from pretrained encoding models.")
    parser.add_argument("--version", action="version", version=f"berg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        load(name).register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    # a message spanning lines (a wrapped path, a nested cause) would break the one-line promise
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except BERGError as exc:
        print(f"berg {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as exc:
        # what the machine refuses (a full disk, a permission, memory) is the user's to fix, not a bug
        # of berg: say it in one line like any other error
        print(f"berg {args.command}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # a bug of berg or of a plugin, not the user's doing: still one line (a traceback in a job log
        # of thousands of lines helps nobody), with the way to get the traceback for a report
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"berg {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              f"(please report it; {TRACEBACK_ENV}=1 shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
