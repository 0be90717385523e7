"""Where the THINGS EEG2 model's files live in a BERG store, and the shapes they hold.

The layout is BERG 2.0's, read as published (see the reference document of the
store): one pickled weights dict and one pickled metadata dict per subject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = [
    "ALEXNET_MODEL_IDS",
    "CHANNEL_NAMES",
    "MODEL_ID",
    "MODEL_IDS",
    "N_CHANNELS",
    "N_REPETITIONS",
    "N_TIMES",
    "SFREQ",
    "TIME_STEP",
    "TMIN",
    "metadata_relpath",
    "reference_times",
    "weights_relpath",
]

MODEL_ID = "eeg-things_eeg_2-vit_b_32"
#: BERG 2.0's AlexNet models (trained, untrained): one PCA and one regression per repetition
ALEXNET_MODEL_IDS = ("eeg-things_eeg_2-alexnet", "eeg-things_eeg_2-alexnet_untrained")
#: Every model of this plugin; they share the outputs' layout (repetition, channel, time)
MODEL_IDS = (MODEL_ID, *ALEXNET_MODEL_IDS)

#: The 63 channels of the THINGS EEG2 preprocessed data, in the data's order
#: (BERG 2.0's model card lists the same names in the same order).
CHANNEL_NAMES: tuple[str, ...] = (
    "Fp1", "F3", "F7", "FT9", "FC5", "FC1", "C3", "T7", "TP9", "CP5", "CP1", "Pz", "P3", "P7", "O1", "Oz",
    "O2", "P4", "P8", "TP10", "CP6", "CP2", "Cz", "C4", "T8", "FT10", "FC6", "FC2", "F4", "F8", "Fp2", "AF7",
    "AF3", "AFz", "F1", "F5", "FT7", "FC3", "FCz", "C1", "C5", "TP7", "CP3", "P1", "P5", "PO7", "PO3", "POz",
    "PO4", "PO8", "P6", "P2", "CPz", "CP4", "TP8", "C6", "C2", "FC4", "FT8", "F6", "F2", "AF4", "AF8",
)  # fmt: skip

N_CHANNELS = len(CHANNEL_NAMES)  # 63
N_TIMES = 140
N_REPETITIONS = 4
SFREQ = 200.0
TIME_STEP = 1.0 / SFREQ  # 5 ms
TMIN = -0.1


def reference_times() -> np.ndarray:
    """The 140 epoch times in seconds (-0.1 to 0.595 s, 5 ms apart), as the data were epoched."""
    return np.arange(N_TIMES) * TIME_STEP + TMIN


def weights_relpath(card: ModelCard, subject: int) -> str:
    """Store path of a subject's weights file."""
    return f"{card.store_path}/encoding_models_weights/weights_subject-{subject:02d}.npy"


def metadata_relpath(card: ModelCard, subject: int) -> str:
    """Store path of a subject's metadata file."""
    return f"{card.store_path}/metadata/metadata_subject-{subject:02d}.npy"
