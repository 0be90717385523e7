"""A seeded LeBel 2023 store in BERG 2.0's real formats, for tests and ``berg demo``.

The weights are ``np.save`` of the trainer's dict (``ridge_weights`` ``(4 * width, n_voxels)`` float32,
features x voxels, ``ridge_alphas``, ``model_name``, ``layer``, ``hidden_dim``, ``ndelays``, the trims and the
context sizes); the metadata that of the test script (``fmri``, ``roi`` boolean masks of the ROIs with voxels,
``encoding_model``). The ridge is as wide as the OPT-1.3B copy the synthetic store carries (``n_features``).
``geometry=True`` adds a volume (``fmri/mask`` in pycortex's (z, y, x) order and ``fmri/affine``), which
BERG 2.0's files do not have, so NIfTI export can be tried.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import backbone_spec, check_int, check_options, save_npy_dict, seeded_rng

from .layout import (
    CONTEXT_MAX_WORDS,
    CONTEXT_MIN_WORDS,
    DELAYS,
    LAYER,
    MODEL_ID,
    ROIS,
    TR,
    VOXEL_COUNTS,
    metadata_relpath,
    weights_relpath,
)

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = ["SYNTHETIC_OPTIONS", "make_metadata", "make_weights", "write_synthetic_store"]

#: Options of :func:`write_synthetic_store` (None: the synthetic backbone's width).
SYNTHETIC_OPTIONS: dict[str, Any] = {"n_features": None, "n_voxels": 1000, "geometry": False}
#: ROIs every synthetic subject has (the conformance kit selects the card's first two)
ALWAYS = ROIS[:2]
TRAIN_STORIES = ("alternateithicatom", "souls", "avatar", "legacy", "odetostepfather", "undertheinfluence")


def make_weights(seed: int, subject: str, n_features: int, n_voxels: int) -> dict[str, Any]:
    """One subject's weights dict as the trainer saves it."""
    rng = seeded_rng(seed, MODEL_ID, "weights", subject)
    w = rng.standard_normal((len(DELAYS) * n_features, n_voxels), dtype=np.float32)
    w *= np.float32(1.0 / np.sqrt(len(DELAYS) * n_features))
    return {
        "ridge_weights": w,
        "ridge_alphas": np.logspace(1, 4, 15)[rng.integers(0, 15, n_voxels)],
        "model_name": "facebook/opt-1.3b",
        "layer": LAYER,
        "hidden_dim": int(n_features),
        "ndelays": len(DELAYS),
        "trim_train": 10,
        "trim_test": 50,
        "trim_end": 5,
        "context_min_words": CONTEXT_MIN_WORDS,
        "context_max_words": CONTEXT_MAX_WORDS,
    }


def _volume(rng: np.random.Generator, n_voxels: int) -> tuple[np.ndarray, np.ndarray]:
    side = int(np.ceil((2.0 * n_voxels) ** (1 / 3))) + 1
    shape = (side, side + 1, side + 2)  # (z, y, x): unequal sides catch a transposed volume
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[rng.choice(mask.size, n_voxels, replace=False)] = True
    affine = np.array([[2.6, 0, 0, -40.0], [0, 2.6, 0, -60.0], [0, 0, 2.6, -20.0], [0, 0, 0, 1]])
    return mask.reshape(shape), affine


def make_metadata(seed: int, subject: str, n_voxels: int, geometry: bool = False) -> dict[str, Any]:
    """One subject's metadata dict (``fmri``, ``roi``, ``encoding_model``)."""
    rng = seeded_rng(seed, MODEL_ID, "metadata", subject)
    dropped = set(rng.choice(len(ROIS) - len(ALWAYS), 3, replace=False) + len(ALWAYS))  # ROIs without voxels
    rois = {}
    for i, name in enumerate(ROIS):
        if i in dropped:
            continue
        size = max(1, int(n_voxels * rng.uniform(0.01, 0.06)))
        mask = np.zeros(n_voxels, dtype=bool)
        mask[rng.choice(n_voxels, size, replace=False)] = True
        rois[name] = mask
    nc = np.maximum(0.25, rng.uniform(0.0, 0.9, n_voxels))
    corr = np.clip(rng.normal(0.08, 0.1, n_voxels), -1, 1).astype(np.float32)
    fmri: dict[str, Any] = {"subject_id": subject, "n_voxels": int(n_voxels), "tr": TR, "voxel_size_mm": 2.6}
    if geometry:
        fmri["mask"], fmri["affine"] = _volume(rng, n_voxels)
    return {
        "fmri": fmri,
        "roi": rois,
        "encoding_model": {
            "train_stories": np.array(TRAIN_STORIES),
            "test_stories": np.array(["wheretheressmoke"]),
            "noise_ceiling": nc,
            "correlation": corr,
            "cc_norm": np.nan_to_num(corr / nc).astype(np.float32),
        },
    }


def write_synthetic_store(card: ModelCard, root: str | os.PathLike[str], subjects: list[str], seed: int,
                          options: dict[str, Any] | None = None) -> list[str]:
    """Write seeded weights and metadata of ``subjects`` under ``root``; returns the paths written.

    Options: ``n_features`` (default the width of the synthetic OPT-1.3B copy; 2048 is the real one),
    ``n_voxels`` (default 1000; the real counts are 81,126 to 109,469) and ``geometry`` (default False, as
    BERG 2.0's metadata).
    """
    check_options(dict(options or {}), SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **(options or {})}
    n_features = opts["n_features"]
    if n_features is None:
        n_features = backbone_spec(card.backbone or "opt_1_3b").synthetic_n_features
    n_features = check_int(n_features, "n_features", low=1, high=100_000, note=" (OPT-1.3B's width is 2048)")
    written = []
    for s in subjects:
        s = str(s)
        n_vox = check_int(opts["n_voxels"], "n_voxels", low=1, high=VOXEL_COUNTS.get(s, 200_000))
        written.append(save_npy_dict(root, weights_relpath(s), make_weights(seed, s, n_features, n_vox)))
        written.append(save_npy_dict(root, metadata_relpath(s), make_metadata(seed, s, n_vox, bool(opts["geometry"]))))
    return written
