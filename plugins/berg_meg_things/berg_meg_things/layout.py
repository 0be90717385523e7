"""Where the THINGS-MEG1 model's files live in a BERG store, and the shapes they hold.

BERG 2.0 renamed the MEG weight files twice and the newest names (for
``train_splits="all"`` / ``"single"``) were not found in any upstream source,
so every documented form is accepted, newest first (decision recorded in
``specs/store_layout.md``):

=========================  ==============================================  =========================
``train_splits``           file names tried, in order                      seen in
=========================  ==============================================  =========================
``"all"``                  ``weights_P{n}_all_training_splits.npy``        test/prep scripts, TVSD
                           ``weights_P{n}_full.npy``                       model code @00364415
                           ``weights_P{n}.npy``                            model code @99951c64
``"single"`` (split k)     ``weights_P{n}_single_training_split_{k}.npy``  test/prep scripts, TVSD
                           ``weights_P{n}_split{k}.npy``                   model code @00364415
=========================  ==============================================  =========================

Each is an ``np.save`` of a dict (``scaler_param``, ``pca_param``,
``reg_param``) or its Zarr twin; the metadata is ``metadata/metadata_P{n}.npy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = [
    "HEMISPHERES",
    "MODEL_ID",
    "N_SENSORS",
    "N_SPLITS",
    "N_TIMES",
    "PREFIXES",
    "REGIONS",
    "SFREQ",
    "SPLITS",
    "TIME_STEP",
    "TMIN",
    "TRAIN_SPLITS",
    "metadata_relpath",
    "reference_times",
    "sensor_parts",
    "weights_candidates",
]

MODEL_ID = "meg-things_meg_1-vit_b_32"
N_SENSORS = 271
N_TIMES = 281
SFREQ = 200.0
TIME_STEP = 1.0 / SFREQ  # 5 ms
TMIN = -0.1
N_SPLITS = 4
#: The split numbers, as the ``split`` coordinate of ``train_splits="single"`` results.
SPLITS = np.arange(1, N_SPLITS + 1)
TRAIN_SPLITS = ("all", "single")

#: CTF sensor name letters (``M`` + hemisphere + region + number): BERG 2.0's ``create_meg_metadata`` reading.
HEMISPHERES = {"L": "Left", "R": "Right", "Z": "Midline"}
REGIONS = {"F": "Frontal", "C": "Central", "P": "Parietal", "T": "Temporal", "O": "Occipital"}
#: The sensor groups BERG 2.0's ``sensors`` selection key accepts.
PREFIXES = ("MLC", "MLF", "MLO", "MLP", "MLT", "MRC", "MRF", "MRO", "MRP", "MRT", "MZC", "MZF", "MZO", "MZP")


def reference_times() -> np.ndarray:
    """The 281 epoch times in seconds (-0.1 to 1.3 s, 5 ms apart), as the data were epoched."""
    return np.round(np.arange(N_TIMES) * TIME_STEP + TMIN, 9)


def sensor_parts(name: str) -> tuple[str, str | None, str | None]:
    """``(prefix, hemisphere, region)`` of a CTF sensor name (``"MLT23-1609"`` -> ``("MLT", "Left", "Temporal")``).

    Hemisphere or region is ``None`` when the name does not follow the CTF scheme.
    """
    stem = name.split("-", 1)[0]
    prefix = stem[:3]
    hemi = HEMISPHERES.get(stem[1]) if len(stem) > 1 else None
    region = REGIONS.get(stem[2]) if len(stem) > 2 else None
    return prefix, hemi, region


def _weights_dir(card: ModelCard) -> str:
    return f"{card.store_path}/encoding_models_weights"


def weights_candidates(card: ModelCard, subject: int, split: int | None = None) -> list[str]:
    """Store paths a subject's weights may have, newest naming first (see the module notes).

    Parameters
    ----------
    split
        ``None`` for the model trained on all training splits, else the split number (1-4).
    """
    folder, p = _weights_dir(card), f"P{subject}"
    if split is None:
        names = [f"weights_{p}_all_training_splits.npy", f"weights_{p}_full.npy", f"weights_{p}.npy"]
    else:
        names = [f"weights_{p}_single_training_split_{split}.npy", f"weights_{p}_split{split}.npy"]
    return [f"{folder}/{n}" for n in names]


def metadata_relpath(card: ModelCard, subject: int) -> str:
    """Store path of a subject's metadata file."""
    return f"{card.store_path}/metadata/metadata_P{subject}.npy"
