"""fwRF results as 3-D masks and 4-D NIfTI volumes in the subject's native space."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.plugin import (
    InvalidParameterError,
    check_result,
    make_folder,
    output_errors,
    volume_affine,
    volume_mask,
    volume_values,
)

from .layout import FWRF_MODEL_ID

__all__ = ["affine_of", "roi_mask", "to_nifti", "to_volume"]


def _checked(responses: Any) -> Any:
    return check_result(responses, ("stimulus", "voxel"), FWRF_MODEL_ID, ("i", "j", "k"), ("affine", "volume_shape"))


def affine_of(responses: Any) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-world affine of a fwRF result (stored flat, row-major, in attrs)."""
    return volume_affine(_checked(responses))


def roi_mask(responses: Any) -> np.ndarray:
    """The 3-D boolean mask of the result's voxels (``vol[mask] = response`` holds)."""
    return volume_mask(_checked(responses))


def to_volume(responses: Any) -> np.ndarray:
    """``(I, J, K, stimuli)`` float32 volume, NaN outside the result's voxels."""
    return volume_values(_checked(responses))


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
