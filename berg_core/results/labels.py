"""Names of the results of several models: one per model, readable and unique."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["model_labels"]


def model_labels(models: Sequence[Any]) -> list[str]:
    """Unique, readable keys for several models: ``model_id/subject-SS``, numbered if repeated."""
    base = [m.model_id + ("" if m.subject is None else f"/subject-{m.subject:02d}") for m in models]
    counts: dict[str, int] = {}
    labels = []
    for b in base:
        counts[b] = counts.get(b, 0) + 1
        labels.append(b if base.count(b) == 1 else f"{b}#{counts[b]}")
    return labels
