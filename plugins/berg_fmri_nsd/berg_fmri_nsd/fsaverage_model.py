"""The fsaverage models: backbone features -> folded scaler+PCA -> one regression per hemisphere.

ViT-B/32 (``fmri-nsd_fsaverage-vit_b_32``) and AlexNet, trained or untrained
(``fmri-nsd_fsaverage-alexnet``, ``-alexnet_untrained``): the same files, math
and outputs on different features.

Only the selected vertices' regression rows are kept (read with
``rows=`` so a chunked store layout reads only those), and the scaler and PCA
are folded into one projection when the model loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    AlexNetReadout,
    BackboneReadout,
    LoadRequest,
    ViTB32Readout,
    WeightFile,
    batch_array,
    read_regression_rows,
)

from .fsaverage_selection import VertexSelection, resolve_vertex_selection
from .layout import FSAVERAGE_ALEXNET_MODEL_IDS, HEMISPHERES, N_VERTICES, fsaverage_weights_path
from .metadata import fsaverage_metadata, fsaverage_vertex_coords

__all__ = ["FsaverageAlexNetModel", "FsaverageViTModel", "load_fsaverage_model"]


class _FsaverageReadout(BackboneReadout):
    """NSD responses on the fsaverage surface from a shared backbone's features.

    Output: ``(stimulus, vertex)``, left-hemisphere vertices first, each
    hemisphere in ascending fsaverage index; coordinates ``hemisphere``,
    ``fsaverage_index`` and per-vertex reliability (``ncsnr``,
    ``noise_ceiling``, ``correlation``, ``r2``, ``explained_variance``).

    Parameters
    ----------
    request
        The ``berg_load_model`` hook's request; its options (checked by core against the card)
        are ``preprocessing`` (``"train"`` or ``"berg-2.0"``) and ``backbone_weights``.
    """

    def __init__(self, request: LoadRequest) -> None:
        r, subject = request, int(request.subject)  # type: ignore[arg-type]  # the card lists subjects
        super().__init__(r.card, subject, r.selection, r.store, r.device, r.options.get("preprocessing"))
        metadata, meta_source = fsaverage_metadata(r.store, subject, r.card.id)
        self.vertices: VertexSelection = resolve_vertex_selection(r.selection, metadata, meta_source, r.card.id)
        self.selection = self.vertices.description
        self._coords = self._vertex_coords(metadata, meta_source)
        del metadata  # only the selected vertices' coordinates are kept

        self.load_readout(fsaverage_weights_path(subject, r.card.id), self._read_hemispheres, r.backbone())
        assert self.readout is not None and not isinstance(self.readout, list)  # one PCA
        self._attrs = {**self.base_attrs(), "n_components": self.readout.n_components}

    def _read_hemispheres(self, wf: WeightFile, n_components: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """One product per hemisphere with selected vertices: a concatenated copy would double whole-brain loads."""
        regressions = []
        for hemi in HEMISPHERES:
            if self.vertices.of(hemi).size:
                coef, intercept = read_regression_rows(wf, f"{hemi}_reg_param", self.vertices.of(hemi), N_VERTICES, n_components)
                regressions.append(([coef], [intercept]))
        return regressions

    def _vertex_coords(self, metadata: dict[str, Any], source: str) -> dict[str, tuple[str, np.ndarray]]:
        per_hemi = [fsaverage_vertex_coords(metadata, h, self.vertices.of(h), source) for h in HEMISPHERES]
        coords: dict[str, tuple[str, np.ndarray]] = {
            "hemisphere": ("vertex", np.repeat(np.array(HEMISPHERES), [self.vertices.lh.size, self.vertices.rh.size])),
            "fsaverage_index": ("vertex", np.concatenate([self.vertices.lh, self.vertices.rh])),
        }
        for name in per_hemi[0]:
            coords[name] = ("vertex", np.concatenate([p[name] for p in per_hemi]))
        return coords

    @property
    def n_vertices(self) -> int:
        """Number of output vertices (both hemispheres)."""
        return int(self.vertices.lh.size + self.vertices.rh.size)

    # ---- encoding -------------------------------------------------------------------------
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """``(B, n_features)`` backbone features -> ``(stimulus, vertex)`` responses."""
        return batch_array(
            self.read_out(features).to("cpu", torch.float32).numpy(),
            ("stimulus", "vertex"),
            {"stimulus": ("stimulus", np.asarray(stimulus_ids)), **self._coords},
            self._attrs,
            "fmri",
        )

    # ---- metadata ---------------------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (read again from the store)."""
        return fsaverage_metadata(self.store, int(self.subject), self.card.id)[0]  # type: ignore[arg-type]


class FsaverageViTModel(_FsaverageReadout, ViTB32Readout):
    """``fmri-nsd_fsaverage-vit_b_32``: the fsaverage read-out of ViT-B/32 block features."""


class FsaverageAlexNetModel(_FsaverageReadout, AlexNetReadout):
    """``fmri-nsd_fsaverage-alexnet`` / ``-alexnet_untrained``: the fsaverage read-out of AlexNet node features."""


def load_fsaverage_model(request: LoadRequest) -> _FsaverageReadout:
    """The fsaverage model the request's card names."""
    if request.card.id in FSAVERAGE_ALEXNET_MODEL_IDS:
        return FsaverageAlexNetModel(request)
    return FsaverageViTModel(request)
