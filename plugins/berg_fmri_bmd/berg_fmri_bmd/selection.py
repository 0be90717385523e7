"""Which voxels a selection of fmri-bmd-s3d keeps.

Keys (BERG 2.0 @e73da00e): ``roi`` (a ROI name; BERG 2.0's validators return
it as a string or, newest, a one-element list) and ``voxels`` (a binary mask
of one entry per voxel of the subject). Accepted here:

* ``{"roi": name}``: that ROI's voxels in the order the metadata stores them
  (BERG 2.0's ``coef_[rois[roi]]``);
* ``{"roi": [names]}``: the union of the ROIs, voxels ascending;
* ``{"voxels": mask}``: the voxels whose entry is 1, ascending (voxel indices are accepted too);
* neither: every voxel.

BERG 2.0 silently ignored ``voxels`` next to ``roi``; here the card declares the
two keys in conflict, so core refuses the pair with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, mask_or_indices, select_names

from .layout import MODEL_ID, ROIS
from .metadata import roi_indices

__all__ = ["selected_voxels"]


def selected_voxels(selection: Mapping[str, Any] | None, meta: Mapping[str, Any], n_voxels: int,
                    source: str) -> tuple[np.ndarray, dict[str, Any]]:
    """``(voxel indices, normalised selection)``; core checked the keys and ROI names against the card."""
    sel = dict(selection or {})
    if sel.get("roi") is not None:
        value = sel["roi"]
        names = select_names(value, list(ROIS), what="selection['roi']", owner=MODEL_ID, noun="ROI", repeats="merge")
        parts = [roi_indices(meta, name, n_voxels, source) for name in names]
        if isinstance(value, str):
            return parts[0], {"roi": value}
        return np.unique(np.concatenate(parts)).astype(np.int64), {"roi": names}
    if sel.get("voxels") is not None:
        idx = mask_or_indices(sel["voxels"], n_voxels, what="selection['voxels']", noun="voxel")
        if idx.size == 0:
            raise InvalidParameterError("selection['voxels'] selects no voxel; omit the key to keep every voxel")
        return idx, {"voxels": idx.tolist()}
    return np.arange(n_voxels, dtype=np.int64), {}
