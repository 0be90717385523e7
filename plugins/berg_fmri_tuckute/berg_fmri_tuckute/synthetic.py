"""A seeded Tuckute store in BERG 2.0's real formats, for tests and ``berg demo``.

The weights are what the published file is: ``pickle.dump`` of ``{'clf': RidgeCV, 'X_scaler': None,
'y_scaler': None, 'neuroid_order': [...]}``, the RidgeCV written with the opcodes sklearn's own pickles
hold (sklearn, where installed, unpickles it into a working ``RidgeCV``) and the attributes a fitted one
has. The metadata is ``np.save`` of the prep script's dict. The read-out is as wide as the GPT-2 XL
copy the synthetic store carries (``n_features``; default the backbone's ``synthetic_n_features``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import (
    SklearnEstimator,
    backbone_spec,
    check_int,
    check_options,
    dump_sklearn_pickle,
    save_npy_dict,
    seeded_rng,
    write_atomically,
)

from .layout import LAYER, METADATA_RELPATH, MODEL_ID, ROI_NAMES, WEIGHTS_RELPATH

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = ["SYNTHETIC_OPTIONS", "make_metadata", "make_weights", "write_synthetic_store"]

#: Options of :func:`write_synthetic_store` (``n_features`` None: the synthetic backbone's width).
SYNTHETIC_OPTIONS: dict[str, Any] = {"n_features": None}
#: the published noise ceilings (prep script), in ROI_NAMES order
NOISE_CEILING = np.array([0.457712231, 0.452484144, 0.452201886, 0.515445403, 0.57890406, 0.559154577])
NOISE_CEILING_SNR = np.array([0.230227243, 0.226915578, 0.22673763, 0.269002404, 0.31750692, 0.3016193])
_WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "in", "mat", "park", "quietly", "green", "old", "house",
          "river", "sings", "after", "rain", "every", "night")


def _sentences(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([" ".join(rng.choice(_WORDS, 6)).capitalize() + "." for _ in range(n)])


def make_weights(seed: int, n_features: int) -> dict[str, Any]:
    """The pickled mapping's dict, with a RidgeCV holding a fitted one's attributes (sklearn 1.x names)."""
    rng = seeded_rng(seed, MODEL_ID, "weights")
    n = len(ROI_NAMES)
    ridge = SklearnEstimator("sklearn.linear_model._ridge", "RidgeCV", {
        "alphas": [10**x for x in range(-30, 30)],  # as Tuckute's fit: ints above 1, floats below
        "fit_intercept": True,
        "scoring": None,
        "cv": None,
        "gcv_mode": None,
        "store_cv_results": False,
        "alpha_per_target": True,
        "n_features_in_": int(n_features),
        "alpha_": 10.0 ** rng.integers(-2, 6, n).astype(np.float64),
        "best_score_": -np.abs(rng.normal(1.0, 0.1, n)),
        # small: GPT-2 hidden states run to tens or hundreds per unit, z-scored responses stay near 1
        "coef_": rng.normal(0.0, 0.1 / np.sqrt(n_features), (n, n_features)),
        "intercept_": rng.normal(0.0, 0.1, n),
        "_sklearn_version": "1.2.2",
    })
    return {"clf": ridge, "X_scaler": None, "y_scaler": None, "neuroid_order": list(ROI_NAMES)}


def make_metadata(seed: int) -> dict[str, Any]:
    """The metadata dict of the prep script (ROIs, noise ceilings, layer, the stimulus sets)."""
    rng = seeded_rng(seed, MODEL_ID, "metadata")
    return {
        "rois": list(ROI_NAMES),
        "noise_ceiling": NOISE_CEILING.copy(),
        "noise_ceiling_snr": NOISE_CEILING_SNR.copy(),
        "optimal_layer": LAYER,
        "train_stimulus_ids": np.array([f"beta-control-neural-T.{i}" for i in range(1, 1001)]),
        "train_sentences": _sentences(rng, 1000),
        "train_targets": rng.normal(0.0, 0.5, 1000),
        "drive_stimulus_ids": np.array([f"beta-control-neural-D.{i}" for i in range(1, 251)]),
        "drive_sentences": _sentences(rng, 250),
        "suppress_stimulus_ids": np.array([f"beta-control-neural-S.{i}" for i in range(1, 251)]),
        "suppress_sentences": _sentences(rng, 250),
    }


def write_synthetic_store(card: ModelCard, root: str | os.PathLike[str], seed: int, options: dict[str, Any] | None = None) -> list[str]:
    """Write the seeded weights pickle and metadata under ``root``; returns the paths written.

    Options: ``n_features`` (the read-out's width; default the width of the synthetic GPT-2 XL
    copy core writes beside it, so ``berg demo`` runs; 1600 is the real width).
    """
    check_options(dict(options or {}), SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **(options or {})}
    n_features = opts["n_features"]
    if n_features is None:
        n_features = backbone_spec(card.backbone or "gpt2_xl").synthetic_n_features
    n_features = check_int(n_features, "n_features", low=1, high=100_000, note=" (GPT-2 XL's width is 1600)")
    weights = make_weights(seed, n_features)
    written = [write_atomically(root, WEIGHTS_RELPATH, lambda fh: dump_sklearn_pickle(weights, fh))]
    written.append(save_npy_dict(root, METADATA_RELPATH, make_metadata(seed)))
    return written
