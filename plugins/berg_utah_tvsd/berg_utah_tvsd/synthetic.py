"""A seeded TVSD store in BERG 2.0's real file formats, for tests and demos.

The files are what BERG 2.0 publishes: ``np.save(..., allow_pickle=True)`` of a
dict of sklearn-style parameters and of the nested metadata dict, named as the
newest trainer writes them (``weights_monkeyN_all_training_splits.npy``,
``..._single_training_split_{k}.npy``) and the metadata as the model code reads
it (``metadata_monkeyN.npy``). The 460,800 features, 1,024 electrodes and 300
times are fixed; options:

``n_components`` (default 250)
    PCA size.
``dtype`` (default ``"float32"``)
    Of the PCA and regression arrays (sklearn fitted them on float32 features).
``train_splits`` (default ``["all"]``)
    Which models to write: ``"all"`` and/or ``"single"`` (the four split models).

ROIs follow the prep code's electrode blocks: monkey N 0-511 V1, 512-767 V4,
768-1023 IT; monkey F 0-511 V1, 512-831 IT, 832-1023 V4. Times are TVSD's
``tb`` in milliseconds (-100 ... 199).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from berg_core.plugin import (
    VIT_B_32_N_FEATURES,
    InvalidParameterError,
    check_int,
    check_options,
    save_npy_dict,
    seeded_rng,
    sklearn_readout_weights,
)

from .layout import (
    MODEL_ID,
    N_ELECTRODES,
    N_SPLITS,
    N_TIMES,
    ROIS,
    SPLITS,
    STORE_PATH,
    metadata_candidates,
    monkey,
    weights_candidates,
)
from .metadata import split_key

__all__ = ["ROI_BLOCKS", "SYNTHETIC_OPTIONS", "make_metadata", "make_weights", "write_synthetic_store"]

SYNTHETIC_OPTIONS: dict[str, Any] = {"n_components": 250, "dtype": "float32", "train_splits": ["all"]}
#: Electrodes per ROI, in array order (prep utils).
ROI_BLOCKS = {"N": (("V1", 512), ("V4", 256), ("IT", 256)), "F": (("V1", 512), ("IT", 320), ("V4", 192))}
N_TRAIN, N_TEST = 22248, 3000


def make_weights(seed: int, subject: str, split: int | None, n_components: int = 250, dtype: str = "float32") -> dict[str, Any]:
    """The weights dict of one monkey's model (``split=None``: all training splits)."""
    n = N_TRAIN if split is None else N_TRAIN // N_SPLITS
    return sklearn_readout_weights(seeded_rng(seed, MODEL_ID, subject, split_key(split)), VIT_B_32_N_FEATURES,
                                   n_components, {"reg_param": N_ELECTRODES * N_TIMES}, n, dtype)


def _trials(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    ids = rng.integers(0, 22248, n)
    return {"img_ids": ids, "stimuli": np.array([f"img_{i:05d}.jpg" for i in ids]),
            "concepts": np.array([f"concept{i // 12:04d}" for i in ids]), "days": rng.integers(0, 40, n),
            "sequence_pos": rng.integers(0, 4, n)}


def _accuracy(rng: np.random.Generator, nc: np.ndarray) -> dict[str, np.ndarray]:
    r = (np.sqrt(nc / 100.0) * rng.uniform(-0.1, 0.9, nc.shape)).astype(np.float32)  # below the ceiling
    return {"correlation_results": r,
            "percent_noise_ceiling": (np.clip(r, 0, None) ** 2 / np.maximum(nc / 100.0, 1e-3) * 100.0).astype(np.float32)}


def make_metadata(seed: int, subject: str) -> dict[str, Any]:
    """The metadata dict of one monkey, nested as BERG 2.0's (``utah_array``, ``roi``, ``encoding_model``)."""
    rng = seeded_rng(seed, MODEL_ID, "metadata", subject)
    blocks = ROI_BLOCKS.get(subject, ROI_BLOCKS["N"])
    assignments = np.concatenate([np.full(n, ROIS.index(name)) for name, n in blocks]).astype(np.int64)
    ncsnr = rng.uniform(0.0, 2.0, (N_ELECTRODES, N_TIMES)).astype(np.float32)
    nc = (100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / 30.0)).astype(np.float32)
    enc: dict[str, Any] = {
        split_key(None): {**{f"train_{k}": v for k, v in _trials(rng, N_TRAIN).items()}, **_accuracy(rng, nc)},
        **{split_key(k): {**{f"train_{k2}": v for k2, v in _trials(rng, N_TRAIN // N_SPLITS).items()}, **_accuracy(rng, nc)}
           for k in SPLITS},
        **{f"test_{k}": v for k, v in _trials(rng, N_TEST).items()},
        "SNR": rng.uniform(0.0, 20.0, (N_SPLITS, N_ELECTRODES)).astype(np.float32),
        "SNR_max": rng.uniform(0.0, 20.0, N_ELECTRODES).astype(np.float32),
        "ncsnr": ncsnr,
        "noise_ceiling": nc,
    }
    return {
        "utah_array": {"times": np.arange(-100, 200, dtype=np.float64), "monkey_id": monkey(subject),
                       "n_electrodes": N_ELECTRODES, "electrode_order": rng.permutation(N_ELECTRODES).astype(np.int64)},
        "roi": {"roi_assignments": assignments, "roi_labels": np.array(ROIS)},
        "encoding_model": enc,
    }


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    check_options(options, SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **options}
    opts["n_components"] = check_int(opts["n_components"], "n_components", low=1, high=1000, note=" (BERG 2.0 uses 250)")
    splits = [opts["train_splits"]] if isinstance(opts["train_splits"], str) else list(opts["train_splits"])
    if not splits or any(s not in ("all", "single") for s in splits):
        raise InvalidParameterError(f"train_splits must name 'all' and/or 'single', got {opts['train_splits']!r}")
    opts["train_splits"] = splits
    return opts


def write_synthetic_store(
    root: str | os.PathLike[str], subjects: Sequence[str], seed: int, options: Mapping[str, Any] | None = None,
    store_path: str = STORE_PATH,
) -> list[str]:
    """Write seeded weights and metadata of ``subjects`` (``"N"``, ``"F"``) under ``root``; returns the paths written."""
    opts = _check_options(dict(options or {}))
    written = []
    for s in map(str, subjects):
        splits: list[int | None] = ([None] if "all" in opts["train_splits"] else []) + (
            list(SPLITS) if "single" in opts["train_splits"] else [])
        for split in splits:
            weights = make_weights(seed, s, split, opts["n_components"], opts["dtype"])
            written.append(save_npy_dict(root, weights_candidates(s, split, store_path)[0], weights))
            del weights  # one model's weights in memory at a time
        written.append(save_npy_dict(root, metadata_candidates(s, store_path)[0], make_metadata(seed, s)))
    return written
