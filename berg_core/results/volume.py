"""Volume results: voxels labelled by ``i``/``j``/``k`` coords with ``affine``/``volume_shape`` attrs.

The geometry checks and the scatter into a 3-D/4-D array that every plugin with volume
results (fwRF, BOLD Moments) needs, written once. Callers pass a result they already
checked with :func:`~berg_core.results.checks.check_result`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from berg_core.errors import IntegrityError

__all__ = ["volume_affine", "volume_mask", "volume_shape", "volume_values", "voxel_indices"]


def volume_shape(da: Any) -> tuple[int, int, int]:
    """The ``(I, J, K)`` size of the volume a result's voxels lie in (``volume_shape`` attr)."""
    shape = tuple(int(n) for n in np.ravel(da.attrs["volume_shape"]))
    if len(shape) != 3:
        raise IntegrityError(f"the result's volume_shape attr should hold 3 sizes, found {da.attrs['volume_shape']!r}")
    return shape  # type: ignore[return-value]


def volume_affine(da: Any) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-world affine of a result (stored flat, row-major, in the ``affine`` attr)."""
    affine = np.asarray(da.attrs["affine"], dtype=np.float64)
    if affine.size != 16:
        raise IntegrityError(f"the result's affine attr should hold 16 numbers, found {affine.size}")
    return affine.reshape(4, 4)


def voxel_indices(da: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``i``, ``j``, ``k`` index arrays of the result's voxels, each checked to lie inside the volume."""
    shape = volume_shape(da)
    ijk = tuple(np.asarray(da[a].values, dtype=np.int64) for a in "ijk")
    for axis, idx, n in zip("ijk", ijk, shape, strict=True):
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IntegrityError(f"voxel coordinate {axis} lies outside the volume of shape {shape}")
    return ijk  # type: ignore[return-value]


def volume_mask(da: Any) -> np.ndarray:
    """The 3-D boolean mask of the result's voxels (``vol[mask]`` lists them in C order)."""
    mask = np.zeros(volume_shape(da), dtype=bool)
    mask[voxel_indices(da)] = True
    return mask


def volume_values(da: Any) -> np.ndarray:
    """``(I, J, K, stimuli)`` float32 volume of a ``(stimulus, voxel)`` result, NaN outside its voxels."""
    i, j, k = voxel_indices(da)
    vol = np.full((*volume_shape(da), da.sizes["stimulus"]), np.nan, dtype=np.float32)
    vol[i, j, k, :] = np.asarray(da.transpose("voxel", "stimulus").values, dtype=np.float32)
    return vol
