"""Reading a subject's LeBel 2023 metadata dict and turning it into voxel labels.

BERG 2.0's dict (``03_test_encoding_models/.../01_test_encoding.py``): ``fmri`` (``subject_id``, ``n_voxels``,
``tr`` 2.0, ``voxel_size_mm`` 2.6), ``roi`` (ROI name -> boolean mask over the subject's voxels; only ROIs
with voxels) and ``encoding_model`` (``train_stories``, ``test_stories``, per-voxel ``noise_ceiling``,
``correlation`` and ``cc_norm``). ROI entries given as voxel indices instead of masks are read too.

BERG 2.0's metadata does not place the voxels in a volume. berg reads the geometry when a store adds it
(see specs/store_layout.md): ``fmri/affine`` (4 x 4, the functional volume's voxel-to-world matrix) with
either ``fmri/mask`` (pycortex's cortical mask, ``(z, y, x)``, whose C-order True entries are the voxels,
as BERG 2.0 orders them) or ``fmri/voxel_coords`` (``(n_voxels, 3)`` x, y, z) plus ``fmri/volume_shape``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, read_metadata

from .layout import ROIS, TR, metadata_relpath

if TYPE_CHECKING:
    from berg_core.plugin import Store

__all__ = ["GEOMETRY_KEYS", "RELIABILITY", "VoxelLabels", "labels_from_metadata", "load_metadata"]

#: per-voxel coordinates of results: coordinate name -> (key under encoding_model, description)
RELIABILITY: dict[str, tuple[str, str]] = {
    "noise_ceiling": ("noise_ceiling", "noise ceiling (CCmax on the test story, floored at 0.25)"),
    "correlation": ("correlation", "Pearson r of the prediction on the held-out story (wheretheressmoke)"),
    "cc_norm": ("cc_norm", "correlation / noise_ceiling"),
}
#: where berg looks for the volume geometry (BERG 2.0's files hold none)
GEOMETRY_KEYS = ("fmri/affine", "fmri/mask", "fmri/voxel_coords", "fmri/volume_shape")


def load_metadata(store: Store, subject: str) -> tuple[dict[str, Any], str]:
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


@dataclass(frozen=True)
class VoxelLabels:
    """What labels a subject's voxels: count, ROIs, reliability and (when the metadata has it) volume geometry."""

    source: str
    n_voxels: int
    #: ROI name -> ascending voxel indices, for the ROIs the metadata lists (card order first, then any others)
    rois: dict[str, np.ndarray]
    reliability: dict[str, np.ndarray] = field(default_factory=dict)
    #: (n_voxels, 3) int64 (x, y, z) positions in the volume, or None
    positions: np.ndarray | None = None
    affine: np.ndarray | None = None
    volume_shape: tuple[int, int, int] | None = None
    subject_id: str = ""
    tr: float = TR

    def membership(self, voxels: np.ndarray) -> np.ndarray:
        """Per voxel of ``voxels``, the comma-separated ROIs holding it (``""`` for none)."""
        names: list[list[str]] = [[] for _ in range(voxels.size)]
        for name, idx in self.rois.items():
            for pos in np.flatnonzero(np.isin(voxels, idx)).tolist():
                names[pos].append(name)
        return np.array([",".join(n) for n in names], dtype=str)


def _n_voxels(meta: Mapping[str, Any], source: str, n_weights: int | None) -> int:
    value = _entry(meta, "fmri/n_voxels")
    if value is None:
        if n_weights is None:
            masks = [np.asarray(v) for v in (_entry(meta, "roi") or {}).values()]
            lengths = {m.size for m in masks if m.dtype.kind == "b"}
            if len(lengths) != 1:
                raise IntegrityError(f"{source}: fmri/n_voxels is missing and no ROI mask tells the voxel count")
            return lengths.pop()
        return n_weights
    try:
        n = int(np.asarray(value))
    except (TypeError, ValueError):
        raise IntegrityError(f"{source}: fmri/n_voxels should be a whole number, found {value!r:.60}") from None
    if n < 1:
        raise IntegrityError(f"{source}: fmri/n_voxels is {n}")
    if n_weights is not None and n != n_weights:
        raise IntegrityError(f"{source}: fmri/n_voxels is {n}, but the ridge weights have {n_weights} voxel columns: "
                             "the weights and the metadata do not belong together")
    return n


def _rois(meta: Mapping[str, Any], source: str, n: int) -> dict[str, np.ndarray]:
    table = _entry(meta, "roi")
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise IntegrityError(f"{source}: roi should map ROI names to voxel masks, found {type(table).__name__}")
    names = [r for r in ROIS if r in table] + sorted(str(k) for k in table if k not in ROIS)
    out = {}
    for name in names:
        arr = np.asarray(table[name])
        if arr.ndim == 1 and arr.size == n and (arr.dtype.kind == "b" or (arr.dtype.kind in "iu" and set(np.unique(arr).tolist()) <= {0, 1})):
            out[name] = np.flatnonzero(arr).astype(np.int64)
        elif arr.ndim == 1 and arr.dtype.kind in "iu" and (arr.size == 0 or (arr.min() >= 0 and arr.max() < n)):
            out[name] = np.unique(arr.astype(np.int64))
        else:
            raise IntegrityError(f"{source}: roi/{name} should be a boolean mask of {n} voxels (or voxel indices), "
                                 f"found {arr.dtype} of shape {arr.shape}")
    return out


def _reliability(meta: Mapping[str, Any], source: str, n: int) -> dict[str, np.ndarray]:
    out = {}
    for coord, (key, _) in RELIABILITY.items():
        value = _entry(meta, f"encoding_model/{key}")
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.shape != (n,) or arr.dtype.kind not in "biuf":
            raise IntegrityError(f"{source}: encoding_model/{key} should hold {n} numbers (one per voxel), found "
                                 f"{arr.dtype} of shape {arr.shape}")
        out[coord] = arr.astype(np.float32)
    return out


def _geometry(meta: Mapping[str, Any], source: str, n: int) -> tuple[np.ndarray | None, np.ndarray | None, tuple[int, int, int] | None]:
    affine = _entry(meta, "fmri/affine")
    if affine is not None:
        affine = np.asarray(affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise IntegrityError(f"{source}: fmri/affine should be 4 x 4 finite numbers, found shape {affine.shape}")
    mask, coords = _entry(meta, "fmri/mask"), _entry(meta, "fmri/voxel_coords")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim != 3 or mask.dtype.kind not in "biu" or int(np.count_nonzero(mask)) != n:
            raise IntegrityError(f"{source}: fmri/mask should be a 3-D (z, y, x) mask with {n} voxels, found "
                                 f"{mask.dtype} of shape {mask.shape} with {int(np.count_nonzero(mask))}")
        z, y, x = np.nonzero(mask)  # C order of the (z, y, x) volume: BERG 2.0's voxel order
        return affine, np.column_stack([x, y, z]).astype(np.int64), tuple(int(s) for s in mask.shape[::-1])  # type: ignore[return-value]
    if coords is not None:
        coords = np.asarray(coords)
        if coords.shape != (n, 3) or coords.dtype.kind not in "iu" or (coords.size and coords.min() < 0):
            raise IntegrityError(f"{source}: fmri/voxel_coords should be ({n}, 3) voxel indices, found {coords.dtype} "
                                 f"of shape {coords.shape}")
        shape = _entry(meta, "fmri/volume_shape")
        vshape = None
        if shape is not None:
            values = np.asarray(shape).ravel()
            if values.size != 3 or values.dtype.kind not in "iu" or values.min() < 1 or (coords.size and (coords.max(0) >= values).any()):
                raise IntegrityError(f"{source}: fmri/volume_shape should be 3 sizes holding every voxel, found {shape!r}")
            vshape = tuple(int(v) for v in values)
        return affine, coords.astype(np.int64), vshape  # type: ignore[return-value]
    return affine, None, None


def labels_from_metadata(meta: Mapping[str, Any], source: str, n_weights: int | None = None) -> VoxelLabels:
    """Check the metadata's per-voxel entries and pull out what labelling the output needs.

    ``n_weights`` is the ridge weights' voxel count, when known: the metadata must agree with it.
    """
    if not isinstance(meta, Mapping):
        raise IntegrityError(f"{source} should hold a dict, found {type(meta).__name__}")
    n = _n_voxels(meta, source, n_weights)
    affine, positions, shape = _geometry(meta, source, n)
    tr = _entry(meta, "fmri/tr")
    if tr is not None and not np.isclose(float(np.asarray(tr)), TR):
        raise IntegrityError(f"{source}: fmri/tr is {tr}; the model's features are built on a {TR}-s TR grid")
    subject_id = _entry(meta, "fmri/subject_id")
    return VoxelLabels(source, n, _rois(meta, source, n), _reliability(meta, source, n), positions, affine, shape,
                       "" if subject_id is None else str(subject_id))
