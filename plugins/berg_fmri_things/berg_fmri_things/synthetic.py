"""A seeded THINGS-fMRI1 store in BERG 2.0's real file formats, for tests and demos.

The files are what BERG 2.0 publishes: ``np.save(..., allow_pickle=True)`` of a
dict of sklearn-style parameters and of the nested metadata dict. The 460,800
ViT-B/32 features and 211,339 voxels are fixed by the model; options:

``n_components`` (default 250)
    PCA size (a small one keeps test and demo stores small).
``dtype`` (default ``"float32"``)
    Of the PCA and regression arrays: sklearn fitted them on float32 features.
``rois`` (default all 29)
    The ROIs the metadata lists (BERG 2.0 writes only those a subject has).
``geometry`` (default False)
    Also write ``fmri/affine`` and ``fmri/volume_shape``, which BERG 2.0's files
    lack, so NIfTI export can be exercised (see ``specs/store_layout.md``).

ROIs are random voxel sets that overlap as real ones do: ``IT`` holds both FFAs
and more, ``lLOC``/``rLOC`` hold half of ``lEBA``/``rEBA``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from berg_core.plugin import (
    VIT_B_32_N_FEATURES,
    check_int,
    check_options,
    save_npy_dict,
    seeded_rng,
    select_names,
    sklearn_readout_weights,
)

from .layout import MODEL_ID, N_VOXELS, ROIS, STORE_PATH, metadata_relpath, subject_label, weights_relpath

__all__ = ["SYNTHETIC_OPTIONS", "VOLUME_SHAPE", "make_metadata", "make_weights", "write_synthetic_store"]

SYNTHETIC_OPTIONS: dict[str, Any] = {"n_components": 250, "dtype": "float32", "rois": None, "geometry": False}
#: The synthetic functional volume (2 mm voxels); 211,339 of its voxels carry responses.
VOLUME_SHAPE = (72, 88, 76)
N_TRAIN, N_TEST, N_TEST_AVG = 8640, 1200, 100
_OVERLAPS = {"IT": ("lFFA", "rFFA"), "lLOC": ("lEBA",), "rLOC": ("rEBA",)}


def make_weights(seed: int, subject: int, n_components: int = 250, dtype: str = "float32") -> dict[str, Any]:
    """The weights dict of one subject, keyed and typed as sklearn's fitted attributes."""
    return sklearn_readout_weights(seeded_rng(seed, MODEL_ID, subject), VIT_B_32_N_FEATURES, n_components,
                                   {"reg_param": N_VOXELS}, N_TRAIN, dtype)


def _rois(rng: np.random.Generator, names: Sequence[str]) -> dict[str, np.ndarray]:
    order = rng.permutation(N_VOXELS)
    rois: dict[str, np.ndarray] = {}
    start = 0
    for name in ROIS:
        n = int(rng.integers(150, 2500))
        own = order[start : start + n]
        start += n
        for part in _OVERLAPS.get(name, ()):  # a union of smaller ROIs plus voxels of its own
            own = np.concatenate([own, rois[part][: (None if name == "IT" else rois[part].size // 2)]])
        rois[name] = np.unique(own).astype(np.int64)
    return {name: rois[name] for name in ROIS if name in names}


def _stimuli(n: int, per_concept: int) -> tuple[np.ndarray, np.ndarray]:
    concept = np.arange(n) // per_concept
    return (np.array([f"concept{c:04d}_{i % per_concept + 1:02d}s.jpg" for i, c in enumerate(concept)]),
            np.array([f"concept{c:04d}" for c in concept]))


def make_metadata(seed: int, subject: int, rois: Sequence[str] = ROIS, geometry: bool = False) -> dict[str, Any]:
    """The metadata dict of one subject, nested as BERG 2.0's (``fmri``, ``encoding_model``, ``prf``, ``roi``)."""
    rng = seeded_rng(seed, MODEL_ID, "metadata", subject)
    flat = np.sort(rng.choice(int(np.prod(VOLUME_SHAPE)), N_VOXELS, replace=False))
    coords = np.stack(np.unravel_index(flat, VOLUME_SHAPE), axis=1).astype(np.int64)
    nc_single = rng.uniform(0.0, 60.0, N_VOXELS).astype(np.float32)
    # r below the ceiling, as fitted models are (percent_noise_ceiling stays within 0-100)
    r = (np.sqrt(nc_single / 100.0) * rng.uniform(-0.1, 0.9, N_VOXELS)).astype(np.float32)
    train_stim, train_concepts = _stimuli(N_TRAIN, 1)
    test_stim, test_concepts = _stimuli(N_TEST, 12)
    fmri: dict[str, Any] = {"voxel_coords": coords, "n_voxels": N_VOXELS, "subject_id": subject_label(subject)}
    if geometry:
        affine = np.diag([2.0, 2.0, 2.0, 1.0])
        affine[:3, 3] = [-1.0 * (n - 1) for n in VOLUME_SHAPE]  # the grid centred on the origin
        fmri.update(affine=affine, volume_shape=np.array(VOLUME_SHAPE))
    return {
        "fmri": fmri,
        "encoding_model": {
            "train_stimuli": train_stim, "train_concepts": train_concepts,
            "test_stimuli": test_stim, "test_concepts": test_concepts,
            "test_avg_stimuli": np.unique(test_stim)[:N_TEST_AVG], "test_avg_concepts": np.unique(test_concepts)[:N_TEST_AVG],
            "noise_ceiling_singletrial": nc_single,
            "noise_ceiling_testset": np.clip(nc_single * 3.0, 0.0, 100.0).astype(np.float32),
            "splithalf_corrected": rng.uniform(-0.1, 0.9, N_VOXELS).astype(np.float32),
            "splithalf_uncorrected": rng.uniform(-0.1, 0.8, N_VOXELS).astype(np.float32),
            "correlation_results": r,
            "percent_noise_ceiling": (np.clip(r, 0, None) ** 2 / np.maximum(nc_single / 100.0, 1e-3) * 100.0).astype(np.float32),
        },
        "prf": {
            "prf_eccentricity": rng.uniform(0.0, 10.0, N_VOXELS).astype(np.float32),
            "prf_polarangle": rng.uniform(0.0, 360.0, N_VOXELS).astype(np.float32),
            "prf_rsquared": rng.uniform(0.0, 1.0, N_VOXELS).astype(np.float32),
            "prf_size": rng.uniform(0.1, 5.0, N_VOXELS).astype(np.float32),
        },
        "roi": _rois(rng, rois),
    }  # fmt: skip


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    check_options(options, SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **options}
    opts["n_components"] = check_int(opts["n_components"], "n_components", low=1, high=1000, note=" (BERG 2.0 uses 250)")
    opts["rois"] = list(ROIS) if opts["rois"] is None else select_names(
        opts["rois"], list(ROIS), what="rois", owner=f"synthetic {MODEL_ID}", noun="ROI", repeats="merge")
    opts["geometry"] = bool(opts["geometry"])
    return opts


def write_synthetic_store(
    root: str | os.PathLike[str], subjects: Sequence[int], seed: int, options: Mapping[str, Any] | None = None,
    store_path: str = STORE_PATH,
) -> list[str]:
    """Write seeded weights and metadata of ``subjects`` under ``root``; returns the paths written.

    Parameters
    ----------
    root
        Local store folder (created if needed).
    subjects
        Subjects to write (core checked them against the card).
    seed
        The same seed writes the same files.
    options
        See the module docstring.
    store_path
        The model's folder in the store (the card's ``store_path``).
    """
    opts = _check_options(dict(options or {}))
    written = []
    for s in subjects:
        weights = make_weights(seed, int(s), opts["n_components"], opts["dtype"])
        written.append(save_npy_dict(root, weights_relpath(int(s), store_path), weights))
        del weights  # one subject's weights in memory at a time
        meta = make_metadata(seed, int(s), opts["rois"], opts["geometry"])
        written.append(save_npy_dict(root, metadata_relpath(int(s), store_path), meta))
    return written
