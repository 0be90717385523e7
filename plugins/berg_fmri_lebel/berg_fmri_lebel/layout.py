"""Where the LeBel 2023 model's files live in a BERG store, and the fixed facts of the model.

Constants as BERG 2.0's ``FMRIOpt13BEncodingModel`` (``berg/models/fmri/lebel2023_opt_1_3b_ridge.py``).
"""

from __future__ import annotations

__all__ = [
    "CONTEXT_MAX_WORDS", "CONTEXT_MIN_WORDS", "DELAYS", "LANCZOS_WINDOW", "LAYER", "MODEL_ID", "ROIS", "STORE_PATH",
    "SUBJECTS", "TR", "VOXEL_COUNTS", "metadata_relpath", "weights_relpath",
]

MODEL_ID = "fmri-lebel2023-opt_1_3b"
STORE_PATH = "encoding_models/modality-fmri/train_dataset-lebel2023/model-opt_1_3b_ridge"
#: the newest model card lists UTS01-UTS08; an older card and the trainer's defaults only UTS01-UTS03
SUBJECTS = tuple(f"UTS{i:02d}" for i in range(1, 9))
#: voxels per subject (BERG 2.0's VOXELS_PER_SUBJECT; the metadata's n_voxels is what berg uses)
VOXEL_COUNTS = {"UTS01": 81126, "UTS02": 94251, "UTS03": 95556, "UTS04": 109469, "UTS05": 99322, "UTS06": 92198,
                "UTS07": 94395, "UTS08": 97023}
#: seconds per fMRI volume
TR = 2.0
#: FIR delays in TRs, in the order of the ridge weights' feature blocks
DELAYS = (1, 2, 3, 4)
#: Lanczos lobes
LANCZOS_WINDOW = 3
#: hidden_states index of OPT-1.3B (0 = embeddings): the output of block 18 of 24
LAYER = 18
#: words of context kept after a reset, and words a context may grow to before one
CONTEXT_MIN_WORDS = 256
CONTEXT_MAX_WORDS = 512
#: ROIs of the newest model card (each subject's metadata has the ones with voxels)
ROIS = ("A1", "AC", "ATFP", "Broca", "EBA", "FBA", "FEF", "FFA", "FFA1", "FO", "IFSFP", "IPS", "LO", "M1F", "M1H",
        "M1M", "OFA", "OPA", "PMvh", "PPA", "RSC", "S1F", "S1H", "S1M", "S2F", "S2H", "S2M", "SEF", "SMFA", "SMHA",
        "TOS", "V1", "V2", "V3", "V3A", "V3B", "V4", "V7", "VO", "hMT", "pSTS", "sPMv")


def weights_relpath(subject: str) -> str:
    return f"{STORE_PATH}/encoding_models_weights/weights_{subject}.npy"


def metadata_relpath(subject: str) -> str:
    return f"{STORE_PATH}/metadata/metadata_{subject}.npy"
