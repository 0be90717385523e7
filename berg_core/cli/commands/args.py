"""Argument types and flags shared by the sub-commands.

Each ``type=`` function checks its text completely (digits, range, shape) and raises
:class:`argparse.ArgumentTypeError`, so a bad flag is refused by the parser in one line with
exit status 2, before anything is loaded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "MAX_BATCH_SIZE", "MAX_LOCAL_WORKERS", "add_progress_flag", "add_subject_flag", "csv_list", "folder", "int_in_range",
    "key_value", "model_ids", "scheduler", "show_progress", "subjects_of",
]

#: Larger batches do not fit any accelerator; the bound keeps absurd numbers out of torch and Zarr.
MAX_BATCH_SIZE = 1 << 16
#: A local Dask cluster of more workers than this is a typo, not a plan.
MAX_LOCAL_WORKERS = 1024
_SCHEMES = ("tcp", "tls", "ws", "wss", "inproc", "ucx")
_HOST_PORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")


def _decimal(text: str) -> int | None:
    # str.isdigit() accepts '²' and other digits int() refuses; only ASCII decimals are numbers here
    t = text.strip()
    return int(t) if t.isascii() and t.isdecimal() and len(t) <= 18 else None


def int_in_range(lo: int, hi: int, what: str = "an integer") -> Callable[[str], int]:
    """An argparse type: a decimal integer in ``lo..hi``."""

    def parse(text: str) -> int:
        value = _decimal(text)
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r} (accepted: {lo} to {hi})")
        return value

    parse.__name__ = what
    return parse


def folder(text: str) -> str:
    """A folder path; an empty one would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder path, got an empty string")
    return text


def csv_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; empty items are dropped, an empty list is refused."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected one or more names separated by commas, got {text!r}")
    return items


def model_ids(text: str) -> list[str]:
    """Model ids, comma-separated; each once."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected model id(s) separated by commas (see 'berg models'), got {text!r}")
    return list(dict.fromkeys(items))


def subjects_of(text: str) -> list[int | str]:
    """``"1,2"`` -> ``[1, 2]``, ``"N,F"`` -> ``["N", "F"]``; the card decides later which subjects exist.

    Decimal parts become integers (a card of zero-padded names takes ``1`` for ``"01"``), other parts
    stay names; both must be plain (letters, digits, ``_``, ``.``, ``-``, not starting with a sign).
    """
    import re

    from berg_core.cards.model_card import SUBJECT_PATTERN

    parts = [t for t in (p.strip() for p in text.split(",")) if t]
    values: list[int | str | None] = [
        _decimal(t) if len(t) <= 9 and _decimal(t) is not None else (t if re.match(SUBJECT_PATTERN, t) else None) for t in parts
    ]
    if not parts or any(v is None for v in values):
        raise argparse.ArgumentTypeError(
            f"subjects must be integers or names (letters, digits, '_', '.', '-') separated by commas "
            f"(e.g. 1,2 or N,F), got {text!r}"
        )
    return list(dict.fromkeys(v for v in values if v is not None))


class _ExtendSubjects(argparse.Action):
    """``--subject 1,2 --subject 3`` -> ``[1, 2, 3]``: the comma form and the repeated form both work."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        have = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, list(dict.fromkeys([*have, *values])))


def add_subject_flag(p: argparse.ArgumentParser, help_tail: str = "default: all") -> None:
    """``--subject 1,2`` (repeatable), the same in every command."""
    p.add_argument("--subject", type=subjects_of, action=_ExtendSubjects, default=None, metavar="S[,S...]",
                   help=f"subject(s) as the model's card lists them (numbers or names), comma-separated or repeated, "
                        f"e.g. 1,2 or N,F; {help_tail}")


def add_progress_flag(p: argparse.ArgumentParser, *, quiet_alias: bool = False) -> None:
    """``--progress/--no-progress``: the same switch in every command; default on when stderr is a terminal."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress bars on stderr (default: on when stderr is a terminal)")
    if quiet_alias:
        p.add_argument("--quiet", dest="progress", action="store_false", help=argparse.SUPPRESS)


def show_progress(args: argparse.Namespace) -> bool:
    """The progress switch's value, the terminal deciding when the user did not."""
    value = getattr(args, "progress", None)
    return sys.stderr.isatty() if value is None else bool(value)


def _value(text: str) -> Any:
    # JSON when it parses (numbers, lists, true); a comma list of such items; else plain text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        pass
    if "," in text:
        return [_value(t.strip()) for t in text.split(",") if t.strip()]
    return text


def key_value(text: str) -> tuple[str, str, Any]:
    """``[MODEL:]KEY=VALUE`` -> ``(model or "", key, value)``; the value as JSON when it parses.

    ``channels=Oz,O1`` gives a list of names, ``timepoints=0.1,0.15`` a list of numbers.
    """
    left, sep, value = text.partition("=")
    model, _, key = left.rpartition(":")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected [MODEL:]KEY=VALUE (e.g. fmri-nsd-fwrf:roi=V1), got {text!r}")
    return model.strip(), key.strip(), _value(value.strip())


def scheduler(text: str) -> str:
    """``local``, ``local:N`` (N >= 1 workers) or a scheduler address (``tcp://host:8786``, ``host:8786``)."""
    t = text.strip()
    if t == "local":
        return t
    if t.startswith("local:"):
        n = _decimal(t.split(":", 1)[1])
        if n is None or not 1 <= n <= MAX_LOCAL_WORKERS:
            raise argparse.ArgumentTypeError(
                f"local:N needs a number of workers from 1 to {MAX_LOCAL_WORKERS}, got {text!r}"
            )
        return f"local:{n}"
    scheme, sep, rest = t.partition("://")
    if (sep and scheme in _SCHEMES and rest) or (not sep and _HOST_PORT.match(t)):
        return t
    raise argparse.ArgumentTypeError(
        f"expected 'local', 'local:N' or a scheduler address such as tcp://host:8786 "
        f"(schemes: {', '.join(_SCHEMES)}), got {text!r}"
    )


def flatten(values: Iterable[Any] | None) -> list[Any] | None:
    """Several list-valued flags into one list (``None`` stays ``None``)."""
    if values is None:
        return None
    out: list[Any] = []
    for v in values:
        out.extend(v if isinstance(v, list) else [v])
    return out
