"""Where the TVSD model's files live in a BERG store, and the names it uses.

Subjects are the two monkeys, ``"N"`` and ``"F"``; files name them ``monkeyN`` /
``monkeyF``. The weight-file names differ between upstream versions, and the
model code that reads the newest names was not found, so every documented name
is accepted, newest first (``specs/store_layout.md``, TVSD section):

=====================  =================================================  ======================
``train_splits``       file names tried, in order                         seen in
=====================  =================================================  ======================
``"all"``              ``weights_monkey{S}_all_training_splits.npy``      newest trainer
                       ``weights_monkey{S}.npy``                          model code @828a51e0
``"single"`` (split k) ``weights_monkey{S}_single_training_split_{k}.npy``  newest trainer
=====================  =================================================  ======================

Metadata: ``metadata_monkey{S}.npy`` (what the model code reads), else
``metadata_monkeymonkey{S}.npy`` (what the test script's doubled prefix writes).
"""

from __future__ import annotations

__all__ = [
    "MODEL_ID",
    "N_ELECTRODES",
    "N_SPLITS",
    "N_TIMES",
    "ROIS",
    "SPLITS",
    "STORE_PATH",
    "metadata_candidates",
    "monkey",
    "weights_candidates",
]

MODEL_ID = "utah_array-tvsd-vit_b_32"
STORE_PATH = "encoding_models/modality-utah_array/train_dataset-tvsd/model-vit_b_32"

N_ELECTRODES = 1024
N_TIMES = 300
#: ROI labels in BERG 2.0's order (``metadata["roi"]["roi_labels"]``; ``roi_assignments`` index into it).
ROIS = ("V1", "V4", "IT")
N_SPLITS = 4
#: The split numbers, as the ``split`` coordinate of ``train_splits="single"`` results.
SPLITS = tuple(range(1, N_SPLITS + 1))


def monkey(subject: str) -> str:
    """The monkey as the files name it (``"N"`` -> ``"monkeyN"``)."""
    return f"monkey{subject}"


def weights_candidates(subject: str, split: int | None = None, store_path: str = STORE_PATH) -> list[str]:
    """Store paths of the weights of ``subject`` (``split=None``: all training splits), newest name first."""
    m = monkey(subject)
    names = ([f"weights_{m}_all_training_splits.npy", f"weights_{m}.npy"] if split is None
             else [f"weights_{m}_single_training_split_{split}.npy"])
    return [f"{store_path}/encoding_models_weights/{n}" for n in names]


def metadata_candidates(subject: str, store_path: str = STORE_PATH) -> list[str]:
    """Store paths of the metadata of ``subject``, the model code's name first."""
    m = monkey(subject)
    return [f"{store_path}/metadata/metadata_{m}.npy", f"{store_path}/metadata/metadata_monkey{m}.npy"]
