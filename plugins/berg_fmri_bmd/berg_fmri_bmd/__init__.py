"""berg plugin: the BOLD Moments fMRI encoding model ``fmri-bmd-s3d`` (videos -> MNI-volume voxels).

Contributes torchvision's S3D as the backbone ``s3d``. Helpers for results:
:func:`to_nifti`, :func:`to_volume`, :func:`result_mask`, :func:`affine_of`.
"""

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "to_nifti": "volume_export",
    "to_volume": "volume_export",
    "result_mask": "volume_export",
    "affine_of": "volume_export",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    # lazy, so loading the plugin's card never imports nibabel or torch
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'berg_fmri_bmd' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
