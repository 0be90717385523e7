"""Reading the NSD models' metadata dicts and turning them into output coordinates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from berg_core.plugin import IntegrityError, Store, metadata_entry, read_metadata

from .layout import FSAVERAGE_MODEL_ID, N_VERTICES, fsaverage_metadata_path, fwrf_metadata_path

__all__ = [
    "FSAVERAGE_RELIABILITY",
    "FWRF_ACCURACY",
    "fsaverage_metadata",
    "fsaverage_vertex_coords",
    "fwrf_metadata",
    "lookup",
]

#: Per-vertex coordinates of fsaverage outputs: coordinate name -> (section, key with {hemi}).
FSAVERAGE_RELIABILITY = {
    "ncsnr": ("fmri", "{hemi}_ncsnr"),
    "noise_ceiling": ("encoding_models", "{hemi}_noise_ceiling"),
    "correlation": ("encoding_models", "{hemi}_correlation"),
    "r2": ("encoding_models", "{hemi}_r2"),
    "explained_variance": ("encoding_models", "{hemi}_explained_variance"),
}
#: Per-voxel coordinates of fwRF outputs: coordinate name -> (section, key).
FWRF_ACCURACY = {
    "ncsnr": ("fmri", "ncsnr"),
    "r2": ("encoding_models", "r2"),
    "noise_ceiling": ("encoding_models", "noise_ceiling"),
    "explained_variance": ("encoding_models", "explained_variance"),
}


def lookup(metadata: Mapping[str, Any], section: str, key: str, source: str) -> np.ndarray:
    """``metadata[section][key]`` as a numeric array (every entry read here is used as numbers)."""
    return metadata_entry(metadata, f"{section}/{key}", source, numeric=True)  # type: ignore[no-any-return]


def fsaverage_metadata(store: Store, subject: int, model_id: str = FSAVERAGE_MODEL_ID) -> tuple[dict[str, Any], str]:
    """The subject's metadata dict of an fsaverage model (default: ViT-B/32) and its URL."""
    relpath = fsaverage_metadata_path(subject, model_id)
    return read_metadata(store, relpath), store.url_of(relpath)


def fwrf_metadata(store: Store, subject: int, roi: str) -> tuple[dict[str, Any], str]:
    """One fwRF ROI's metadata dict and its URL."""
    relpath = fwrf_metadata_path(subject, roi)
    return read_metadata(store, relpath), store.url_of(relpath)


def fsaverage_vertex_coords(metadata: Mapping[str, Any], hemi: str, idx: np.ndarray, source: str) -> dict[str, np.ndarray]:
    """Reliability values of the vertices ``idx`` of one hemisphere, one array per coordinate."""
    out = {}
    for coord, (section, key) in FSAVERAGE_RELIABILITY.items():
        values = np.asarray(lookup(metadata, section, key.format(hemi=hemi), source))
        if values.shape != (N_VERTICES,):
            raise IntegrityError(f"{source}: {section}/{key.format(hemi=hemi)} has shape {values.shape}, expected ({N_VERTICES},)")
        out[coord] = values[idx].astype(np.float32)
    return out
