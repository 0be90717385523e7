"""The one check of a whole-number argument (sizes, counts, seeds) that no card declares.

Plot, export and synthetic-store options are a plugin's own; their integers are
checked here so every such message reads the same: ``"n_slices must be an
integer from 1 to 48, got 0"``.
"""

from __future__ import annotations

import numbers
from typing import Any

from berg_core.errors import InvalidParameterError

__all__ = ["check_int"]


def _kind(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer from {low} to {high}"
    if low == 1:
        return "a positive integer"
    if low == 0:
        return "a non-negative integer"
    if low is not None:
        return f"an integer of at least {low}"
    return "an integer" if high is None else f"an integer of at most {high}"


def check_int(value: Any, what: str, *, low: int | None = None, high: int | None = None, note: str = "") -> int:
    """``value`` as an ``int``: a whole number (Python or NumPy, not a bool) from ``low`` to ``high``.

    Parameters
    ----------
    value
        What the user gave.
    what
        Its name in the message.
    low, high
        Inclusive bounds; ``None`` for none.
    note
        Added after the expectation, e.g. ``" (BERG 2.0 uses 250)"``.

    Raises
    ------
    InvalidParameterError
        ``"{what} must be {expectation}{note}, got {value!r}"``.
    """
    number = None if isinstance(value, bool) or not isinstance(value, numbers.Integral) else int(value)
    if number is None or (low is not None and number < low) or (high is not None and number > high):
        raise InvalidParameterError(f"{what} must be {_kind(low, high)}{note}, got {value!r:.100}")
    return number
