"""Names of the results of several models: one per model, readable and unique."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from berg_core.cards.model_card import result_group

__all__ = ["model_labels"]


def model_labels(models: Sequence[Any]) -> list[str]:
    """Unique, readable keys for several models: ``model_id/subject-SS`` (``subject-N`` for named subjects,
    ``model_id`` alone for participant-averaged models), numbered if repeated."""
    base = [result_group(m.model_id, m.subject) for m in models]
    counts: dict[str, int] = {}
    labels = []
    for b in base:
        counts[b] = counts.get(b, 0) + 1
        labels.append(b if base.count(b) == 1 else f"{b}#{counts[b]}")
    return labels
