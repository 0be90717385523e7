"""A seeded THINGS EEG2 store in BERG 2.0's real file formats, for tests and demos.

The files are what BERG 2.0 publishes: ``np.save(..., allow_pickle=True)`` of a
dict of sklearn-style parameters (float64 arrays, NumPy and Python scalars) and
of the nested metadata dict. Only the number of PCA components can be reduced
(``n_components``); the backbone's features (460,800 for ViT-B/32, 205,672 for
AlexNet), 63 channels, 140 times and 4 repetitions are fixed by the model.

The AlexNet models' files have the newest trainers' layout: one PCA per
repetition (``pca_param/rep-1`` ... ``rep-4``, stored as dicts of the fitted
attributes) and one shared scaler.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import (
    ALEXNET_N_FEATURES,
    VIT_B_32_N_FEATURES,
    check_int,
    check_options,
    save_npy_dict,
    seeded_rng,
    sklearn_readout_weights,
    write_synthetic_backbone,
)

from .layout import (
    ALEXNET_MODEL_IDS,
    CHANNEL_NAMES,
    MODEL_ID,
    N_CHANNELS,
    N_REPETITIONS,
    N_TIMES,
    metadata_relpath,
    reference_times,
    weights_relpath,
)

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = ["SYNTHETIC_OPTIONS", "make_metadata", "make_weights", "write_synthetic_store"]

#: Options of :func:`write_synthetic_store` and their defaults.
SYNTHETIC_OPTIONS: dict[str, Any] = {"n_components": 250, "dtype": "float64", "backbone": False}
N_TRAIN_IMAGES, N_TEST_IMAGES = 16540, 200


def make_weights(
    seed: int, subject: int, n_components: int = 250, dtype: str = "float64", model_id: str = MODEL_ID
) -> dict[str, Any]:
    """The weights dict of one subject, keyed and typed as sklearn's fitted attributes.

    For the AlexNet models, ``pca_param`` holds one PCA per repetition (``rep-1`` ... ``rep-4``).
    """
    regressions = dict.fromkeys((f"reg_param/rep-{r}" for r in range(1, N_REPETITIONS + 1)), N_CHANNELS * N_TIMES)
    if model_id not in ALEXNET_MODEL_IDS:
        return sklearn_readout_weights(
            seeded_rng(seed, model_id, subject), VIT_B_32_N_FEATURES, n_components, regressions, N_TRAIN_IMAGES, dtype
        )
    weights = sklearn_readout_weights(
        seeded_rng(seed, model_id, subject), ALEXNET_N_FEATURES, n_components, regressions, N_TRAIN_IMAGES, dtype
    )
    pcas = {"rep-1": weights["pca_param"]}
    for r in range(2, N_REPETITIONS + 1):
        # each repetition's PCA from its own stream (the scaler is the one all PCAs were fit after)
        extra = sklearn_readout_weights(
            seeded_rng(seed, model_id, subject, "pca", r), ALEXNET_N_FEATURES, n_components, {}, N_TRAIN_IMAGES, dtype
        )
        pcas[f"rep-{r}"] = extra["pca_param"]
    weights["pca_param"] = pcas
    return weights


def make_metadata(seed: int, subject: int, model_id: str = MODEL_ID) -> dict[str, Any]:
    """The metadata dict of one subject, nested as BERG 2.0's (``eeg``, ``encoding_models``)."""
    rng = seeded_rng(seed, model_id, "metadata", subject)
    avg = np.clip(rng.normal(0.3, 0.2, (N_CHANNELS, N_TIMES)), -1.0, 1.0)
    single = np.clip(avg[None] - np.abs(rng.normal(0.1, 0.05, (N_REPETITIONS, N_CHANNELS, N_TIMES))), -1.0, 1.0)

    def img_info(prefix: str, n: int, per_concept: int) -> dict[str, np.ndarray]:
        concept = np.arange(n) // per_concept + 1
        return {
            f"{prefix}_img_concepts": np.array([f"{c:05d}_concept{c}" for c in concept]),
            f"{prefix}_img_concepts_THINGS": np.array([f"concept{c}" for c in concept]),
            f"{prefix}_img_files": np.array(
                [f"concept{c}_{i % per_concept + 1:02d}s.jpg" for i, c in enumerate(concept)]
            ),
        }

    return {
        "eeg": {"ch_names": list(CHANNEL_NAMES), "times": reference_times()},
        "encoding_models": {
            "correlation_averaged_repetitions": avg,
            "correlation_single_repetitions": single,
            "train_img_info": img_info("train", N_TRAIN_IMAGES, 10),
            "test_img_info": img_info("test", N_TEST_IMAGES, 1),
        },
    }


def _check_options(options: dict[str, Any], model_id: str = MODEL_ID) -> dict[str, Any]:
    check_options(options, SYNTHETIC_OPTIONS, model_id, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **options}
    opts["n_components"] = check_int(opts["n_components"], "n_components", low=1, high=1000, note=" (BERG 2.0 uses 250)")
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
        ``n_components`` (default 250), ``dtype`` (``"float64"``, sklearn's default, or ``"float32"``),
        ``backbone`` (also write seeded weights of the card's backbone to ``backbones/``; default
        False; the untrained AlexNet has none: it is built from its seed).
    """
    opts = _check_options(dict(options or {}), card.id)  # core checked the subjects against the card
    written = []
    for s in subjects:
        weights = make_weights(seed, s, opts["n_components"], opts["dtype"], card.id)
        written.append(save_npy_dict(root, weights_relpath(card, s), weights))
        del weights  # one subject's weights in memory at a time
        written.append(save_npy_dict(root, metadata_relpath(card, s), make_metadata(seed, s, card.id)))
    if opts["backbone"] and card.backbone != "alexnet_untrained":
        written.append(write_synthetic_backbone(root, seed, card.backbone))
    return written
