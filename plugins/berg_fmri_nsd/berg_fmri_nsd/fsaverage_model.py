"""The fsaverage ViT-B/32 model: ViT features -> folded scaler+PCA -> one regression per hemisphere.

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
    VIT_B_32_N_FEATURES,
    FoldedProjection,
    IntegrityError,
    ModelCard,
    RegressionHeads,
    Store,
    ViTB32Readout,
    WeightFile,
    get_vit_b_32,
    open_weight_file,
    read_folded_projection,
)

from .fsaverage_selection import VertexSelection, resolve_vertex_selection
from .layout import HEMISPHERES, N_VERTICES, fsaverage_weights_path
from .metadata import fsaverage_metadata, fsaverage_vertex_coords
from .params import check_options

__all__ = ["FsaverageViTModel", "LOAD_OPTIONS"]

LOAD_OPTIONS = ("preprocessing", "backbone_weights")


def _read_regression(wf: WeightFile, hemi: str, idx: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """The regression rows of ``idx`` for one hemisphere, as float32."""
    rows = None if idx.size == N_VERTICES else idx  # whole hemisphere: no fancy-index copy
    try:
        coef = wf.read(f"{hemi}_reg_param/coef_", rows=rows)
        intercept = wf.read(f"{hemi}_reg_param/intercept_", rows=rows)
    except IntegrityError:
        raise
    except IndexError as exc:  # a reader that slices without checking
        raise IntegrityError(f"{wf.source}: {hemi}_reg_param has fewer than {N_VERTICES} vertices ({exc})") from None
    if coef.shape != (idx.size, n_components) or intercept.shape != (idx.size,):
        raise IntegrityError(
            f"{wf.source}: {hemi}_reg_param coef_/intercept_ have shapes {coef.shape}/{intercept.shape} for "
            f"{idx.size} selected vertices; expected ({idx.size}, {n_components}) and ({idx.size},)"
        )
    return np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(intercept, dtype=np.float32)


class FsaverageViTModel(ViTB32Readout):
    """NSD responses on the fsaverage surface from ViT-B/32 features.

    Output: ``(stimulus, vertex)``, left-hemisphere vertices first, each
    hemisphere in ascending fsaverage index; coordinates ``hemisphere``,
    ``fsaverage_index`` and per-vertex reliability (``ncsnr``,
    ``noise_ceiling``, ``correlation``, ``r2``, ``explained_variance``).

    Parameters
    ----------
    card, subject, selection, store, device
        As given to the ``berg_load_model`` hook.
    options
        ``preprocessing`` (``"train"`` or ``"berg-2.0"``) and ``backbone_weights``.
    """

    def __init__(
        self,
        card: ModelCard,
        subject: int,
        selection: dict[str, Any] | None,
        store: Store,
        device: torch.device,
        options: dict[str, Any],
    ) -> None:
        check_options(options, LOAD_OPTIONS, card.id, "get_encoding_model")
        super().__init__(card, subject, selection, store, device, options.get("preprocessing"))
        metadata, meta_source = fsaverage_metadata(store, subject)
        self.vertices: VertexSelection = resolve_vertex_selection(selection, metadata, meta_source)
        self.selection = self.vertices.description
        self._coords = self._vertex_coords(metadata, meta_source)
        del metadata  # only the selected vertices' coordinates are kept

        # shared with every model using the same weights and device: a multi-model encode runs it once per batch
        self.feature_extractor = get_vit_b_32(device, weights=options.get("backbone_weights"), store=store)
        wf = open_weight_file(store, fsaverage_weights_path(subject))
        try:
            W, c = read_folded_projection(wf)
            if W.shape[1] != VIT_B_32_N_FEATURES:
                raise IntegrityError(
                    f"{wf.source}: PCA components have {W.shape[1]} features, expected {VIT_B_32_N_FEATURES} ViT-B/32 features"
                )
            regressions = [
                _read_regression(wf, hemi, self.vertices.of(hemi), W.shape[0])
                for hemi in HEMISPHERES
                if self.vertices.of(hemi).size
            ]
        finally:
            wf.close()  # frees the unpickled dict: only W and the selected rows stay
        self._projection: FoldedProjection | None = FoldedProjection.from_numpy(W, c, device)
        del W
        # one head per hemisphere, not one concatenated copy: whole-brain models would hold two copies while loading
        self._heads: list[RegressionHeads] | None = [
            RegressionHeads(torch.from_numpy(coef).to(device), torch.from_numpy(intercept).to(device), 1)
            for coef, intercept in regressions
        ]
        del regressions
        self._attrs = {**self.base_attrs(), "n_components": self._projection.n_components}

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
    @torch.inference_mode()
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """``(B, 460800)`` ViT-B/32 features -> ``(stimulus, vertex)`` responses."""
        assert self._projection is not None and self._heads is not None
        z = self._projection(features.float())
        out = torch.cat([head(z) for head in self._heads], dim=1)
        return xr.DataArray(
            out.to("cpu", torch.float32).numpy(),
            dims=("stimulus", "vertex"),
            coords={"stimulus": ("stimulus", np.asarray(stimulus_ids)), **self._coords},
            attrs=dict(self._attrs),
            name="fmri",
        )

    # ---- metadata and life cycle -----------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (read again from the store)."""
        return fsaverage_metadata(self.store, int(self.subject))[0]  # type: ignore[arg-type]

    def _release(self) -> None:
        self.feature_extractor = None
        self._projection = None
        self._heads = None
