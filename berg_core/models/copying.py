"""Deep copies that keep shared services shared, and the refusal to copy a cleaned-up model."""

from __future__ import annotations

import copy
from typing import Any

from berg_core.errors import InvalidParameterError

__all__ = ["check_copyable", "deepcopy_sharing"]


def deepcopy_sharing(obj: Any, memo: dict[int, Any], shared: list[Any]) -> Any:
    """``copy.deepcopy`` of ``obj``'s attributes, keeping the objects of ``shared`` as they are."""
    for item in shared:
        if item is not None:
            memo[id(item)] = item
    new = object.__new__(type(obj))
    memo[id(obj)] = new
    new.__dict__.update(copy.deepcopy(obj.__dict__, memo))
    return new


def check_copyable(model: Any, action: str) -> None:
    """Refuse to ``action`` ("copy" or "pickle") a cleaned-up model: it has no weights left to copy."""
    if model.closed:
        raise InvalidParameterError(
            f"cannot {action} {model.model_id} (subject {model.subject}): it was cleaned up and holds no weights; "
            f"{action} it before cleanup(), or load it again with BERG.get_encoding_model"
        )
