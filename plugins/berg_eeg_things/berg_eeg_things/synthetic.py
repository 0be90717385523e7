"""A seeded THINGS EEG2 store in BERG 2.0's real file formats, for tests and demos.

The files are what BERG 2.0 publishes: ``np.save(..., allow_pickle=True)`` of a
dict of sklearn-style parameters (float64 arrays, NumPy and Python scalars) and
of the nested metadata dict. Only the number of PCA components can be reduced
(``n_components``); the 460,800 ViT-B/32 features, 63 channels, 140 times and
4 repetitions are fixed by the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import VIT_B_32_N_FEATURES, VIT_B_32_STORE_PATH, InvalidParameterError

from .layout import (
    CHANNEL_NAMES,
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


def _rng(seed: int, subject: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, subject, part])


def make_weights(seed: int, subject: int, n_components: int = 250, dtype: str = "float64") -> dict[str, Any]:
    """The weights dict of one subject, keyed and typed as sklearn's fitted attributes."""
    n_feat, n_out = VIT_B_32_N_FEATURES, N_CHANNELS * N_TIMES
    rng = _rng(seed, subject, 0)
    var = rng.uniform(0.25, 4.0, n_feat).astype(dtype)
    scaler = {
        "mean_": rng.normal(0.0, 0.5, n_feat).astype(dtype),
        "scale_": np.sqrt(var),
        "var_": var,
        "n_features_in_": n_feat,
        "n_samples_seen_": np.int64(N_TRAIN_IMAGES),
    }
    # filled row by row: a float64 temporary of the whole matrix would double the peak
    components = np.empty((n_components, n_feat), dtype=dtype)
    for i in range(n_components):
        components[i] = rng.standard_normal(n_feat) / np.sqrt(n_feat)
    explained = np.sort(rng.uniform(0.5, 50.0, n_components))[::-1].astype(dtype)
    pca = {
        "components_": components,
        "mean_": rng.normal(0.0, 0.05, n_feat).astype(dtype),
        "explained_variance_": explained,
        "explained_variance_ratio_": explained / (explained.sum() * 2.0),
        "singular_values_": np.sqrt(explained * (N_TRAIN_IMAGES - 1)),
        "n_components_": n_components,
        "n_samples_": N_TRAIN_IMAGES,
        "noise_variance_": np.float64(0.01),
        "n_features_in_": n_feat,
    }
    reg = {}
    for r in range(1, N_REPETITIONS + 1):
        rr = _rng(seed, subject, r)
        reg[f"rep-{r}"] = {
            "coef_": (rr.standard_normal((n_out, n_components)) * 0.3).astype(dtype),
            "intercept_": rr.normal(0.0, 0.5, n_out).astype(dtype),
            "n_features_in_": n_components,
        }
    return {"scaler_param": scaler, "pca_param": pca, "reg_param": reg}


def make_metadata(seed: int, subject: int) -> dict[str, Any]:
    """The metadata dict of one subject, nested as BERG 2.0's (``eeg``, ``encoding_models``)."""
    rng = _rng(seed, subject, 100)
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


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(SYNTHETIC_OPTIONS))
    if unknown:
        raise InvalidParameterError(f"unknown synthetic-store option(s) {unknown}; accepted: {SYNTHETIC_OPTIONS}")
    opts = {**SYNTHETIC_OPTIONS, **options}
    k = opts["n_components"]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1000:
        raise InvalidParameterError(f"n_components must be an integer from 1 to 1000 (BERG 2.0 uses 250), got {k!r}")
    if opts["dtype"] not in ("float64", "float32"):
        raise InvalidParameterError(f"dtype must be 'float64' (sklearn's default) or 'float32', got {opts['dtype']!r}")
    return opts


def _save(root: Path, relpath: str, obj: dict[str, Any]) -> str:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    # exactly how BERG 2.0 wrote its files: a pickled 0-d object array holding the dict
    np.save(path, obj, allow_pickle=True)  # type: ignore[arg-type]  # NumPy wraps the dict in a 0-d object array
    return relpath


def _write_backbone(root: Path, seed: int) -> str:
    import torch
    from torchvision.models import vit_b_32

    path = root / VIT_B_32_STORE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(vit_b_32(weights=None).state_dict(), path)
    return VIT_B_32_STORE_PATH


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
        Subjects to write; each must be one of the card's.
    seed
        The same seed writes the same files.
    options
        ``n_components`` (default 250), ``dtype`` (``"float64"``, sklearn's default, or ``"float32"``),
        ``backbone`` (also write seeded ViT-B/32 weights to ``backbones/``; default False).
    """
    opts = _check_options(dict(options or {}))
    bad = [s for s in subjects if s not in card.subjects]
    if bad or not subjects:
        raise InvalidParameterError(
            f"subjects {bad or subjects} are not available for {card.id}; valid subjects: {card.subjects}"
        )
    out = Path(root)
    written = []
    for s in subjects:
        written.append(_save(out, weights_relpath(card, s), make_weights(seed, s, opts["n_components"], opts["dtype"])))
        written.append(_save(out, metadata_relpath(card, s), make_metadata(seed, s)))
    if opts["backbone"]:
        written.append(_write_backbone(out, seed))
    return written
