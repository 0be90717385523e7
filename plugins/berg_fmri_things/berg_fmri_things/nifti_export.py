"""THINGS-fMRI1 results as volumes: ``"volume"`` (4-D array) and ``"nifti"`` (a 4-D NIfTI file).

A result's voxels carry their position in the subject's functional volume
(``voxel_x``/``voxel_y``/``voxel_z``, from the metadata's ``fmri/voxel_coords``).
A NIfTI also needs the voxel-to-world affine, which BERG 2.0's metadata does
not hold: it comes from the result (when the metadata had ``fmri/affine``) or
from the ``affine=`` option (e.g. ``nibabel.load(<THINGS brain mask>).affine``);
without it the export says what is missing instead of writing a wrong image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from berg_core.plugin import InvalidParameterError, check_result, make_folder, output_errors

from .layout import MODEL_ID
from .metadata import GEOMETRY_KEYS

__all__ = ["EXPORT_FORMATS", "export_result", "result_volume_shape", "to_nifti", "to_volume", "volume_affine"]

EXPORT_FORMATS = ("nifti", "volume")
_AXES = ("voxel_x", "voxel_y", "voxel_z")


def _checked(result: Any) -> xr.DataArray:
    da = check_result(result, ("stimulus", "voxel"), MODEL_ID)
    missing = [a for a in _AXES if a not in da.coords]
    if missing:
        raise InvalidParameterError(
            f"this result has no voxel positions (coordinates {missing} are missing): its subject's metadata lacks "
            "fmri/voxel_coords, so its voxels cannot be placed in a volume"
        )
    return da


def _positions(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ijk = tuple(np.asarray(da[a].values, dtype=np.int64) for a in _AXES)
    if any(p.size and p.min() < 0 for p in ijk):
        raise InvalidParameterError("voxel positions must not be negative")
    return ijk  # type: ignore[return-value]


def result_volume_shape(result: Any, shape: Any = None) -> tuple[int, int, int]:
    """The volume's shape: ``shape`` if given, else the result's ``volume_shape`` attr, else the smallest holding its voxels."""
    da = _checked(result)
    ijk = _positions(da)
    if shape is None:
        shape = da.attrs.get("volume_shape")
    if shape is None:
        return tuple(int(p.max()) + 1 if p.size else 1 for p in ijk)  # type: ignore[return-value]
    values = np.asarray(shape).ravel()
    if values.size != 3 or values.dtype.kind not in "iu" or values.min() < 1:
        raise InvalidParameterError(f"volume_shape must be 3 positive whole numbers, got {shape!r}")
    out = tuple(int(v) for v in values)
    outside = [a for a, p, n in zip(_AXES, ijk, out, strict=True) if p.size and p.max() >= n]
    if outside:
        raise InvalidParameterError(f"voxel positions {outside} lie outside a volume of shape {out}")
    return out  # type: ignore[return-value]


def volume_affine(result: Any, affine: Any = None) -> np.ndarray:
    """The ``(4, 4)`` voxel-to-world affine: ``affine`` if given, else the result's ``affine`` attr.

    Raises
    ------
    InvalidParameterError
        Neither is there (the message says what was looked for), or it is not 4 x 4 numbers.
    """
    da = _checked(result)
    if affine is None:
        affine = da.attrs.get("affine")
    if affine is None:
        looked = ", ".join(GEOMETRY_KEYS["affine"])
        raise InvalidParameterError(
            f"a NIfTI needs the voxel-to-world affine of subject {da.attrs.get('subject')}'s functional volume, and this "
            f"result has none: its metadata gives voxel positions (fmri/voxel_coords) but no affine (looked for {looked}; "
            "BERG 2.0's THINGS-fMRI1 metadata holds none). Pass affine=<4 x 4 array>, e.g. "
            "nibabel.load('<THINGS-fMRI1 brain mask of this subject>.nii.gz').affine"
        )
    try:
        arr = np.asarray(affine, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.full(1, np.nan)
    if arr.size != 16 or not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"affine must be 4 x 4 finite numbers, got {affine!r:.120}")
    return arr.reshape(4, 4)


def to_volume(result: Any, volume_shape: Any = None) -> np.ndarray:
    """``(X, Y, Z, stimuli)`` float32 volume of the result, NaN where it has no voxel."""
    da = _checked(result)
    shape = result_volume_shape(da, volume_shape)
    i, j, k = _positions(da)
    vol = np.full((*shape, da.sizes["stimulus"]), np.nan, dtype=np.float32)
    vol[i, j, k, :] = np.asarray(da.values, dtype=np.float32).T
    return vol


def to_nifti(result: Any, path: str | os.PathLike[str], affine: Any = None, volume_shape: Any = None) -> Path:
    """Write the result as a 4-D NIfTI (stimuli on the 4th axis, NaN outside its voxels).

    Parameters
    ----------
    result
        A ``(stimulus, voxel)`` result of ``fmri-things_fmri_1-vit_b_32``.
    path
        Target file (``.nii`` or ``.nii.gz``).
    affine
        The functional volume's voxel-to-world affine (4 x 4); default: the result's ``affine`` attr.
    volume_shape
        The volume's shape; default: the result's ``volume_shape`` attr, else the smallest holding its voxels.
    """
    import nibabel as nib

    if not str(path).endswith((".nii", ".nii.gz")):
        raise InvalidParameterError(f"a NIfTI file name must end in .nii or .nii.gz, got {str(path)!r}")
    matrix = volume_affine(result, affine)
    img = nib.Nifti1Image(to_volume(result, volume_shape), matrix)
    img.header.set_xyzt_units("mm")
    target = Path(path).expanduser()
    out = make_folder(target.parent) / target.name
    with output_errors(out):
        nib.save(img, out)
    return out


def export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    """The ``berg_export_result`` answer for this model's results."""
    from berg_core.plugin import check_options

    if fmt not in EXPORT_FORMATS:
        raise InvalidParameterError(f"{MODEL_ID} results cannot be exported as {fmt!r}; formats: {list(EXPORT_FORMATS)}")
    if fmt == "volume":
        check_options(options, ("volume_shape",), f"{MODEL_ID} export('volume')")
        if path is not None:
            raise InvalidParameterError("export('volume') returns an array and writes no file; use 'nifti' to write one")
        return to_volume(result, **options)
    check_options(options, ("affine", "volume_shape"), f"{MODEL_ID} export('nifti')")
    if path is None:
        raise InvalidParameterError("exporting as 'nifti' writes a file: give a path ending in .nii or .nii.gz")
    return to_nifti(result, path, **options)
