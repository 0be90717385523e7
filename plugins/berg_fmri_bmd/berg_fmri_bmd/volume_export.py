"""fmri-bmd-s3d results as MNI volumes: a 3-D mask, a 4-D array, a NIfTI file (``berg_export_result``).

The result carries its voxels' volume indices (coordinates ``i``, ``j``, ``k``)
and the subject mask's geometry (attrs ``affine``, ``volume_shape``), so any
result, whole or selected, goes back into the volume without the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.plugin import (
    InvalidParameterError,
    check_options,
    check_result,
    make_folder,
    output_errors,
    volume_affine,
    volume_mask,
    volume_values,
)

from .layout import MODEL_ID

__all__ = ["FORMATS", "affine_of", "export_result", "result_mask", "to_nifti", "to_volume"]

FORMATS = ("nifti", "volume", "mask")


def _checked(responses: Any) -> Any:
    return check_result(responses, ("stimulus", "voxel"), MODEL_ID, ("i", "j", "k"), ("affine", "volume_shape"))


def affine_of(responses: Any) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-MNI affine of a result (stored flat, row-major, in attrs)."""
    return volume_affine(_checked(responses))


def result_mask(responses: Any) -> np.ndarray:
    """The 3-D boolean mask of the result's voxels (``vol[mask]`` lists them in C order)."""
    return volume_mask(_checked(responses))


def to_volume(responses: Any) -> np.ndarray:
    """``(I, J, K, stimuli)`` float32 volume, NaN outside the result's voxels."""
    return volume_values(_checked(responses))


def to_nifti(responses: Any, path: str | os.PathLike[str]) -> Path:
    """Write the result as a 4-D NIfTI-1 file (stimuli on the 4th axis, NaN outside the voxels, MNI affine).

    Parameters
    ----------
    responses
        A ``(stimulus, voxel)`` result of ``fmri-bmd-s3d``.
    path
        Target file (``.nii`` or ``.nii.gz``).
    """
    import nibabel as nib

    if not str(path).endswith((".nii", ".nii.gz")):
        raise InvalidParameterError(f"a NIfTI file name must end in .nii or .nii.gz, got {str(path)!r}")
    affine = affine_of(responses)
    img = nib.Nifti1Image(to_volume(responses), affine)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code=4)  # MNI152
    img.set_qform(affine, code=4)
    target = Path(path).expanduser()
    out = make_folder(target.parent) / target.name
    with output_errors(out):
        nib.save(img, out)
    return out


def export_result(result: Any, fmt: str, path: str | None, options: Mapping[str, Any]) -> Any:
    """``"nifti"`` (``path`` = file), ``"volume"`` (4-D array) or ``"mask"`` (3-D mask); ``None`` for other models."""
    if getattr(result, "attrs", {}).get("model_id") != MODEL_ID:
        return None
    if fmt not in FORMATS:
        raise InvalidParameterError(f"{MODEL_ID} results cannot be exported as {fmt!r}; formats: {list(FORMATS)}")
    check_options(options, (), f"{MODEL_ID}.export({fmt!r})")
    if fmt == "nifti":
        if path is None:
            raise InvalidParameterError("exporting as 'nifti' writes a file: give a path (.nii or .nii.gz)")
        return to_nifti(result, path)
    return to_volume(result) if fmt == "volume" else result_mask(result)
