"""The fwRF model: per-ROI image networks and voxel read-outs in subject-native volume space.

Each ROI checkpoint carries its own image network, so a union of ROIs runs
each contributing ROI's network; ``lateral`` and ``ventral`` run two (one per
split file, split 1's voxels first). Only the read-out rows of voxels a ROI
actually predicts are kept (see :mod:`berg_fmri_nsd.fwrf_selection` for
overlaps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    EncodingModel,
    IntegrityError,
    LoadRequest,
    Stimuli,
    Store,
    berg2_squash_resize,
    square_crop_resize,
    to_device,
)

from .fwrf_checkpoint import load_fwrf_part
from .fwrf_network import INPUT_SIZE, FwrfImageNet, FwrfReadout
from .fwrf_selection import RoiVolume, assign_voxels, fwrf_rois, roi_volume
from .layout import fwrf_weight_paths
from .metadata import FWRF_ACCURACY, fwrf_metadata, lookup

__all__ = ["FwrfModel", "fwrf_metadata_for"]


@dataclass
class _Runner:
    """One checkpoint's network and the read-out rows it contributes, with their output columns."""

    net: FwrfImageNet
    readout: FwrfReadout
    columns: torch.Tensor


def fwrf_metadata_for(store: Store, subject: int, roi: Any) -> dict[str, Any]:
    """BERG 2.0's metadata dict of one ROI, or ``{roi: dict}`` for a list of ROIs."""
    names = fwrf_rois({"roi": roi})
    if isinstance(roi, str):
        return fwrf_metadata(store, subject, names[0])[0]
    return {name: fwrf_metadata(store, subject, name)[0] for name in names}


class FwrfModel(EncodingModel):
    """NSD responses of one ROI (or a union of ROIs) in subject-native volume space.

    Output: ``(stimulus, voxel)`` in the C-order of the (union) ROI mask, with
    voxel coordinates ``i``, ``j``, ``k``, ``roi`` (the ROI whose model
    predicts the voxel), ``ncsnr``, ``r2``, ``noise_ceiling`` and
    ``explained_variance``; attrs ``affine`` (16 numbers, row-major 4 x 4)
    and ``volume_shape``.
    """

    def __init__(self, request: LoadRequest) -> None:
        # core checked the options and the selection (required: a ROI or a list of ROIs) against the card
        r, subject, selection = request, int(request.subject), dict(request.selection or {})  # type: ignore[arg-type]
        store, device = r.store, r.device
        super().__init__(r.card, subject, selection, store, device, r.options.get("preprocessing"))
        self.rois = fwrf_rois(selection)
        self.selection = {"roi": selection["roi"] if isinstance(selection["roi"], str) else list(self.rois)}

        metas = {roi: fwrf_metadata(store, subject, roi) for roi in self.rois}
        volumes = {roi: roi_volume(meta, src) for roi, (meta, src) in metas.items()}
        self._check_same_space(volumes, [src for _, src in metas.values()])
        self.roi_mask_volume, assignments = assign_voxels(self.rois, [v.mask for v in volumes.values()])
        self.affine = next(iter(volumes.values())).affine
        self._coords = self._voxel_coords(metas, volumes, assignments)

        self._runners: list[_Runner] | None = []
        for a in assignments:
            if a.positions.size:
                self._runners += self._load_roi(a.roi, a.positions, a.columns, volumes[a.roi].n_voxels)
        self._attrs = {
            **self.base_attrs(),
            "affine": [float(v) for v in self.affine.ravel()],
            "volume_shape": [int(n) for n in self.roi_mask_volume.shape],
        }

    @staticmethod
    def _check_same_space(volumes: dict[str, RoiVolume], sources: list[str]) -> None:
        first = next(iter(volumes.values()))
        for (roi, v), src in zip(volumes.items(), sources, strict=True):
            if v.mask.shape != first.mask.shape or not np.allclose(v.affine, first.affine):
                raise IntegrityError(
                    f"{src}: ROI {roi} has volume {v.mask.shape} and affine {v.affine.tolist()}, unlike the other "
                    f"ROIs' {first.mask.shape} and {first.affine.tolist()}; ROIs of one subject must share a space"
                )

    def _voxel_coords(self, metas: dict[str, Any], volumes: dict[str, RoiVolume], assignments: list[Any]) -> dict[str, Any]:
        n = int(self.roi_mask_volume.sum())
        ijk = np.unravel_index(np.flatnonzero(self.roi_mask_volume), self.roi_mask_volume.shape)
        coords: dict[str, Any] = {axis: ("voxel", idx.astype(np.int64)) for axis, idx in zip("ijk", ijk, strict=True)}
        roi_of = np.empty(n, dtype=object)
        values = {name: np.full(n, np.nan, dtype=np.float32) for name in FWRF_ACCURACY}
        for a in assignments:
            meta, src = metas[a.roi]
            roi_of[a.columns] = a.roi
            for name, (section, key) in FWRF_ACCURACY.items():
                per_voxel = np.asarray(lookup(meta, section, key, src))
                if per_voxel.shape != (volumes[a.roi].n_voxels,):
                    raise IntegrityError(
                        f"{src}: {section}/{key} has shape {per_voxel.shape}, expected one value per ROI voxel "
                        f"({volumes[a.roi].n_voxels},)"
                    )
                values[name][a.columns] = per_voxel[a.positions]
        coords["roi"] = ("voxel", roi_of.astype(str))
        coords.update({name: ("voxel", v) for name, v in values.items()})
        return coords

    def _load_roi(self, roi: str, positions: np.ndarray, columns: np.ndarray, n_voxels: int) -> list[_Runner]:
        """Runners of one ROI's checkpoint(s), restricted to the read-out rows at ``positions``."""
        runners, offset = [], 0
        subject = int(self.subject)  # type: ignore[arg-type]
        for relpath in fwrf_weight_paths(subject, roi):
            part = load_fwrf_part(self.store, relpath, subject)
            inside = (positions >= offset) & (positions < offset + part.n_voxels)
            if inside.any():
                rows = torch.from_numpy(positions[inside] - offset)
                readout = part.readout if rows.numel() == part.n_voxels else part.readout.restricted_to(rows)
                runners.append(_Runner(part.net.to(self.device), readout.to(self.device),
                                       torch.from_numpy(columns[inside]).to(self.device)))
            offset += part.n_voxels
        if offset != n_voxels:
            raise IntegrityError(
                f"the fwRF checkpoint(s) of ROI {roi} (subject {subject}) predict {offset} voxels, but its "
                f"roi_mask_volume holds {n_voxels}"
            )
        return runners

    @property
    def n_voxels(self) -> int:
        """Number of output voxels."""
        return int(self.roi_mask_volume.sum())

    # ---- encoding -------------------------------------------------------------------------
    def preprocess(self, stimuli: Stimuli) -> torch.Tensor:
        images = stimuli.stacked()
        if images is None:
            images = stimuli.tensors()
        if self.preprocessing == "berg-2.0":
            x = berg2_squash_resize(images, INPUT_SIZE)
        else:
            x = square_crop_resize(images, INPUT_SIZE)
        return to_device(x, self.device)

    @torch.inference_mode()
    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        assert self._runners is not None
        out = torch.empty(batch.shape[0], self.n_voxels, dtype=torch.float32, device=batch.device)
        for r in self._runners:
            out[:, r.columns] = r.readout(r.net(batch))
        return xr.DataArray(
            out.cpu().numpy(),
            dims=("stimulus", "voxel"),
            coords={"stimulus": ("stimulus", np.asarray(stimulus_ids)), **self._coords},
            attrs=dict(self._attrs),
            name="fmri",
        )

    # ---- metadata and life cycle -----------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of the ROI, or ``{roi: dict}`` when the selection lists ROIs."""
        return fwrf_metadata_for(self.store, int(self.subject), self.selection["roi"])  # type: ignore[arg-type]

    def _release(self) -> None:
        self._runners = None
