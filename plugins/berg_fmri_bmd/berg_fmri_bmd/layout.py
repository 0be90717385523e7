"""Where fmri-bmd-s3d's files live in a BERG store, and the fixed facts of the model.

Paths follow BERG 2.0's published layout (``train_dataset-bmd/model-s3d``): one
TruncatedSVD shared by all subjects (``pca_weights.npy``), one linear read-out
per subject (``weights_sub-SS.npy``) and one metadata dict per subject
(``metadata_sub-SS.npy``).
"""

from __future__ import annotations

__all__ = [
    "MODEL_DIR",
    "MODEL_ID",
    "N_COMPONENTS",
    "N_FRAMES",
    "ROIS",
    "SUBJECTS",
    "VOLUME_SHAPE",
    "VOXELS_LENGTH",
    "metadata_relpath",
    "pca_relpath",
    "weights_relpath",
]

MODEL_ID = "fmri-bmd-s3d"
MODEL_DIR = "encoding_models/modality-fmri/train_dataset-bmd/model-s3d"
SUBJECTS = tuple(range(1, 11))
#: Frames S3D sees per clip: ``np.linspace(0, T - 1, 14, dtype=int)`` of the clip's frames.
N_FRAMES = 14
#: Components of BERG 2.0's TruncatedSVD.
N_COMPONENTS = 100
#: The MNI volume of BOLD Moments' masks (``fmri.sub_mask``, ``fmri.group_mask``).
VOLUME_SHAPE = (62, 77, 61)
#: Voxels of each subject's mask (subjects 1..10), as BERG 2.0's model lists them.
VOXELS_LENGTH = (108219, 108603, 108366, 108283, 108201, 108449, 108126, 108407, 108250, 107987)
#: ROI names of ``fmri.rois``, in BERG 2.0's card order.
ROIS = (
    "lV1v", "rV1v", "lV1d", "rV1d", "lV2v", "rV2v", "lV2d", "rV2d", "lV3v", "rV3v", "lV3d", "rV3d", "lV3ab", "rV3ab",
    "lhV4", "rhV4", "lFFA", "rFFA", "lOFA", "rOFA", "lEBA", "rEBA", "lLOC", "rLOC", "lPPA", "rPPA", "lRSC", "rRSC",
    "rSTS", "lSTS", "lTOS", "rTOS", "lMT", "rMT", "l7AL", "r7AL", "lIPS0", "rIPS0", "rIPS1-2-3", "lIPS1-2-3", "lPFt",
    "rPFt", "lBA2", "rBA2", "lPFop", "rPFop", "BMDgeneral",
)


def pca_relpath() -> str:
    """The TruncatedSVD (and StandardScaler) shared by every subject."""
    return f"{MODEL_DIR}/encoding_models_weights/pca_weights.npy"


def weights_relpath(subject: int) -> str:
    """``weights_sub-SS.npy``: the subject's LinearRegression (flat dict)."""
    return f"{MODEL_DIR}/encoding_models_weights/weights_sub-{int(subject):02d}.npy"


def metadata_relpath(subject: int) -> str:
    """``metadata_sub-SS.npy``: masks, affines, ROIs and accuracy of the subject."""
    return f"{MODEL_DIR}/metadata/metadata_sub-{int(subject):02d}.npy"
