"""Which fsaverage vertices a selection asks for.

A selection is one of

* ``{"roi": name or [names]}``: the union of the ROIs' vertices in both
  hemispheres (``"V1"``, ``"V2"``, ``"V3"`` are the unions of their ventral
  and dorsal parts);
* ``{"lh_vertices": ..., "rh_vertices": ...}``: BERG 2.0's binary masks of
  163,842 entries, or integer index arrays. As in BERG 2.0, a hemisphere whose
  key is absent keeps all its vertices; an empty index list (``[]``) selects
  none of that hemisphere. An all-zero mask is refused as a likely mistake.

Vertices are always returned sorted (ascending fsaverage index), so the output
order does not depend on how the selection was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.plugin import IntegrityError, InvalidParameterError, mask_or_indices

from .layout import FSAVERAGE_MODEL_ID, FSAVERAGE_ROI_UNIONS, FSAVERAGE_ROIS, HEMISPHERES, N_VERTICES
from .params import roi_names

__all__ = ["SELECTION_KEYS", "VALID_ROIS", "VertexSelection", "parse_vertices", "resolve_vertex_selection"]

SELECTION_KEYS = ("roi", "lh_vertices", "rh_vertices")
VALID_ROIS = (*FSAVERAGE_ROI_UNIONS, *FSAVERAGE_ROIS)


@dataclass(frozen=True)
class VertexSelection:
    """Sorted vertex indices per hemisphere and a short, JSON-friendly description."""

    lh: np.ndarray
    rh: np.ndarray
    description: dict[str, Any]

    def of(self, hemi: str) -> np.ndarray:
        return self.lh if hemi == "lh" else self.rh

    @property
    def is_whole_brain(self) -> bool:
        return self.lh.size == N_VERTICES and self.rh.size == N_VERTICES


def parse_vertices(value: Any, key: str) -> np.ndarray:
    """A binary mask (163,842 entries) or an index array -> sorted unique int64 indices.

    Raises
    ------
    InvalidParameterError
        Wrong length or dimensionality, non-binary mask, all-zero mask, indices
        out of range or repeated, or an unsupported type.
    """
    return mask_or_indices(value, N_VERTICES, what=f"selection[{key!r}]", noun="vertex")


def _roi_vertices(metadata: Mapping[str, Any], names: list[str], hemi: str, source: str) -> np.ndarray:
    try:
        table = metadata["fmri"][f"{hemi}_fsaverage_rois"]
    except (KeyError, TypeError):
        raise IntegrityError(f"{source} has no entry fmri/{hemi}_fsaverage_rois (expected BERG 2.0's layout)") from None
    parts: list[np.ndarray] = []
    for name in names:
        for part in FSAVERAGE_ROI_UNIONS.get(name, (name,)):
            if part not in table:
                raise IntegrityError(f"{source}: fmri/{hemi}_fsaverage_rois has no ROI {part!r}; it lists {sorted(table)}")
            idx = np.asarray(table[part])
            if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= N_VERTICES)):
                raise IntegrityError(
                    f"{source}: fmri/{hemi}_fsaverage_rois[{part!r}] should be vertex indices in 0-{N_VERTICES - 1}"
                )
            parts.append(idx.astype(np.int64))
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


def resolve_vertex_selection(
    selection: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None = None,
    source: str = "metadata",
    model_id: str = FSAVERAGE_MODEL_ID,
) -> VertexSelection:
    """Turn the user's selection into sorted vertex indices per hemisphere.

    Parameters
    ----------
    selection
        ``None`` (whole brain), ``{"roi": ...}`` or ``{"lh_vertices": ..., "rh_vertices": ...}``.
    metadata
        The subject's metadata dict; needed for a ROI selection.
    source
        Name of the metadata file, for messages.
    model_id
        The fsaverage model (ViT-B/32 or AlexNet), for messages.
    """
    everything = np.arange(N_VERTICES, dtype=np.int64)
    if not selection:
        return VertexSelection(everything, everything.copy(), {})
    # core checked the keys, their conflicts and values against the card; this maps them onto the subject
    roi = selection.get("roi")
    vertex_keys = [k for k in ("lh_vertices", "rh_vertices") if k in selection]
    if roi is not None:
        names = roi_names(roi, VALID_ROIS, model_id)
        if metadata is None:
            raise ValueError("metadata is needed to resolve a ROI selection")
        lh, rh = (_roi_vertices(metadata, names, hemi, source) for hemi in HEMISPHERES)
        if lh.size == 0 and rh.size == 0:
            raise InvalidParameterError(f"ROI {names} has no vertices in this subject's metadata; choose another ROI")
        return VertexSelection(lh, rh, {"roi": roi if isinstance(roi, str) else names})
    if not vertex_keys:
        return VertexSelection(everything, everything.copy(), {})
    chosen = {hemi: parse_vertices(selection[f"{hemi}_vertices"], f"{hemi}_vertices") if f"{hemi}_vertices" in selection
              else everything for hemi in HEMISPHERES}
    if chosen["lh"].size == 0 and chosen["rh"].size == 0:
        raise InvalidParameterError("selection leaves out both hemispheres (lh_vertices=[] and rh_vertices=[]); select at least one vertex")
    description = {f"{h}_vertices": f"{chosen[h].size} of {N_VERTICES} vertices" for h in HEMISPHERES}
    return VertexSelection(chosen["lh"], chosen["rh"], description)
