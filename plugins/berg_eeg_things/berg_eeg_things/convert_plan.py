"""How ``berg convert`` stores the EEG model's regression rows: one channel per chunk.

The model's outputs are channel-major (``channel x time``), so a chunk of
``len(times)`` rows holds exactly one channel and a channel selection reads
only its own chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import ConvertPlan

__all__ = ["eeg_convert_plan"]


def eeg_convert_plan(metadata: dict[str, Any] | None) -> ConvertPlan | None:
    """Rows per chunk from the metadata's ``eeg.times``; ``None`` when it has no time grid."""
    eeg = (metadata or {}).get("eeg")
    times = eeg.get("times") if isinstance(eeg, dict) else None
    if not isinstance(times, (np.ndarray, list)):
        return None
    return ConvertPlan(rows_per_chunk=len(times))
