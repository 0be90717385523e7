"""berg plugin: Natural Scenes Dataset fMRI encoding models.

Models: ``fmri-nsd_fsaverage-vit_b_32`` (fsaverage surface) and
``fmri-nsd-fwrf`` (subject-native volume, per ROI). Helpers for their results:

* fsaverage: :func:`split_hemispheres` (BERG 2.0's ``(lh, rh)`` tuple),
  :func:`full_surface`, :func:`to_gifti`, :func:`to_mgh`;
* fwRF: :func:`roi_mask`, :func:`to_volume`, :func:`to_nifti`, :func:`affine_of`.
"""

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "split_hemispheres": "surface_export",
    "full_surface": "surface_export",
    "to_gifti": "surface_export",
    "to_mgh": "surface_export",
    "roi_mask": "volume_export",
    "to_volume": "volume_export",
    "to_nifti": "volume_export",
    "affine_of": "volume_export",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    # lazy, so loading the plugin's cards never imports nibabel or torch
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'berg_fmri_nsd' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
