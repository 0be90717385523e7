"""Reading fmri-bmd-s3d's metadata: the subject's mask and affine, its ROIs, per-voxel accuracy.

Voxel order: the model's outputs are the True entries of ``fmri.sub_mask``
(62 x 77 x 61) in NumPy C order (BERG 2.0's plot script does
``vol[sub_mask] = values``), so voxel ``v`` sits at the ``v``-th True entry.

ROI entries (``fmri.rois[name]``) are stored as BERG 2.0 loaded them from BMD's
``ROI-{name}_indices.pkl`` and index the voxel vector (``coef_[roi]``). The
card calls them a tuple; every form that indexes a 1-D vector that way is
accepted: a tuple/list holding one integer array (``np.where``'s output), an
integer array or list, or a boolean mask of one entry per voxel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import IntegrityError, Store, metadata_entry, read_metadata

from .layout import metadata_relpath

__all__ = ["ACCURACY_KEYS", "SubjectVolume", "load_metadata", "roi_indices", "subject_volume", "voxel_accuracy"]

#: Per-voxel ``encoding_models`` entries that become output coordinates (when the metadata holds them).
ACCURACY_KEYS = (
    "noiseceiling_task_test_n_10",
    "noiseceiling_task_test_n_1",
    "noiseceiling_task_train_n_3",
    "noiseceiling_task_train_n_1",
    "correlation",
    "r2",
    "explained_variance",
)


def load_metadata(store: Store, subject: int) -> tuple[dict[str, Any], str]:
    """The subject's metadata dict and its URL."""
    relpath = metadata_relpath(subject)
    return read_metadata(store, relpath), store.url_of(relpath)


@dataclass(frozen=True)
class SubjectVolume:
    """The subject's voxels in the MNI volume."""

    mask: np.ndarray  # 3-D bool: True = a voxel of the output, in C order
    affine: np.ndarray  # (4, 4) float64 voxel -> MNI mm

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def ijk(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Volume indices of every voxel, in output order."""
        return tuple(a.astype(np.int64) for a in np.unravel_index(np.flatnonzero(self.mask), self.mask.shape))  # type: ignore[return-value]


def subject_volume(meta: Mapping[str, Any], source: str) -> SubjectVolume:
    """``fmri.sub_mask`` and ``fmri.sub_mask_affine``, checked."""
    mask = np.asarray(metadata_entry(meta, "fmri/sub_mask", source, numeric=True))
    if mask.ndim != 3 or (mask.dtype != bool and not np.isin(mask, (0, 1)).all()):
        raise IntegrityError(f"{source}: fmri/sub_mask should be a 3-D boolean volume, found {mask.dtype} {mask.shape}")
    affine = np.asarray(metadata_entry(meta, "fmri/sub_mask_affine", source, numeric=True), dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise IntegrityError(f"{source}: fmri/sub_mask_affine should be a finite 4 x 4 matrix, found shape {affine.shape}")
    volume = SubjectVolume(mask.astype(bool), affine)
    if volume.n_voxels == 0:
        raise IntegrityError(f"{source}: fmri/sub_mask holds no voxels")
    return volume


def roi_indices(meta: Mapping[str, Any], roi: str, n_voxels: int, source: str) -> np.ndarray:
    """Indices into the voxel vector of ``fmri.rois[roi]``, in the order stored (``int64``).

    Raises
    ------
    IntegrityError
        The entry is missing, is not one of the accepted forms, or indexes outside the voxels or twice.
    """
    raw = metadata_entry(meta, f"fmri/rois/{roi}", source)
    value = raw
    if isinstance(value, (tuple, list)) and len(value) == 1 and np.ndim(value[0]) == 1:
        value = value[0]  # np.where's (indices,)
    arr = np.asarray(value)
    what = f"{source}: fmri/rois/{roi}"
    if arr.ndim != 1 or arr.dtype.kind not in "biu":
        raise IntegrityError(f"{what} should index the {n_voxels} voxels (integers, or a tuple holding them), "
                             f"found {arr.dtype} of shape {arr.shape}")
    if arr.dtype == bool:
        if arr.size != n_voxels:
            raise IntegrityError(f"{what} is a mask of {arr.size} entries, expected one per voxel ({n_voxels})")
        return np.flatnonzero(arr).astype(np.int64)
    idx = arr.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_voxels):
        raise IntegrityError(f"{what} indexes voxels from {idx.min()} to {idx.max()}; the subject has {n_voxels}")
    if np.unique(idx).size != idx.size:
        raise IntegrityError(f"{what} lists a voxel more than once")
    return idx


def voxel_accuracy(meta: Mapping[str, Any], n_voxels: int, source: str) -> dict[str, np.ndarray]:
    """Per-voxel noise ceilings and accuracy of ``encoding_models`` (float32), those the metadata holds."""
    section = meta.get("encoding_models") if isinstance(meta, Mapping) else None
    out: dict[str, np.ndarray] = {}
    for key in ACCURACY_KEYS:
        if not isinstance(section, Mapping) or key not in section:
            continue
        values = np.asarray(metadata_entry(meta, f"encoding_models/{key}", source, numeric=True), dtype=np.float32)
        if values.shape != (n_voxels,):
            raise IntegrityError(f"{source}: encoding_models/{key} has shape {values.shape}, expected ({n_voxels},)")
        out[key] = values
    return out
