"""A seeded THINGS-MEG1 store in BERG 2.0's real file formats, for tests and demos.

The files are what BERG 2.0 publishes: ``np.save(..., allow_pickle=True)`` of a
dict of sklearn-style parameters (``scaler_param``, ``pca_param``, ``reg_param``;
float64 arrays, NumPy and Python scalars) per training-split model, and of the
nested metadata dict (``meg``, ``sensors``, ``encoding_model``).

Sensor names: the 271 THINGS-MEG names are only in the shipped metadata, so the
synthetic store takes MNE's CTF-275 layout names, leaves out
:data:`SYNTHETIC_MISSING` (4 sensors, an arbitrary choice: which 4 the real
data lack is not documented) and adds THINGS-MEG's ``-1609`` suffix
(``MLT23-1609``, the example in BERG 2.0's ``utils_meg.py``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import (
    VIT_B_32_N_FEATURES,
    InvalidParameterError,
    check_int,
    check_options,
    save_npy_dict,
    seeded_rng,
    sklearn_readout_weights,
    write_synthetic_backbone,
)

from .layout import (
    MODEL_ID,
    N_SENSORS,
    N_SPLITS,
    N_TIMES,
    SPLITS,
    metadata_relpath,
    reference_times,
    sensor_parts,
    weights_candidates,
)
from .metadata import ALL_SPLITS_KEY

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = ["NAMINGS", "SYNTHETIC_MISSING", "SYNTHETIC_OPTIONS", "make_metadata", "make_weights", "sensor_names",
           "write_synthetic_store"]

#: Options of :func:`write_synthetic_store` and their defaults.
SYNTHETIC_OPTIONS: dict[str, Any] = {
    "n_components": 250, "dtype": "float64", "backbone": False, "naming": "newest", "splits": True,
}
#: Weight-file namings (see ``layout``): index into :func:`~berg_meg_things.layout.weights_candidates`.
NAMINGS = {"newest": 0, "full": 1, "plain": 2}
#: CTF-275 sensors the synthetic store leaves out to get THINGS-MEG's 271.
SYNTHETIC_MISSING = ("MLF25", "MRC53", "MRO52", "MZF03")
N_TRAIN_TRIALS, N_SPLIT_TRIALS, N_TEST_TRIALS, N_REPEATS = 22248, 5562, 2400, 12


def sensor_names() -> list[str]:
    """271 CTF sensor names in MNE's CTF-275 order (see the module notes)."""
    import mne

    stems = [n.split("-", 1)[0] for n in mne.channels.read_layout("CTF-275").names]
    names = [f"{s}-1609" for s in stems if s not in SYNTHETIC_MISSING]
    assert len(names) == N_SENSORS, len(names)
    return names


def make_weights(seed: int, subject: int, split: int | None, n_components: int = 250,
                 dtype: str = "float64") -> dict[str, Any]:
    """The weights dict of one subject's model (``split=None``: all training splits)."""
    rng = seeded_rng(seed, MODEL_ID, subject, "all" if split is None else f"split-{split}")
    n_samples = N_TRAIN_TRIALS if split is None else N_SPLIT_TRIALS
    return sklearn_readout_weights(rng, VIT_B_32_N_FEATURES, n_components, {"reg_param": N_SENSORS * N_TIMES},
                                   n_samples, dtype)


def make_metadata(seed: int, subject: int) -> dict[str, Any]:
    """The metadata dict of one subject, nested as BERG 2.0's newest model card documents it."""
    rng = seeded_rng(seed, MODEL_ID, "metadata", subject)
    names = sensor_names()
    parts = [sensor_parts(n) for n in names]
    shape = (N_SENSORS, N_TIMES)
    ncsnr = rng.uniform(0.05, 1.5, shape)
    noise_ceiling = 100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / N_REPEATS)  # BERG 2.0's compute_noise_ceiling

    def split_results(n: int, shift: float) -> dict[str, Any]:
        corr = np.clip(rng.normal(0.25 - shift, 0.15, shape), -1.0, 1.0)
        pct = np.clip(corr, 0, None) ** 2 / (noise_ceiling / 100.0) * 100.0
        concept = rng.integers(1, 1855, n)
        return {
            "train_img_ids": np.arange(n),
            "train_concepts": np.array([f"concept{c}" for c in concept]),
            "train_stimuli": np.array([f"concept{c}_{i % 12 + 1:02d}s.jpg" for i, c in enumerate(concept)]),
            "train_sessions": rng.integers(1, 13, n),
            "train_runs": rng.integers(1, 11, n),
            "train_img_files": np.array([f"images/concept{c}/concept{c}_{i % 12 + 1:02d}s.jpg"
                                         for i, c in enumerate(concept)]),
            "correlation_results": corr,
            "percent_noise_ceiling": pct,
        }

    test_concepts = np.repeat(np.arange(1, 201), N_REPEATS)
    encoding_model: dict[str, Any] = {ALL_SPLITS_KEY: split_results(N_TRAIN_TRIALS, 0.0)}
    for k in range(1, N_SPLITS + 1):
        encoding_model[f"single_training_split_{k}"] = split_results(N_SPLIT_TRIALS, 0.08)
    encoding_model.update(
        test_img_ids=np.arange(N_TEST_TRIALS),
        test_stimuli=np.array([f"test_concept{c}.jpg" for c in test_concepts]),
        test_concepts=np.array([f"concept{c}" for c in test_concepts]),
        test_image_nr=test_concepts,
        test_sessions=rng.integers(1, 13, N_TEST_TRIALS),
        test_runs=rng.integers(1, 11, N_TEST_TRIALS),
        test_img_files=np.array([f"images_test/test_concept{c}.jpg" for c in test_concepts]),
        ncsnr=ncsnr,
        noise_ceiling=noise_ceiling,
    )
    return {
        "meg": {"times": reference_times(), "subject_id": f"P{subject}"},
        "sensors": {
            "sensor_names": np.array(names),
            "sensor_prefixes": np.array([p[0] for p in parts]),
            "sensor_hemispheres": np.array([p[1] for p in parts]),
            "sensor_regions": np.array([p[2] for p in parts]),
            "n_sensors": N_SENSORS,
        },
        "encoding_model": encoding_model,
    }


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **options}
    opts["n_components"] = check_int(opts["n_components"], "n_components", low=1, high=1000, note=" (BERG 2.0 uses 250)")
    if opts["naming"] not in NAMINGS:
        raise InvalidParameterError(f"naming must be one of {list(NAMINGS)}, got {opts['naming']!r}")
    if not isinstance(opts["splits"], bool):
        raise InvalidParameterError(f"splits must be True or False, got {opts['splits']!r}")
    if opts["naming"] == "plain" and opts["splits"]:
        raise InvalidParameterError("naming='plain' (BERG's first MEG files) has no single-split files; pass splits=False")
    return opts


def write_synthetic_store(
    card: ModelCard,
    root: str | os.PathLike[str],
    subjects: list[int],
    seed: int,
    options: dict[str, Any] | None = None,
) -> list[str]:
    """Write seeded weights and metadata of ``subjects`` under ``root``; returns the paths written.

    Parameters
    ----------
    card
        The model's card (gives the folder inside the store).
    root
        Local store folder (created if needed).
    subjects
        Subjects to write (core's ``write_synthetic_store`` checked them against the card).
    seed
        The same seed writes the same files.
    options
        ``n_components`` (default 250); ``dtype`` (``"float64"``, sklearn's default, or ``"float32"``);
        ``backbone`` (also write seeded ViT-B/32 weights; default False); ``naming`` of the weight files:
        ``"newest"`` (``weights_P1_all_training_splits.npy``, ``..._single_training_split_K.npy``), ``"full"``
        (``weights_P1_full.npy``, ``..._splitK.npy``) or ``"plain"`` (``weights_P1.npy``, no splits);
        ``splits`` (also write the four single-split models; default True).
    """
    opts = _check_options(dict(options or {}))  # core checked the subjects against the card
    pick = NAMINGS[opts["naming"]]
    written = []
    for s in subjects:
        s = int(s)
        for split in [None, *([int(k) for k in SPLITS] if opts["splits"] else [])]:
            relpath = weights_candidates(card, s, split)[pick]
            weights = make_weights(seed, s, split, opts["n_components"], opts["dtype"])
            written.append(save_npy_dict(root, relpath, weights))
            del weights  # one model's weights in memory at a time
        written.append(save_npy_dict(root, metadata_relpath(card, s), make_metadata(seed, s)))
    if opts["backbone"]:
        written.append(write_synthetic_backbone(root, seed, card.backbone))
    return written
