"""How ``berg convert`` stores the THINGS-fMRI1 regression rows: voxels grouped by ROI.

Rows are stored grouped by ROI membership (readers restore the voxel order),
2,048 voxels a chunk, so a one-ROI load from the Zarr layout reads only the
chunks of that ROI's voxels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import ConvertPlan, roi_row_groups

from .layout import N_VOXELS

__all__ = ["VOXEL_ROWS_PER_CHUNK", "things_fmri_convert_plan"]

VOXEL_ROWS_PER_CHUNK = 2048


def things_fmri_convert_plan(weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan:
    """Row groups from the metadata's ``roi`` table (none without one), 2,048 rows a chunk."""
    rois = (metadata or {}).get("roi")
    reg = weights.get("reg_param")
    coef = reg.get("coef_") if isinstance(reg, dict) else None
    if isinstance(rois, dict) and rois and isinstance(coef, np.ndarray) and coef.shape[0] == N_VOXELS:
        return ConvertPlan(row_groups={"reg_param": roi_row_groups(N_VOXELS, rois, source)},
                           rows_per_chunk=VOXEL_ROWS_PER_CHUNK)
    return ConvertPlan(rows_per_chunk=VOXEL_ROWS_PER_CHUNK)
