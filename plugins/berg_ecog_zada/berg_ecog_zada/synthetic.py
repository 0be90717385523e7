"""A seeded Zada store in BERG 2.0's real formats, for tests and ``berg demo``.

The weights are ``np.save`` of the trainer's dict (``scaler_X_param``, ``scaler_Y_param``, ``ridge_param`` with
himalaya's ``(n_features, n_targets)`` float32 ``coef_``, ``shape``); the metadata that of the prep script
(``ecog`` with channel names, MNI positions and epoch times; ``encoding_model`` with correlations). The read-out
is as wide as the GPT-2 XL copy the synthetic store carries (``n_features``); ``n_electrodes`` may be reduced.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import backbone_spec, check_int, check_options, save_npy_dict, seeded_rng

from .layout import ELECTRODE_COUNTS, MODEL_ID, N_LAGS, SFREQ, TMIN, metadata_relpath, reference_lags, weights_relpath

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = ["SYNTHETIC_OPTIONS", "make_metadata", "make_weights", "write_synthetic_store"]

#: Options of :func:`write_synthetic_store` (None: the real electrode count / the synthetic backbone's width).
SYNTHETIC_OPTIONS: dict[str, Any] = {"n_features": None, "n_electrodes": None}
N_WORDS = 5130  # words of the podcast the scalers report having seen


def _scaler(mean: np.ndarray, scale: np.ndarray) -> dict[str, Any]:
    return {"scale_": scale, "mean_": mean, "var_": scale**2, "n_features_in_": int(mean.size), "n_samples_seen_": N_WORDS}


def make_weights(seed: int, subject: str, n_features: int, n_electrodes: int) -> dict[str, Any]:
    """One subject's weights dict as the trainer saves it."""
    rng = seeded_rng(seed, MODEL_ID, "weights", subject)
    n_targets = n_electrodes * N_LAGS
    coef = rng.standard_normal((n_features, n_targets), dtype=np.float32)
    coef *= np.float32(0.5 / np.sqrt(n_features))
    return {
        "scaler_X_param": _scaler(rng.normal(0.0, 1.0, n_features), rng.uniform(0.5, 3.0, n_features)),
        "scaler_Y_param": _scaler(rng.normal(0.0, 0.2, n_targets), rng.uniform(0.5, 1.5, n_targets)),
        "ridge_param": {
            "coef_": coef,
            "intercept_": rng.normal(0.0, 0.05, n_targets).astype(np.float32),
            "best_alphas_": (10.0 ** rng.integers(1, 11, n_targets)).astype(np.float32),
            "n_features_in_": int(n_features),
        },
        "shape": {"n_electrodes": int(n_electrodes), "n_lags": N_LAGS},
    }


def make_metadata(seed: int, subject: str, n_electrodes: int) -> dict[str, Any]:
    """One subject's metadata dict (``ecog``, ``encoding_model``)."""
    rng = seeded_rng(seed, MODEL_ID, "metadata", subject)
    grid = [f"LGA{i}" for i in range(1, 65)] + [f"LDA{i}" for i in range(1, 9)] + [f"RTA{i}" for i in range(1, 300)]
    coords = np.column_stack([rng.uniform(-0.07, 0.07, n_electrodes), rng.uniform(-0.1, 0.06, n_electrodes),
                              rng.uniform(-0.04, 0.07, n_electrodes)])
    return {
        "ecog": {
            "subject_id": f"sub-{subject}",
            "n_electrodes": int(n_electrodes),
            "n_lags": N_LAGS,
            "sfreq": SFREQ,
            "tmin": TMIN,
            "tmax": -TMIN,
            "times": reference_lags(),
            "ch_names": np.array(grid[:n_electrodes]),
            "ch_coords": coords,
        },
        "encoding_model": {
            "correlation_results": np.clip(rng.normal(0.05, 0.05, (n_electrodes, N_LAGS)), -1, 1),
            "epoch_selection": np.arange(N_WORDS),
        },
    }


def write_synthetic_store(card: ModelCard, root: str | os.PathLike[str], subjects: list[str], seed: int,
                          options: dict[str, Any] | None = None) -> list[str]:
    """Write seeded weights and metadata of ``subjects`` under ``root``; returns the paths written.

    Options: ``n_features`` (default the width of the synthetic GPT-2 XL copy; 1600 is the real one) and
    ``n_electrodes`` (default each subject's real count).
    """
    check_options(dict(options or {}), SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **(options or {})}
    n_features = opts["n_features"]
    if n_features is None:
        n_features = backbone_spec(card.backbone or "gpt2_xl").synthetic_n_features
    n_features = check_int(n_features, "n_features", low=1, high=100_000, note=" (GPT-2 XL's width is 1600)")
    written = []
    for s in subjects:
        s = str(s)
        n_el = ELECTRODE_COUNTS[s] if opts["n_electrodes"] is None else check_int(opts["n_electrodes"], "n_electrodes", low=1,
                                                                                 high=ELECTRODE_COUNTS[s])
        written.append(save_npy_dict(root, weights_relpath(s), make_weights(seed, s, n_features, n_el)))
        written.append(save_npy_dict(root, metadata_relpath(s), make_metadata(seed, s, n_el)))
    return written
