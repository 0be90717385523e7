"""Which voxels a fwRF selection covers, and which ROI's model predicts each.

A selection is ``{"roi": name}`` or ``{"roi": [names]}``. For a list, the
output covers the union of the ROIs' masks, in the C-order of the union mask
(so ``vol[mask] = response`` holds). ROIs may overlap (``early`` contains
voxels of ``V1``): a voxel in several listed ROIs is predicted by the FIRST
listed ROI that contains it, and a ROI left with no voxels of its own is not
loaded at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import IntegrityError, first_listed_wins

from .layout import FWRF_MODEL_ID, FWRF_ROIS
from .metadata import lookup
from .params import roi_names

__all__ = ["RoiAssignment", "RoiVolume", "assign_voxels", "fwrf_rois", "roi_volume"]


def fwrf_rois(selection: Mapping[str, Any]) -> list[str]:
    """The ROI names of a fwRF selection (core checked it against the card), in the order given."""
    return roi_names(selection["roi"], FWRF_ROIS, FWRF_MODEL_ID)


@dataclass(frozen=True)
class RoiVolume:
    """A ROI's mask volume and affine, as its metadata file gives them."""

    mask: np.ndarray  # 3-D bool
    affine: np.ndarray  # (4, 4) float64

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())


def roi_volume(metadata: Mapping[str, Any], source: str) -> RoiVolume:
    """Read and check ``fmri.roi_mask_volume`` and ``fmri.fmri_affine``."""
    mask = np.asarray(lookup(metadata, "fmri", "roi_mask_volume", source))
    if mask.ndim != 3 or mask.dtype.kind not in "biu" or (mask.dtype != bool and not np.isin(mask, (0, 1)).all()):
        raise IntegrityError(f"{source}: fmri/roi_mask_volume should be a 3-D boolean volume, found {mask.dtype} {mask.shape}")
    affine = np.asarray(lookup(metadata, "fmri", "fmri_affine", source), dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise IntegrityError(f"{source}: fmri/fmri_affine should be a finite 4 x 4 matrix, found shape {affine.shape}")
    return RoiVolume(mask.astype(bool), affine)


@dataclass(frozen=True)
class RoiAssignment:
    """The voxels one ROI's model predicts.

    ``positions`` index the ROI's own voxels (C-order of its mask, the order
    of its read-out rows); ``columns`` are where they go in the output.
    """

    roi: str
    positions: np.ndarray
    columns: np.ndarray


def assign_voxels(rois: Sequence[str], masks: Sequence[np.ndarray]) -> tuple[np.ndarray, list[RoiAssignment]]:
    """The union mask and, per ROI (in the order given), the voxels it predicts (first listed wins)."""
    union, parts = first_listed_wins(masks)
    return union, [RoiAssignment(roi, positions, columns) for roi, (positions, columns) in zip(rois, parts, strict=True)]
