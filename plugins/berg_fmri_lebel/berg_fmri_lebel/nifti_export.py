"""LeBel results as a 4-D NIfTI (TRs on the 4th axis), when the metadata places the voxels in a volume.

BERG 2.0's LeBel metadata does not: its voxels are the C-order entries of pycortex's cortical mask
(``mask_thick``), which BERG 2.0 does not ship. A store that adds the geometry (``fmri/affine`` with
``fmri/mask`` or ``fmri/voxel_coords``, see specs/store_layout.md) gives results ``voxel_x/y/z`` coordinates
and an ``affine`` attr; ``affine=`` may also be passed. Without them the export says what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.plugin import (
    InvalidParameterError,
    check_options,
    check_result,
    make_folder,
    output_errors,
    pick_stimuli,
)

from .layout import MODEL_ID, TR
from .metadata import GEOMETRY_KEYS

__all__ = ["FORMATS", "export_result", "to_nifti"]

FORMATS = ("nifti",)
_AXES = ("voxel_x", "voxel_y", "voxel_z")


def _no_geometry(what: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"a NIfTI needs {what}, and this result has none: BERG 2.0's LeBel 2023 metadata does not place the voxels "
        f"in a volume (berg looks for {', '.join(GEOMETRY_KEYS)}; see specs/store_layout.md). Add the subject's "
        "pycortex mask and its affine to the metadata as fmri/mask and fmri/affine, or use the result as an array"
    )


def to_nifti(result: Any, path: str | os.PathLike[str], affine: Any = None, stimulus: Any = None) -> Path:
    """Write a ``(tr, voxel)`` result (or one story's TRs, ``stimulus=ID``) as a 4-D NIfTI; NaN outside its voxels.

    Parameters
    ----------
    result
        A result of ``fmri-lebel2023-opt_1_3b`` whose voxels carry ``voxel_x/y/z``.
    path
        Target file (``.nii`` or ``.nii.gz``).
    affine
        Voxel-to-world affine (4 x 4); default: the result's ``affine`` attr.
    stimulus
        One story's id (default: every TR of the result, in order).
    """
    import nibabel as nib

    da = check_result(result, ("tr", "voxel"), MODEL_ID)
    if not str(path).endswith((".nii", ".nii.gz")):
        raise InvalidParameterError(f"a NIfTI file name must end in .nii or .nii.gz, got {str(path)!r}")
    if any(a not in da.coords for a in _AXES):
        raise _no_geometry("the voxels' positions in the volume (coordinates voxel_x, voxel_y, voxel_z)")
    if affine is None:
        affine = da.attrs.get("affine")
    if affine is None:
        raise _no_geometry("the volume's voxel-to-world affine")
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.size != 16 or not np.isfinite(matrix).all():
        raise InvalidParameterError(f"affine must be 4 x 4 finite numbers, got {affine!r:.120}")
    if stimulus is not None:
        da, _ = pick_stimuli(da, stimulus)
    ijk = [np.asarray(da[a].values, dtype=np.int64) for a in _AXES]
    shape = da.attrs.get("volume_shape") or [int(p.max()) + 1 if p.size else 1 for p in ijk]
    vol = np.full((*[int(s) for s in shape], da.sizes["tr"]), np.nan, dtype=np.float32)
    vol[ijk[0], ijk[1], ijk[2], :] = np.asarray(da.values, dtype=np.float32).T
    img = nib.Nifti1Image(vol, matrix.reshape(4, 4))
    zooms = np.sqrt((matrix.reshape(4, 4)[:3, :3] ** 2).sum(axis=0))
    img.header.set_zooms((*zooms.tolist(), float(da.attrs.get("tr_s", TR))))
    img.header.set_xyzt_units("mm", "sec")
    target = Path(path).expanduser()
    out = make_folder(target.parent) / target.name
    with output_errors(out):
        nib.save(img, out)
    return out


def export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    """The ``berg_export_result`` answer for this model's results."""
    if fmt not in FORMATS:
        raise InvalidParameterError(f"{MODEL_ID} results export to {list(FORMATS)}, not {fmt!r}")
    check_options(options, ("affine", "stimulus"), f"{MODEL_ID} export('nifti')")
    if path is None:
        raise InvalidParameterError("exporting as 'nifti' writes a file: give a path ending in .nii or .nii.gz")
    return to_nifti(result, path, **options)
