"""How ``berg convert`` stores the TVSD regression rows: whole electrodes per chunk.

The outputs are electrode-major (``electrode x time``), so a chunk of 8 x 300
rows holds exactly 8 electrodes and an electrode or ROI selection reads only
its own chunks. The ROIs are contiguous electrode blocks already, so no row
grouping is needed (and none could be read for the newest file names, whose
metadata file is not named after them).
"""

from __future__ import annotations

from typing import Any

from berg_core.plugin import ConvertPlan

from .layout import N_TIMES

__all__ = ["ELECTRODES_PER_CHUNK", "tvsd_convert_plan"]

ELECTRODES_PER_CHUNK = 8


def tvsd_convert_plan(weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan:
    """Rows per chunk: 8 electrodes of 300 time points."""
    return ConvertPlan(rows_per_chunk=ELECTRODES_PER_CHUNK * N_TIMES)
