"""Reading a subject's THINGS-fMRI1 metadata dict and turning it into voxel labels.

BERG 2.0's dict (prep ``create_fmri_metadata`` plus the test script's two keys):
``fmri`` (``voxel_coords`` (211,339 x 3), ``n_voxels``, ``subject_id``),
``encoding_model`` (stimulus lists, ``noise_ceiling_singletrial``,
``noise_ceiling_testset``, split-half reliabilities, ``correlation_results``,
``percent_noise_ceiling``, each per voxel), ``prf`` and ``roi`` (ROI name ->
voxel indices; only the ROIs the subject has). Every per-voxel entry is
optional here: what the metadata holds becomes a coordinate, what it lacks is
left out, and only a present entry of the wrong shape is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, read_metadata

from .layout import N_VOXELS, ROIS, metadata_relpath

if TYPE_CHECKING:
    from berg_core.plugin import Store

__all__ = ["GEOMETRY_KEYS", "RELIABILITY", "VoxelLabels", "labels_from_metadata", "load_metadata"]

#: Per-voxel coordinates of results: coordinate name -> (metadata key, description).
RELIABILITY: dict[str, tuple[str, str]] = {
    "noise_ceiling": ("noise_ceiling_singletrial", "single-trial noise ceiling (THINGS nc_singletrial, %)"),
    "noise_ceiling_testset": ("noise_ceiling_testset", "noise ceiling of the averaged test set (THINGS nc_testset, %)"),
    "correlation": ("correlation_results", "Pearson r of the prediction on the 100 averaged test images"),
    "percent_noise_ceiling": ("percent_noise_ceiling", "explained variance as % of the single-trial noise ceiling"),
}
#: Where berg looks for the functional volume's geometry (BERG 2.0's files hold none of these; see store_layout.md).
GEOMETRY_KEYS = {"affine": ("fmri/affine", "fmri/fmri_affine"), "volume_shape": ("fmri/volume_shape",)}
_ENCODING_SECTIONS = ("encoding_model", "encoding_models")  # the prep writes the first; accept the EEG/NSD spelling


def load_metadata(store: Store, subject: int) -> tuple[dict[str, Any], str]:
    """The subject's metadata dict (read safely) and its URL, for messages."""
    relpath = metadata_relpath(subject)
    return read_metadata(store, relpath), store.url_of(relpath)


def _entry(meta: Mapping[str, Any], path: str) -> Any:
    node: Any = meta
    for part in path.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _per_voxel(value: Any, name: str, source: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != (N_VOXELS,) or arr.dtype.kind not in "biuf":
        raise IntegrityError(f"{source}: {name} should hold {N_VOXELS:,} numbers (one per voxel), found shape "
                             f"{arr.shape} dtype {arr.dtype}")
    return arr.astype(np.float32)


@dataclass(frozen=True)
class VoxelLabels:
    """What labels the voxels of a subject's output: positions, ROIs, reliability and volume geometry."""

    source: str
    #: (211339, 3) int64 voxel indices (x, y, z) in the functional volume, or None when the metadata has none
    coords: np.ndarray | None
    #: ROI name -> int64 voxel indices, ascending, for the ROIs the metadata lists (card order)
    rois: dict[str, np.ndarray]
    #: coordinate name -> (211339,) float32, for the entries of :data:`RELIABILITY` the metadata holds
    reliability: dict[str, np.ndarray] = field(default_factory=dict)
    affine: np.ndarray | None = None
    volume_shape: tuple[int, int, int] | None = None

    def membership(self, voxels: np.ndarray) -> np.ndarray:
        """Per voxel of ``voxels``, the comma-separated ROIs holding it (card order; ``""`` for none)."""
        names: list[list[str]] = [[] for _ in range(voxels.size)]
        for name, idx in self.rois.items():
            for pos in np.flatnonzero(np.isin(voxels, idx)).tolist():
                names[pos].append(name)
        return np.array([",".join(n) for n in names], dtype=str)

def _voxel_coords(meta: Mapping[str, Any], source: str) -> np.ndarray | None:
    raw = _entry(meta, "fmri/voxel_coords")
    if raw is None:
        return None
    coords = np.asarray(raw)
    if coords.shape != (N_VOXELS, 3) or coords.dtype.kind not in "iuf":
        raise IntegrityError(f"{source}: fmri/voxel_coords should be ({N_VOXELS:,}, 3) voxel indices, found shape "
                             f"{coords.shape} dtype {coords.dtype}")
    if coords.dtype.kind == "f" and not np.array_equal(coords, np.round(coords)):
        raise IntegrityError(f"{source}: fmri/voxel_coords should be whole voxel indices (THINGS voxel_x/y/z)")
    return coords.astype(np.int64)


def _rois(meta: Mapping[str, Any], source: str) -> dict[str, np.ndarray]:
    table = _entry(meta, "roi")
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise IntegrityError(f"{source}: roi should map ROI names to voxel indices, found {type(table).__name__}")
    out = {}
    for name in ROIS:  # BERG 2.0 writes a ROI only when the subject's voxel table has its column
        if name not in table:
            continue
        idx = np.asarray(table[name])
        if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= N_VOXELS)):
            raise IntegrityError(f"{source}: roi/{name} should be voxel indices in 0-{N_VOXELS - 1}")
        out[name] = np.unique(idx.astype(np.int64))
    return out


def _geometry(meta: Mapping[str, Any], source: str) -> tuple[np.ndarray | None, tuple[int, int, int] | None]:
    affine = next((_entry(meta, k) for k in GEOMETRY_KEYS["affine"] if _entry(meta, k) is not None), None)
    shape = next((_entry(meta, k) for k in GEOMETRY_KEYS["volume_shape"] if _entry(meta, k) is not None), None)
    if affine is not None:
        affine = np.asarray(affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise IntegrityError(f"{source}: the volume affine should be 4 x 4, found shape {affine.shape}")
    if shape is not None:
        values = np.asarray(shape).ravel()
        if values.size != 3 or values.dtype.kind not in "iu" or values.min() < 1:
            raise IntegrityError(f"{source}: fmri/volume_shape should hold 3 positive sizes, found {shape!r}")
        shape = tuple(int(v) for v in values)
    return affine, shape


def labels_from_metadata(meta: Mapping[str, Any], source: str) -> VoxelLabels:
    """Check the metadata's per-voxel entries and pull out what labelling the output needs."""
    reliability = {}
    for coord, (key, _) in RELIABILITY.items():
        value = next((_entry(meta, f"{s}/{key}") for s in _ENCODING_SECTIONS if _entry(meta, f"{s}/{key}") is not None),
                     None)
        if value is not None:
            reliability[coord] = _per_voxel(value, key, source)
    affine, shape = _geometry(meta, source)
    return VoxelLabels(source, _voxel_coords(meta, source), _rois(meta, source), reliability, affine, shape)
