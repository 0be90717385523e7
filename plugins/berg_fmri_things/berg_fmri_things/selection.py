"""Which voxels a selection asks for, in which order.

Accepted keys (the card declares both, so core checks their form first):

``roi``
    A ROI name or a list of names. The output keeps the order given: each
    ROI's voxels (ascending) in turn, as BERG 2.0 concatenates them. Where
    listed ROIs overlap, a voxel comes once, with the first listed ROI
    holding it (BERG 2.0 repeated it; a repeated voxel label would make the
    result ambiguous to index).
``voxel_index``
    BERG 2.0's binary mask of 211,339 entries, or integer voxel indices.
    Its voxels follow the ROI voxels (ascending), as in BERG 2.0, without
    repeating a voxel a ROI already gave.

No selection keeps every voxel, in the metadata's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, mask_or_indices, select_names

from .layout import MODEL_ID, N_VOXELS, ROIS
from .metadata import VoxelLabels

__all__ = ["SELECTION_KEYS", "VoxelSelection", "resolve_selection"]

SELECTION_KEYS = ("roi", "voxel_index")


@dataclass(frozen=True)
class VoxelSelection:
    """The selected voxels in output order, the ROI each answers for, and a JSON-friendly description."""

    voxels: np.ndarray  # (n,) int64 voxel indices
    roi: np.ndarray  # (n,) str: the listed ROI that selected each voxel ("" for voxel_index picks / no selection)
    description: dict[str, Any]


def resolve_selection(selection: Mapping[str, Any] | None, labels: VoxelLabels) -> VoxelSelection:
    """Map ``selection`` (checked by core against the card) onto the subject's voxels.

    Raises
    ------
    InvalidParameterError
        A ROI this subject's metadata does not list (the message lists those it does).
    """
    selection = dict(selection or {})
    roi_value, index_value = selection.get("roi"), selection.get("voxel_index")
    if roi_value is None and index_value is None:
        return VoxelSelection(np.arange(N_VOXELS, dtype=np.int64), np.full(N_VOXELS, "", dtype=str), {})
    parts: list[np.ndarray] = []
    names_of: list[np.ndarray] = []
    description: dict[str, Any] = {}
    if roi_value is not None:
        names = select_names(roi_value, list(ROIS), what="selection['roi']", owner=MODEL_ID, noun="ROI")
        missing = [n for n in names if n not in labels.rois]
        if missing:
            raise InvalidParameterError(
                f"ROI(s) {missing} not found in this subject's metadata ({labels.source}); it lists {list(labels.rois)}"
            )
        for name in names:
            parts.append(labels.rois[name])
            names_of.append(np.full(labels.rois[name].size, name))
        description["roi"] = names
    if index_value is not None:
        idx = mask_or_indices(index_value, N_VOXELS, what="selection['voxel_index']", noun="voxel")
        parts.append(idx)
        names_of.append(np.full(idx.size, ""))
        description["voxel_index"] = f"{idx.size} of {N_VOXELS} voxels"
    voxels, roi = np.concatenate(parts), np.concatenate(names_of).astype(str)
    _, first = np.unique(voxels, return_index=True)  # first listed wins: keep each voxel's first position
    keep = np.sort(first)
    if keep.size == 0:
        raise InvalidParameterError(f"selection {description} holds no voxel; choose another ROI or voxels")
    return VoxelSelection(voxels[keep], roi[keep], description)
