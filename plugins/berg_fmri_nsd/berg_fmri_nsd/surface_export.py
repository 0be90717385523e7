"""fsaverage results as BERG 2.0's ``(lh, rh)`` tuple, full surfaces, GIFTI and MGH files.

Files hold the full fsaverage surface (163,842 vertices per hemisphere) with
unselected vertices set to NaN, one frame per stimulus, and are named the
FreeSurfer way: ``lh.NAME.func.gii`` / ``rh.NAME.mgh``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.plugin import InvalidParameterError, check_result, make_folder, output_errors

from .layout import FSAVERAGE_MODEL_ID, HEMISPHERES, N_VERTICES

__all__ = ["full_surface", "split_hemispheres", "to_gifti", "to_mgh"]

_COORDS = ("hemisphere", "fsaverage_index")


def _checked(responses: Any) -> Any:
    return check_result(responses, ("stimulus", "vertex"), FSAVERAGE_MODEL_ID, _COORDS)


def _check_hemi(hemi: str) -> None:
    if hemi not in HEMISPHERES:
        raise InvalidParameterError(f"hemisphere must be one of {list(HEMISPHERES)}, got {hemi!r}")


def split_hemispheres(responses: Any) -> tuple[np.ndarray, np.ndarray]:
    """BERG 2.0's output: ``(lh, rh)`` float32 arrays of shape ``(stimuli, selected vertices)``.

    Parameters
    ----------
    responses
        A ``(stimulus, vertex)`` result of ``fmri-nsd_fsaverage-vit_b_32``.
    """
    da = _checked(responses)
    hemi = np.asarray(da["hemisphere"].values)
    values = np.asarray(da.values, dtype=np.float32)
    lh, rh = (values[:, hemi == h] for h in HEMISPHERES)
    return lh, rh


def full_surface(responses: Any, hemisphere: str) -> np.ndarray:
    """``(stimuli, 163842)`` float32 responses of one hemisphere, NaN at unselected vertices."""
    _check_hemi(hemisphere)
    da = _checked(responses)
    on_hemi = np.asarray(da["hemisphere"].values) == hemisphere
    out = np.full((da.sizes["stimulus"], N_VERTICES), np.nan, dtype=np.float32)
    out[:, np.asarray(da["fsaverage_index"].values)[on_hemi]] = np.asarray(da.values, dtype=np.float32)[:, on_hemi]
    return out


def _target(folder: str | os.PathLike[str], hemi: str, name: str, suffix: str) -> Path:
    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise InvalidParameterError(f"name must be a non-empty file name stem without '/', got {name!r}")
    return make_folder(folder) / f"{hemi}.{name}{suffix}"


def _save(img: Any, path: Path) -> None:
    import nibabel as nib

    with output_errors(path):
        nib.save(img, path)


def to_gifti(responses: Any, folder: str | os.PathLike[str], name: str = "berg") -> tuple[Path, Path]:
    """Write ``lh.NAME.func.gii`` and ``rh.NAME.func.gii``, one data array per stimulus.

    Each data array holds 163,842 float32 values (NaN where no vertex was
    selected); its metadata ``Name`` is the stimulus id. Read back with
    ``nibabel.load(path).agg_data()`` -> ``(163842, stimuli)`` (or ``(163842,)`` for one stimulus).

    Returns
    -------
    (Path, Path)
        The left and right hemisphere files.
    """
    import nibabel as nib

    da = _checked(responses)
    ids = [str(s) for s in da["stimulus"].values]
    paths = []
    for hemi in HEMISPHERES:
        surface = full_surface(da, hemi)
        arrays = [
            nib.gifti.GiftiDataArray(
                surface[i], intent="NIFTI_INTENT_NONE", datatype="NIFTI_TYPE_FLOAT32",
                meta=nib.gifti.GiftiMetaData({"Name": ids[i]}),
            )
            for i in range(surface.shape[0])
        ]
        meta = nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": "CortexLeft" if hemi == "lh" else "CortexRight",
                                        "berg_model_id": str(da.attrs.get("model_id", FSAVERAGE_MODEL_ID))})
        path = _target(folder, hemi, name, ".func.gii")
        _save(nib.gifti.GiftiImage(darrays=arrays, meta=meta), path)
        paths.append(path)
    return paths[0], paths[1]


def to_mgh(responses: Any, folder: str | os.PathLike[str], name: str = "berg") -> tuple[Path, Path]:
    """Write ``lh.NAME.mgh`` and ``rh.NAME.mgh``: ``(163842, 1, 1, stimuli)`` float32, one frame per stimulus.

    Returns
    -------
    (Path, Path)
        The left and right hemisphere files.
    """
    import nibabel as nib

    da = _checked(responses)
    paths = []
    for hemi in HEMISPHERES:
        frames = full_surface(da, hemi).T[:, None, None, :]  # MGH stores (vertices, 1, 1, frames)
        path = _target(folder, hemi, name, ".mgh")
        _save(nib.MGHImage(np.ascontiguousarray(frames), affine=np.eye(4)), path)
        paths.append(path)
    return paths[0], paths[1]
