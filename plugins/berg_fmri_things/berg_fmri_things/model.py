"""The loaded THINGS-fMRI1 ViT-B/32 encoding model.

Per image (BERG 2.0's math): ViT-B/32 block features ``f`` (460,800 values),
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` (250
components), ``y = z @ coef_.T + intercept_`` over the 211,339 voxels. The
scaler and PCA are folded into one float32 projection and only the selected
voxels' regression rows are read (a one-ROI load from the Zarr layout reads
only that ROI's chunks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import ViTB32Readout, WeightFile, read_regression_rows

from .layout import N_VOXELS, weights_relpath
from .metadata import RELIABILITY, VoxelLabels, labels_from_metadata, load_metadata
from .selection import VoxelSelection, resolve_selection

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest

__all__ = ["DATA_DESCRIPTION", "ThingsFmriModel"]

DATA_DESCRIPTION = (
    "in silico THINGS-fMRI1 responses: single-trial betas of the subject's functional volume, z-scored per voxel "
    "within each scanning session"
)


class ThingsFmriModel(ViTB32Readout):
    """THINGS-fMRI1 responses of one subject's voxels from ViT-B/32 features.

    Output: ``(stimulus, voxel)``; coordinates ``voxel`` (index into the
    211,339 voxels), ``voxel_x``/``voxel_y``/``voxel_z`` (position in the
    functional volume), ``roi`` (the listed ROI that selected the voxel),
    ``rois`` (every ROI holding it) and, where the metadata has them, the
    reliability entries of :data:`~berg_fmri_things.metadata.RELIABILITY`.

    Parameters
    ----------
    request
        The ``berg_load_model`` hook's request; core checked its subject, selection
        and options (``preprocessing``, ``backbone_weights``) against the card.
    """

    default_batch_size = 32

    def __init__(self, request: LoadRequest) -> None:
        r, subject = request, int(request.subject)  # type: ignore[arg-type]  # an int card
        super().__init__(r.card, subject, r.selection, r.store, r.device, r.options.get("preprocessing"))
        meta, source = load_metadata(r.store, subject)
        labels = labels_from_metadata(meta, source)
        del meta
        self.voxels: VoxelSelection = resolve_selection(r.selection, labels)
        self.selection = self.voxels.description
        self._coords = self._voxel_coords(labels)
        self._geometry = {k: v for k, v in (("affine", labels.affine), ("volume_shape", labels.volume_shape))
                          if v is not None}
        self.load_readout(weights_relpath(subject, r.card.store_path), self._read_voxels, r.backbone())
        assert self.readout is not None
        self._attrs = self._result_attrs()

    def _read_voxels(self, wf: WeightFile, n_components: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        coef, intercept = read_regression_rows(wf, "reg_param", self.voxels.voxels, N_VOXELS, n_components)
        return [([coef], [intercept])]

    def _voxel_coords(self, labels: VoxelLabels) -> dict[str, Any]:
        v = self.voxels.voxels
        coords: dict[str, Any] = {
            "voxel": ("voxel", v, {"long_name": f"voxel index (0-{N_VOXELS - 1}) of the model's output"}),
            "roi": ("voxel", self.voxels.roi, {"long_name": "the selected ROI this voxel answers for"}),
            "rois": ("voxel", labels.membership(v), {"long_name": "every ROI holding this voxel (comma-separated)"}),
        }
        if labels.coords is not None:
            for axis, column in zip("xyz", labels.coords[v].T, strict=True):
                coords[f"voxel_{axis}"] = ("voxel", column, {"long_name": f"voxel {axis} index in the functional volume"})
        for name, values in labels.reliability.items():
            coords[name] = ("voxel", values[v], {"long_name": RELIABILITY[name][1]})
        return coords

    def _result_attrs(self) -> dict[str, Any]:
        attrs = self.base_attrs()
        attrs.update(long_name="in silico fMRI response", description=DATA_DESCRIPTION, modality="fmri")
        if "affine" in self._geometry:  # flat, row-major: attrs stay JSON-friendly (Zarr, NetCDF)
            attrs["affine"] = [float(x) for x in np.ravel(self._geometry["affine"])]
        if "volume_shape" in self._geometry:
            attrs["volume_shape"] = list(self._geometry["volume_shape"])
        return attrs

    @property
    def n_voxels(self) -> int:
        """Number of output voxels."""
        return int(self.voxels.voxels.size)

    # ---- encoding -------------------------------------------------------------------------
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """``(B, 460800)`` ViT-B/32 features -> ``(stimulus, voxel)`` responses."""
        return xr.DataArray(
            self.read_out(features).to("cpu", torch.float32).numpy(),
            dims=("stimulus", "voxel"),
            coords={"stimulus": ("stimulus", np.asarray(stimulus_ids)), **self._coords},
            attrs=dict(self._attrs),
            name="fmri",
        )

    # ---- metadata ---------------------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (read again from the store)."""
        return load_metadata(self.store, int(self.subject))[0]  # type: ignore[arg-type]
