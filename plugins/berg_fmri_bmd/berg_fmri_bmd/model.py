"""The loaded fmri-bmd-s3d model: S3D features -> StandardScaler -> TruncatedSVD -> LinearRegression.

Per clip (reference math, BERG 2.0 @e73da00e): ``f`` = the 4,084,096 S3D node
outputs (:mod:`berg_fmri_bmd.backbone`); ``z = ((f - scaler.mean_) /
scaler.scale_) @ components_.T`` (a TruncatedSVD: no centring); ``y = z @
coef_[voxels].T + intercept_[voxels]``. Here the scaler and the SVD are one
folded float32 projection (:class:`~berg_core.plugin.FoldedProjection`) and
only the selected rows of the regression are read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    EncodingModel,
    FoldedHeads,
    FoldedProjection,
    IntegrityError,
    RegressionHeads,
    open_weight_file,
    read_folded_projection,
    read_metadata,
    read_regression_rows,
)

from .backbone import S3D_N_FEATURES
from .frames import video_input
from .layout import metadata_relpath, pca_relpath, weights_relpath
from .metadata import load_metadata, subject_volume, voxel_accuracy
from .selection import selected_voxels

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest

__all__ = ["BmdS3DModel", "load_readout"]

DATA_DESCRIPTION = (
    "in silico BOLD Moments fMRI responses (normalized betas, z-scored per session) to ~3 s videos, "
    "in the subject's voxels of the MNI152 volume (BMD 'versionB')"
)


def load_readout(store: Any, subject: int, rows: np.ndarray | None, n_voxels: int, device: torch.device) -> FoldedHeads:
    """The folded scaler + TruncatedSVD (shared file) and the selected regression rows of ``subject``.

    Raises
    ------
    IntegrityError
        The SVD does not take S3D's 4,084,096 features, or the regression does not fit the SVD or the mask.
    """
    pca = open_weight_file(store, pca_relpath())
    try:
        W, c = read_folded_projection(pca, centered=False)
    finally:
        pca.close()
    if W.shape[1] != S3D_N_FEATURES:
        raise IntegrityError(
            f"{store.url_of(pca_relpath())}: pca_param components_ have {W.shape[1]} features, expected "
            f"{S3D_N_FEATURES} (the S3D node outputs of a 14-frame 224 x 224 clip)"
        )
    reg = open_weight_file(store, weights_relpath(subject))
    try:
        coef, intercept = read_regression_rows(reg, "", rows, n_voxels, W.shape[0])
    finally:
        reg.close()
    projection = FoldedProjection.from_numpy(W, c, device)
    del W
    return FoldedHeads(projection, [RegressionHeads.from_numpy([coef], [intercept], device)])


class BmdS3DModel(EncodingModel):
    """BOLD Moments responses of one subject (1-10) to videos.

    Output ``(stimulus, voxel)``: coordinate ``voxel`` is the position in the
    subject's voxel vector (C order of ``sub_mask``), ``i``, ``j``, ``k`` its
    place in the volume, plus the per-voxel noise ceilings and accuracy the
    metadata holds; attrs ``affine`` (16 numbers, row-major 4 x 4, voxel ->
    MNI mm) and ``volume_shape``.
    """

    #: BERG 2.0 encodes 10 videos per batch.
    default_batch_size = 10

    def __init__(self, request: LoadRequest) -> None:
        r = request
        subject = int(r.subject)  # type: ignore[arg-type]  # an int card: core checked it
        super().__init__(r.card, subject, r.selection, r.store, r.device, r.options.get("preprocessing"))
        meta, source = load_metadata(r.store, subject)
        self.volume = subject_volume(meta, source)
        n = self.volume.n_voxels
        self.voxels, self.selection = selected_voxels(r.selection, meta, n, source)
        self._coords = self._voxel_coords(meta, source)
        del meta
        self._attrs = {
            **self.base_attrs(),
            "long_name": "in silico fMRI response",
            "description": DATA_DESCRIPTION,
            "modality": "fmri",
            "affine": [float(v) for v in self.volume.affine.ravel()],
            "volume_shape": [int(s) for s in self.volume.mask.shape],
            "n_frames_sampled": 14,
        }
        self.feature_extractor = r.backbone()
        self.readout: FoldedHeads | None = load_readout(r.store, subject, self.voxels, n, r.device)

    def _voxel_coords(self, meta: Any, source: str) -> dict[str, Any]:
        idx = self.voxels
        ijk = self.volume.ijk()
        coords: dict[str, Any] = {
            "voxel": ("voxel", idx, {"long_name": "voxel of the subject's mask (C order of fmri.sub_mask)"}),
        }
        for axis, a in zip("ijk", ijk, strict=True):
            coords[axis] = ("voxel", a[idx], {"long_name": f"volume index {axis}"})
        for key, values in voxel_accuracy(meta, self.volume.n_voxels, source).items():
            # the test noise ceiling (10 repeats) is what explained_variance divides by: the reliability
            name = "noise_ceiling" if key == "noiseceiling_task_test_n_10" else key
            coords[name] = ("voxel", values[idx])
        return coords

    @property
    def n_voxels(self) -> int:
        """Number of output voxels."""
        return int(self.voxels.size)

    # ---- encoding -------------------------------------------------------------------------
    def preprocess(self, stimuli: Any) -> torch.Tensor:
        """``(B, 3, 14, 224, 224)`` S3D input of a batch of videos (see :func:`berg_fmri_bmd.frames.video_input`)."""
        stacked = stimuli.stacked() if hasattr(stimuli, "stacked") else None
        clips = stacked if stacked is not None else stimuli.clips()
        return video_input(clips, self.preprocessing, self.device)

    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        self.check_open()
        return super().encode_batch(batch, stimulus_ids)

    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses from S3D features ``(B, 4084096)`` (shared with other models of the backbone in one pass)."""
        self.check_open()
        assert self.readout is not None
        with torch.inference_mode():
            y = self.readout(features)
        return xr.DataArray(
            y.cpu().numpy(),
            dims=("stimulus", "voxel"),
            coords={"stimulus": ("stimulus", np.asarray(stimulus_ids)), **self._coords},
            attrs=dict(self._attrs),
            name="fmri",
        )

    # ---- metadata and life cycle ----------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of the subject (``fmri``, ``encoding_models``), read afresh."""
        return read_metadata(self.store, metadata_relpath(int(self.subject)))  # type: ignore[arg-type]

    def _release(self) -> None:
        self.feature_extractor = None
        self.readout = None
