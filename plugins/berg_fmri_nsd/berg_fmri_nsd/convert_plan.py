"""How ``berg convert`` stores the fsaverage model's regression rows: vertices grouped by ROI.

A one-ROI load reads only the chunks of that ROI's vertices, so each
hemisphere's rows are stored grouped by ROI membership (readers restore the
vertex order) and 2,048 vertices go in a chunk (2 MB of float32
coefficients at 250 components).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.plugin import ConvertPlan, roi_row_groups

from .layout import HEMISPHERES

__all__ = ["VERTEX_ROWS_PER_CHUNK", "fsaverage_convert_plan"]

VERTEX_ROWS_PER_CHUNK = 2048


def fsaverage_convert_plan(weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan | None:
    """Row groups from the metadata's ``fmri.{lh,rh}_fsaverage_rois``; ``None`` when it lists no ROIs."""
    fmri = (metadata or {}).get("fmri")
    if not isinstance(fmri, dict):
        return None
    groups: dict[str, np.ndarray] = {}
    for hemi in HEMISPHERES:
        rois = fmri.get(f"{hemi}_fsaverage_rois")
        reg = weights.get(f"{hemi}_reg_param")
        if isinstance(rois, dict) and isinstance(reg, dict) and isinstance(reg.get("coef_"), np.ndarray):
            groups[f"{hemi}_reg_param"] = roi_row_groups(reg["coef_"].shape[0], rois, source)
    return ConvertPlan(row_groups=groups, rows_per_chunk=VERTEX_ROWS_PER_CHUNK) if groups else None
