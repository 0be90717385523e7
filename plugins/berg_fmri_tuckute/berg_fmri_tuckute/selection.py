"""The ``roi`` selection of the Tuckute model: names in the order given, repeats kept (as BERG 2.0)."""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, did_you_mean

from .layout import ROI_NAMES

__all__ = ["parse_rois"]


def parse_rois(selection: dict[str, Any] | None) -> list[str]:
    """The ROIs to predict: ``selection["roi"]`` (a name or a list of names), else all six in the published order.

    Raises
    ------
    InvalidParameterError
        Not a name or a list of names, empty, or a name that is not one of the six.
    """
    if not selection or selection.get("roi") is None:
        return list(ROI_NAMES)
    value = selection["roi"]
    names = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if names is None or not names or not all(isinstance(n, str) for n in names):
        raise InvalidParameterError(
            f"selection 'roi' must be a ROI name or a non-empty list of them from {list(ROI_NAMES)}, got {value!r:.120}"
        )
    bad = [n for n in names if n not in ROI_NAMES]
    if bad:
        raise InvalidParameterError(f"unknown ROI(s) {bad}; valid ROIs: {list(ROI_NAMES)}.{did_you_mean(bad, ROI_NAMES)}")
    return [str(n) for n in names]
