"""Where the THINGS-fMRI1 model's files live in a BERG store, and the names it uses.

BERG 2.0's layout, read as published: one pickled weights dict and one pickled
metadata dict per subject, named ``weights_sub-SS.npy`` / ``metadata_sub-SS.npy``
(the newest model code formats the int subject as ``sub-0{subject}``; the trainer
and the older card spell the subject ``"sub-01"`` itself: the same file name).
"""

from __future__ import annotations

__all__ = [
    "MODEL_ID",
    "N_VOXELS",
    "ROIS",
    "STORE_PATH",
    "metadata_relpath",
    "subject_label",
    "weights_relpath",
]

MODEL_ID = "fmri-things_fmri_1-vit_b_32"
STORE_PATH = "encoding_models/modality-fmri/train_dataset-things_fmri_1/model-vit_b_32"

#: Voxels of every subject's output (BERG 2.0's ``VOXELS_LENGTH``).
N_VOXELS = 211_339

#: The 29 ROI names of the card, in BERG 2.0's order (``metadata["roi"]`` keys; prep renames "LO1 (prf)").
ROIS: tuple[str, ...] = (
    "V1", "V2", "V3", "hV4", "VO1", "VO2", "LO1_prf", "LO2_prf", "TO1", "TO2", "V3b", "V3a", "lFFA", "rFFA",
    "lOFA", "rOFA", "lEBA", "rEBA", "lPPA", "rPPA", "lRSC", "rRSC", "lTOS", "rTOS", "lLOC", "rLOC", "IT",
    "lSTS", "rSTS",
)  # fmt: skip


def subject_label(subject: int) -> str:
    """THINGS' own spelling of a subject in file names (``1`` -> ``"sub-01"``)."""
    return f"sub-{int(subject):02d}"


def weights_relpath(subject: int, store_path: str = STORE_PATH) -> str:
    """Store path of a subject's weights file."""
    return f"{store_path}/encoding_models_weights/weights_{subject_label(subject)}.npy"


def metadata_relpath(subject: int, store_path: str = STORE_PATH) -> str:
    """Store path of a subject's metadata file."""
    return f"{store_path}/metadata/metadata_{subject_label(subject)}.npy"
