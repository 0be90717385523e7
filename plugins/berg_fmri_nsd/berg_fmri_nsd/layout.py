"""Where the NSD models' files live in a BERG store, and the names they use.

Paths are relative to the store root and follow BERG 2.0's published layout
exactly (see the store reference), so a local copy of the public bucket and
the bucket itself are read the same way.
"""

from __future__ import annotations

__all__ = [
    "FSAVERAGE_ALEXNET_MODEL_IDS",
    "FSAVERAGE_MODEL_ID",
    "FSAVERAGE_MODEL_IDS",
    "FSAVERAGE_ROIS",
    "FSAVERAGE_ROI_UNIONS",
    "FWRF_MODEL_ID",
    "FWRF_ROIS",
    "FWRF_SPLIT_ROIS",
    "HEMISPHERES",
    "N_VERTICES",
    "fsaverage_metadata_path",
    "fsaverage_weights_path",
    "fwrf_metadata_path",
    "fwrf_weight_paths",
]

FSAVERAGE_MODEL_ID = "fmri-nsd_fsaverage-vit_b_32"
#: BERG 2.0's AlexNet fsaverage models (trained, untrained): the ViT model's layout and math on AlexNet features
FSAVERAGE_ALEXNET_MODEL_IDS = ("fmri-nsd_fsaverage-alexnet", "fmri-nsd_fsaverage-alexnet_untrained")
#: Every fsaverage model: same files (in their own folders), outputs, selection and exports
FSAVERAGE_MODEL_IDS = (FSAVERAGE_MODEL_ID, *FSAVERAGE_ALEXNET_MODEL_IDS)
FWRF_MODEL_ID = "fmri-nsd-fwrf"

#: Vertices per fsaverage hemisphere.
N_VERTICES = 163_842
HEMISPHERES = ("lh", "rh")

#: ROI names of the fsaverage metadata (``fmri.{lh,rh}_fsaverage_rois``), in BERG 2.0's order.
FSAVERAGE_ROIS = (
    "V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4", "EBA", "FBA-1", "FBA-2", "mTL-bodies", "OFA", "FFA-1",
    "FFA-2", "mTL-faces", "aTL-faces", "OPA", "PPA", "RSC", "OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words",
    "early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal",
)
#: Names accepted on top of the metadata's own: the union of their ventral and dorsal parts.
FSAVERAGE_ROI_UNIONS = {"V1": ("V1v", "V1d"), "V2": ("V2v", "V2d"), "V3": ("V3v", "V3d")}

#: ROIs of the fwRF model, in BERG 2.0's order.
FWRF_ROIS = (
    "V1", "V2", "V3", "hV4", "EBA", "FBA-2", "OFA", "FFA-1", "FFA-2", "PPA", "RSC", "OPA", "OWFA", "VWFA-1",
    "VWFA-2", "mfs-words", "early", "midventral", "midlateral", "midparietal", "parietal", "lateral", "ventral",
)
#: ROIs whose fwRF read-out was fit in two parts (two files, voxels of split 1 first).
FWRF_SPLIT_ROIS = ("lateral", "ventral")

_FSAVERAGE_DIR = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-{model}"
_FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"


def _fsaverage_dir(model_id: str) -> str:
    """The store folder of an fsaverage model (``model-vit_b_32``, ``model-alexnet``...)."""
    return _FSAVERAGE_DIR.format(model=model_id.rsplit("-", 1)[-1])


def fsaverage_weights_path(subject: int, model_id: str = FSAVERAGE_MODEL_ID) -> str:
    """``weights_subject-SS.npy`` of an fsaverage model (default: ViT-B/32)."""
    return f"{_fsaverage_dir(model_id)}/encoding_models_weights/weights_subject-{subject:02d}.npy"


def fsaverage_metadata_path(subject: int, model_id: str = FSAVERAGE_MODEL_ID) -> str:
    """``metadata_subject-SS.npy`` of an fsaverage model (default: ViT-B/32)."""
    return f"{_fsaverage_dir(model_id)}/metadata/metadata_subject-{subject:02d}.npy"


def fwrf_weight_paths(subject: int, roi: str) -> list[str]:
    """The checkpoint(s) of one fwRF ROI: one file, or split 1 then split 2."""
    stem = f"{_FWRF_DIR}/encoding_models_weights/weights_sub-{subject:02d}_roi-{roi}"
    if roi in FWRF_SPLIT_ROIS:
        return [f"{stem}_split-{i}.pt" for i in (1, 2)]
    return [f"{stem}.pt"]


def fwrf_metadata_path(subject: int, roi: str) -> str:
    """``metadata_sub-SS_roi-ROI.npy`` of the fwRF model."""
    return f"{_FWRF_DIR}/metadata/metadata_sub-{subject:02d}_roi-{roi}.npy"
