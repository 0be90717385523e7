"""Where the Zada 2025 model's files live in a BERG store, and the fixed facts of the model."""

from __future__ import annotations

import numpy as np

__all__ = [
    "CONTEXT_LENGTH", "ELECTRODE_COUNTS", "LAYER", "MODEL_ID", "N_LAGS", "SFREQ", "STORE_PATH", "SUBJECTS", "TMIN",
    "metadata_relpath", "reference_lags", "weights_relpath",
]

MODEL_ID = "ecog-zada2025-gpt2_xl"
STORE_PATH = "encoding_models/modality-ecog/train_dataset-zada2025/model-gpt2_xl"
SUBJECTS = tuple(f"{i:02d}" for i in range(1, 10))
#: electrodes per subject (BERG 2.0's ELECTRODE_COUNTS)
ELECTRODE_COUNTS = {"01": 99, "02": 90, "03": 235, "04": 143, "05": 159, "06": 166, "07": 116, "08": 72, "09": 188}
#: hidden_states index of GPT-2 XL (0 = embeddings): the output of block 24 of 48
LAYER = 24
#: tokens before the current one in each window (BERG 2.0 @1cb3cf1d: "matches the context length used for
#: pre-extracting features"; the older 1023 is superseded)
CONTEXT_LENGTH = 32
N_LAGS, SFREQ, TMIN = 129, 32.0, -2.0


def weights_relpath(subject: str) -> str:
    return f"{STORE_PATH}/encoding_models_weights/weights_sub-{subject}.npy"


def metadata_relpath(subject: str) -> str:
    return f"{STORE_PATH}/metadata/metadata_sub-{subject}.npy"


def reference_lags() -> np.ndarray:
    """MNE epochs' times for tmin -2, tmax 2 at 32 Hz: -2 + k/32, k = 0..128 (seconds)."""
    return TMIN + np.arange(N_LAGS) / SFREQ
