"""The owning plugin's chunking plan for one weights file of ``berg convert``, checked against the file.

Core knows no model family: how regression rows are grouped and chunked (one EEG
channel per chunk, fsaverage vertices grouped by ROI...) is the plugin's answer to
``berg_convert_plan``. Core only checks that the answer fits the file it converts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.errors import PluginError
from berg_core.registry.request import ConvertPlan

if TYPE_CHECKING:
    from berg_core.registry.manager import PluginManager, RegisteredModel

__all__ = ["REGRESSION_SUFFIX", "checked_plan", "weights_plan"]

#: top-level groups of a BERG 2.0 weights dict holding the regression (``reg_param``, ``lh_reg_param``...)
REGRESSION_SUFFIX = "reg_param"


def weights_plan(
    pm: PluginManager, owner: RegisteredModel | None, weights: dict[str, Any], metadata: dict[str, Any] | None, source: str
) -> tuple[dict[str, np.ndarray], int | None]:
    """Row groups and rows per chunk of one weights file, as the plugin owning its model plans them.

    A folder no installed plugin owns, or a plugin without a plan, gets no row groups and
    core's default rows per chunk (``None``).
    """
    if owner is None:
        return {}, None
    hook = pm.owner_hook("berg_convert_plan", owner.plugin_name)
    answer = hook(card=owner.card, weights=weights, metadata=metadata, source=source)
    return checked_plan(answer, weights, f"plugin {owner.plugin_name!r} (berg_convert_plan of {owner.card.id}, {source})")


def checked_plan(answer: Any, weights: Mapping[str, Any], who: str) -> tuple[dict[str, np.ndarray], int | None]:
    """``answer`` (a :class:`ConvertPlan` or ``None``) as row groups and rows per chunk, once it fits ``weights``.

    Raises
    ------
    PluginError
        The answer is not a plan, names a group the weights do not hold, or gives a
        group number per row for another number of rows.
    """
    if answer is None:
        return {}, None
    if not isinstance(answer, ConvertPlan):
        raise PluginError(f"{who} returned {type(answer).__name__}, expected a ConvertPlan or None")
    rows = answer.rows_per_chunk
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1):
        raise PluginError(f"{who}: rows_per_chunk must be a positive integer or None, got {rows!r}")
    regression = {k: v for k, v in weights.items() if isinstance(k, str) and k.endswith(REGRESSION_SUFFIX) and isinstance(v, Mapping)}
    groups: dict[str, np.ndarray] = {}
    for name, numbers in dict(answer.row_groups).items():
        if name not in regression:
            raise PluginError(
                f"{who}: row groups for {name!r}, which is not a regression group of the weights; "
                f"it holds {sorted(regression)}"
            )
        arr = np.asarray(numbers)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise PluginError(f"{who}: row groups for {name!r} must be 1-D integers, got {arr.dtype} of shape {arr.shape}")
        row_counts = sorted(_row_counts(regression[name]))
        if len(arr) not in row_counts:
            raise PluginError(f"{who}: {len(arr)} row groups for {name!r}, whose arrays have {row_counts} rows")
        groups[name] = arr
    return groups, None if rows is None else int(rows)


def _row_counts(tree: Mapping[str, Any]) -> set[int]:
    counts: set[int] = set()
    for value in tree.values():
        if isinstance(value, Mapping):
            counts |= _row_counts(value)
        elif isinstance(value, np.ndarray) and value.ndim >= 1:
            counts.add(value.shape[0])
    return counts
