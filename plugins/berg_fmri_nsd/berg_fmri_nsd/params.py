"""The NSD models' words for the SDK's parameter checks.

Core checks subjects, load and metadata options and selections against the
cards; these two wrappers serve what only the plugin sees (export and
synthetic-store options, ROI lists of metadata and synthetic stores) in the
same style.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from berg_core.plugin import check_options as _check_options
from berg_core.plugin import select_names

__all__ = ["check_options", "roi_names"]


def check_options(options: Mapping[str, Any], accepted: Collection[str], model_id: str, function: str) -> None:
    """Refuse keyword options of ``model_id``'s ``function`` that are not ``accepted``, listing those that are."""
    _check_options(options, accepted, f"{model_id}.{function}")


def roi_names(value: Any, valid: Iterable[str], model_id: str, what: str = "selection['roi']") -> list[str]:
    """A ROI name or a list of names -> unique names in the order given (a union: repeats merged).

    Raises
    ------
    InvalidParameterError
        Not a string or a non-empty list of strings, or an unknown name (the
        message lists the valid ROIs and the closest one).
    """
    return select_names(value, list(valid), what=what, owner=model_id, noun="ROI", repeats="merge")
