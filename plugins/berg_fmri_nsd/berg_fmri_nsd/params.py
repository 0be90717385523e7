"""Checks of user parameters shared by both NSD models.

Every check raises :class:`~berg_core.InvalidParameterError` naming what was
expected and what was given; lists of valid values are always spelled out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError

__all__ = ["check_options", "check_selection_keys", "roi_names"]


def check_options(options: Mapping[str, Any], accepted: Collection[str], model_id: str, function: str) -> None:
    """Refuse keyword options a model does not know, listing those it accepts."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        shown = sorted(accepted) or "none"
        raise InvalidParameterError(f"unknown option(s) {unknown} for {model_id}.{function}; accepted: {shown}")


def check_selection_keys(selection: Mapping[str, Any], valid: Iterable[str], model_id: str) -> None:
    """Refuse selection keys a model does not know, listing the valid ones."""
    valid = list(valid)
    unknown = sorted(str(k) for k in selection if k not in valid)
    if unknown:
        raise InvalidParameterError(f"unknown selection key(s) {unknown} for {model_id}; valid keys: {valid}")


def roi_names(value: Any, valid: Iterable[str], model_id: str, what: str = "selection['roi']") -> list[str]:
    """A ROI name or a list of names -> list of unique names in the order given.

    Raises
    ------
    InvalidParameterError
        Not a string or a non-empty list of strings, or an unknown name (the
        message lists the valid ROIs).
    """
    valid = list(valid)
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, (list, tuple, np.ndarray)) and not (isinstance(value, np.ndarray) and value.ndim != 1):
        names = list(value)
        if not names:
            raise InvalidParameterError(f"{what} is an empty list; expected a ROI name or a list of names from {valid}")
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise InvalidParameterError(
                f"{what} must hold ROI names (strings), got {type(bad[0]).__name__} {bad[0]!r}; valid ROIs: {valid}"
            )
    else:
        raise InvalidParameterError(
            f"{what} must be a ROI name or a list of names, got {type(value).__name__} {value!r}"[:300]
            + f"; valid ROIs: {valid}"
        )
    unknown = [n for n in names if n not in valid]
    if unknown:
        import difflib

        same_case = [v for v in valid if v.lower() == unknown[0].lower()]
        close = same_case or difflib.get_close_matches(unknown[0], valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidParameterError(f"unknown ROI {unknown[0]!r} for {model_id}.{hint} Valid ROIs: {valid}")
    return list(dict.fromkeys(str(n) for n in names))
