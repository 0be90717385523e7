"""Which voxels a selection asks for: the sorted union of ROI voxels and voxel_index voxels, as BERG 2.0.

``roi``
    A ROI name or a list of names (card ``names_or_groups``: core checks them against the card's list);
    each must be one this subject's metadata has (BERG 2.0 keeps only ROIs with voxels).
``voxel_index``
    BERG 2.0's binary mask over the subject's voxels (its length is the subject's voxel count), or voxel indices.

Both together give the union; voxels always come in ascending order. No selection keeps every voxel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, mask_or_indices, select_names

from .layout import MODEL_ID, ROIS
from .metadata import VoxelLabels

__all__ = ["SELECTION_KEYS", "resolve_selection"]

SELECTION_KEYS = ("roi", "voxel_index")


def resolve_selection(selection: Mapping[str, Any] | None, labels: VoxelLabels) -> tuple[np.ndarray, dict[str, Any]]:
    """The selected voxels (ascending int64) and a JSON-friendly description of the selection.

    Raises
    ------
    InvalidParameterError
        A ROI the subject's metadata lacks (the message lists those it has), a mask of the wrong length,
        an index out of range, or a selection holding no voxel.
    """
    selection = dict(selection or {})
    roi_value, index_value = selection.get("roi"), selection.get("voxel_index")
    n = labels.n_voxels
    if roi_value is None and index_value is None:
        return np.arange(n, dtype=np.int64), {}
    parts: list[np.ndarray] = []
    description: dict[str, Any] = {}
    if roi_value is not None:
        names = select_names(roi_value, list(ROIS), what="selection['roi']", owner=MODEL_ID, noun="ROI", repeats="merge")
        missing = [r for r in names if r not in labels.rois]
        if missing:
            raise InvalidParameterError(
                f"ROI(s) {missing} are not in this subject's metadata ({labels.source}); it has {list(labels.rois)}"
            )
        parts += [labels.rois[r] for r in names]
        description["roi"] = names
    if index_value is not None:
        idx = mask_or_indices(index_value, n, what="selection['voxel_index']", noun="voxel")
        parts.append(idx)
        description["voxel_index"] = f"{idx.size} of {n} voxels"
    voxels = np.unique(np.concatenate(parts).astype(np.int64))
    if voxels.size == 0:
        raise InvalidParameterError(f"selection {description} holds no voxel; choose another ROI or voxels")
    return voxels, description
