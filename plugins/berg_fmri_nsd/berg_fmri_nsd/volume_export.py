"""fwRF results as 3-D masks and 4-D NIfTI volumes in the subject's native space."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.plugin import IntegrityError, InvalidParameterError, check_result, make_folder, output_errors

from .layout import FWRF_MODEL_ID

__all__ = ["affine_of", "roi_mask", "to_nifti", "to_volume"]


def _checked(responses: Any) -> Any:
    return check_result(responses, ("stimulus", "voxel"), FWRF_MODEL_ID, ("i", "j", "k"), ("affine", "volume_shape"))


def _shape(da: Any) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in np.ravel(da.attrs["volume_shape"]))
    if len(shape) != 3:
        raise IntegrityError(f"the result's volume_shape attr should hold 3 sizes, found {da.attrs['volume_shape']!r}")
    return shape  # type: ignore[return-value]


def affine_of(responses: Any) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-world affine of a fwRF result (stored flat, row-major, in attrs)."""
    da = _checked(responses)
    affine = np.asarray(da.attrs["affine"], dtype=np.float64)
    if affine.size != 16:
        raise IntegrityError(f"the result's affine attr should hold 16 numbers, found {affine.size}")
    return affine.reshape(4, 4)


def _ijk(da: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = _shape(da)
    ijk = tuple(np.asarray(da[a].values, dtype=np.int64) for a in "ijk")
    for axis, idx, n in zip("ijk", ijk, shape, strict=True):
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IntegrityError(f"voxel coordinate {axis} lies outside the volume of shape {shape}")
    return ijk  # type: ignore[return-value]


def roi_mask(responses: Any) -> np.ndarray:
    """The 3-D boolean mask of the result's voxels (``vol[mask] = response`` holds)."""
    da = _checked(responses)
    mask = np.zeros(_shape(da), dtype=bool)
    mask[_ijk(da)] = True
    return mask


def to_volume(responses: Any) -> np.ndarray:
    """``(I, J, K, stimuli)`` float32 volume, NaN outside the result's voxels."""
    da = _checked(responses)
    i, j, k = _ijk(da)
    vol = np.full((*_shape(da), da.sizes["stimulus"]), np.nan, dtype=np.float32)
    vol[i, j, k, :] = np.asarray(da.values, dtype=np.float32).T
    return vol


def to_nifti(responses: Any, path: str | os.PathLike[str]) -> Path:
    """Write the result as a 4-D NIfTI (stimuli on the 4th axis, NaN outside the mask).

    Parameters
    ----------
    responses
        A ``(stimulus, voxel)`` result of ``fmri-nsd-fwrf``.
    path
        Target file (``.nii`` or ``.nii.gz``).
    """
    import nibabel as nib

    if not str(path).endswith((".nii", ".nii.gz")):
        raise InvalidParameterError(f"a NIfTI file name must end in .nii or .nii.gz, got {str(path)!r}")
    img = nib.Nifti1Image(to_volume(responses), affine_of(responses))
    img.header.set_xyzt_units("mm")
    target = Path(path).expanduser()
    out = make_folder(target.parent) / target.name
    with output_errors(out):
        nib.save(img, out)
    return out
