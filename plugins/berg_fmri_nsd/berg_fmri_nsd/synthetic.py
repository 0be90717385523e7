"""Seeded synthetic stores of both NSD models, in BERG 2.0's real file formats.

Used by tests, benchmarks and ``berg demo``. Files are exactly what the public
store holds, with random numbers: pickled ``.npy`` dicts written with
``np.save(allow_pickle=True)`` and ``torch.save`` checkpoints that carry an
``argparse.Namespace`` and training histories next to the weights. The same
seed always gives the same files.

fsaverage options (ViT-B/32 and AlexNet models)
    ``n_components`` (default 250): PCA size; the 163,842 vertices per
    hemisphere and the backbone's features (460,800 ViT-B/32, 205,672 AlexNet)
    are fixed by the format.
fwRF options
    ``rois`` (default all 23), ``volume_shape`` (default subject 1's
    81 x 104 x 83), ``n_voxels`` (an int for every ROI, or ``{roi: int}``;
    default subject 1's real counts, e.g. V1: 1,350).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.plugin import (
    ALEXNET_N_FEATURES,
    VIT_B_32_N_FEATURES,
    InvalidParameterError,
    check_int,
    save_npy_dict,
    seeded_rng,
    sklearn_readout_weights,
    write_atomically,
)

from .layout import (
    FSAVERAGE_ALEXNET_MODEL_IDS,
    FSAVERAGE_MODEL_ID,
    FSAVERAGE_MODEL_IDS,
    FSAVERAGE_ROIS,
    FWRF_ROIS,
    FWRF_SPLIT_ROIS,
    HEMISPHERES,
    N_VERTICES,
    fsaverage_metadata_path,
    fsaverage_weights_path,
    fwrf_metadata_path,
    fwrf_weight_paths,
)
from .params import check_options, roi_names

__all__ = [
    "FSAVERAGE_OPTIONS",
    "FWRF_OPTIONS",
    "SUBJECT1_FWRF_VOXELS",
    "fwrf_roi_masks",
    "write_fsaverage_store",
    "write_fwrf_store",
]

FSAVERAGE_OPTIONS = ("n_components",)
FWRF_OPTIONS = ("rois", "volume_shape", "n_voxels")

#: Voxels per fwRF ROI of NSD subject 1 (BERG 2.0's documentation).
SUBJECT1_FWRF_VOXELS = {
    "V1": 1350, "V2": 1433, "V3": 1187, "hV4": 687, "EBA": 2971, "FBA-2": 430, "OFA": 355, "FFA-1": 484,
    "FFA-2": 310, "PPA": 1033, "RSC": 566, "OPA": 1611, "OWFA": 464, "VWFA-1": 773, "VWFA-2": 505,
    "mfs-words": 165, "early": 5917, "midventral": 986, "midlateral": 834, "midparietal": 950,
    "parietal": 3548, "lateral": 7799, "ventral": 7604,
}
SUBJECT1_VOLUME = (81, 104, 83)
_EARLY_PARTS = ("V1", "V2", "V3")
_IMAGES = {"train_img_num": 8859, "val_img_num": 300, "test_img_num": 1000}


# ---- fsaverage ViT-B/32 ---------------------------------------------------------------------
def _fsaverage_rois(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint random vertex sets per ROI; ``early`` is the union of the V1-V3 parts."""
    order = rng.permutation(N_VERTICES)
    rois, start = {}, 0
    for name in FSAVERAGE_ROIS:
        if name == "early":
            continue
        n = int(rng.integers(200, 2500))
        rois[name] = np.sort(order[start : start + n]).astype(np.int64)
        start += n
    rois["early"] = np.unique(np.concatenate([rois[p] for p in ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d")]))
    return {name: rois[name] for name in FSAVERAGE_ROIS}


def _accuracy(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-unit ``r2``, ``noise_ceiling`` (%) and ``explained_variance`` (% of the ceiling), float32."""
    nc = rng.uniform(5.0, 80.0, n).astype(np.float32)
    r2 = (nc / 100.0 * rng.uniform(-0.05, 0.9, n)).astype(np.float32)  # below the noise ceiling, as fitted models are
    explained = np.clip(r2 * 100.0 / nc * 100.0, -100.0, 100.0).astype(np.float32)
    return {"r2": r2, "noise_ceiling": nc, "explained_variance": explained}


def _fsaverage_metadata(rng: np.random.Generator) -> dict[str, Any]:
    fmri: dict[str, Any] = {}
    enc: dict[str, Any] = dict(_IMAGES)
    for hemi in HEMISPHERES:
        fmri[f"{hemi}_ncsnr"] = rng.uniform(0.0, 1.2, N_VERTICES).astype(np.float32)
        fmri[f"{hemi}_fsaverage_rois"] = _fsaverage_rois(rng)
        enc[f"{hemi}_correlation"] = rng.uniform(-0.1, 0.8, N_VERTICES).astype(np.float32)
        enc.update({f"{hemi}_{name}": values for name, values in _accuracy(rng, N_VERTICES).items()})
    return {"fmri": fmri, "encoding_models": enc}


def write_fsaverage_store(
    root: str | os.PathLike[str], subjects: Sequence[int], seed: int, n_components: int = 250,
    model_id: str = FSAVERAGE_MODEL_ID,
) -> list[str]:
    """Write weights and metadata of an fsaverage model (default ``fmri-nsd_fsaverage-vit_b_32``) for ``subjects``.

    Returns
    -------
    list of str
        Paths written, relative to ``root``.
    """
    k = check_int(n_components, "n_components", low=1)
    root = Path(root)
    written = []
    for s in subjects:
        regressions = dict.fromkeys((f"{hemi}_reg_param" for hemi in HEMISPHERES), N_VERTICES)
        # float32 PCA and regressions, as sklearn fitted them on float32 features
        # the ViT model keeps its streams (its stores stay byte-identical); each AlexNet model gets its own
        alexnet = model_id in FSAVERAGE_ALEXNET_MODEL_IDS
        keys: tuple[Any, ...] = (model_id,) if alexnet else ()
        n_features = ALEXNET_N_FEATURES if alexnet else VIT_B_32_N_FEATURES
        weights = sklearn_readout_weights(seeded_rng(seed, "fsaverage", *keys, s), n_features, k, regressions,
                                          _IMAGES["train_img_num"], dtype="float32")
        written.append(save_npy_dict(root, fsaverage_weights_path(s, model_id), weights))
        del weights  # one subject's weights in memory at a time
        meta = _fsaverage_metadata(seeded_rng(seed, "fsaverage-meta", *keys, s))
        written.append(save_npy_dict(root, fsaverage_metadata_path(s, model_id), meta))
    return written


# ---- fwRF -------------------------------------------------------------------------------------
def _voxel_counts(n_voxels: Any) -> dict[str, int]:
    if n_voxels is None:
        return dict(SUBJECT1_FWRF_VOXELS)
    if isinstance(n_voxels, Mapping):
        roi_names(list(n_voxels), FWRF_ROIS, "synthetic fmri-nsd-fwrf", "n_voxels keys")
        return {**SUBJECT1_FWRF_VOXELS, **{r: check_int(v, f"n_voxels[{r!r}]", low=1) for r, v in n_voxels.items()}}
    n = check_int(n_voxels, "n_voxels", low=1)
    return dict.fromkeys(FWRF_ROIS, n)


def fwrf_roi_masks(
    subject: int,
    seed: int,
    volume_shape: Sequence[int] = SUBJECT1_VOLUME,
    n_voxels: Any = None,
    rois: Sequence[str] = FWRF_ROIS,
) -> dict[str, np.ndarray]:
    """The synthetic 3-D masks of the fwRF ROIs ``rois`` of one subject.

    ROIs are disjoint random voxel sets, except ``early``, which holds V1, V2
    and V3 plus more voxels up to its count: unions of ROIs overlap as real
    ones do. Only the ROIs asked for (and V1-V3 for ``early``) take room in
    the volume, so small test volumes can hold a few ROIs.
    """
    shape = tuple(check_int(n, "volume_shape entries", low=1) for n in volume_shape)
    if len(shape) != 3:
        raise InvalidParameterError(f"volume_shape must hold 3 sizes, got {tuple(volume_shape)!r}")
    counts = _voxel_counts(n_voxels)
    wanted = set(rois) | (set(_EARLY_PARTS) if "early" in rois else set())
    own = {r: counts[r] for r in FWRF_ROIS if r in wanted and r != "early"}
    extra_early = max(counts["early"] - sum(own.get(r, 0) for r in _EARLY_PARTS), 0) if "early" in wanted else 0
    total = int(np.prod(shape))
    needed = sum(own.values()) + extra_early
    if needed > total:
        raise InvalidParameterError(f"{needed} ROI voxels do not fit a volume of shape {shape} ({total} voxels); lower n_voxels")
    order = seeded_rng(seed, "fwrf-masks", subject).permutation(total)
    flat: dict[str, np.ndarray] = {}
    start = 0
    for roi, n in own.items():
        flat[roi] = order[start : start + n]
        start += n
    if "early" in wanted:
        flat["early"] = np.concatenate([*(flat[r] for r in _EARLY_PARTS), order[start : start + extra_early]])
    masks = {}
    for roi in FWRF_ROIS:
        if roi in rois:
            m = np.zeros(total, dtype=bool)
            m[flat[roi]] = True
            masks[roi] = m.reshape(shape)
    return masks


def _affine(shape: Sequence[int]) -> np.ndarray:
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    affine[:3, 3] = [-0.9 * (n - 1) for n in shape]  # centre the 1.8 mm grid on the origin
    return affine


def _fwrf_metadata(rng: np.random.Generator, mask: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    accuracy = _accuracy(rng, n)
    return {
        "fmri": {"ncsnr": rng.uniform(0.0, 1.2, n).astype(np.float32), "roi_mask_volume": mask, "fmri_affine": _affine(mask.shape)},
        "encoding_models": {**accuracy, **_IMAGES},
    }


def _seeded_state(seed_seq: np.random.Generator, n_voxels: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Random state dicts of the image network and a read-out of ``n_voxels`` voxels."""
    import torch

    from .fwrf_network import FwrfImageNet, FwrfReadout

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed_seq.integers(2**31)))
        net, readout = FwrfImageNet(), FwrfReadout(n_voxels)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    # non-trivial running statistics, so inference-mode batch norm is really exercised
                    stats = m.state_dict(keep_vars=True)
                    stats["running_mean"].normal_(0.0, 0.1)
                    stats["running_var"].uniform_(0.5, 1.5)
                    stats["weight"].uniform_(0.8, 1.2)
                    stats["bias"].normal_(0.0, 0.1)
                    stats["num_batches_tracked"].fill_(1000)
            for rf in readout.rfs():
                rf.normal_(0.0, 1.0)
            readout.w.normal_(0.0, 0.05)
            readout.b.normal_(0.0, 0.1)
    return net.state_dict(), readout.state_dict()


def _save_checkpoint(root: Path, relpath: str, subject: int, roi: str, split: int | None, stim_mean: np.ndarray,
                     rng: np.random.Generator, n_voxels: int) -> str:
    import torch

    enc, fwrf = _seeded_state(rng, n_voxels)
    enc["mu"].copy_(torch.from_numpy(stim_mean))
    epochs = 12
    checkpoint = {
        # what the real files carry besides the weights; a loader must ignore these without running them
        "args": argparse.Namespace(subject=subject, roi=roi, split=split, trunk_width=64, lr=1e-4, batch_size=100,
                                   num_epochs=epochs, seed=int(rng.integers(2**31))),
        "stim_mean": stim_mean,
        "best_params": {"enc": enc, "fwrfs": {subject: fwrf}},
        "best_epoch": int(rng.integers(1, epochs)),
        "trn_hist": rng.uniform(0.5, 1.0, epochs).astype(np.float32),
        "hold_hist": {subject: rng.uniform(0.0, 0.5, (epochs, n_voxels)).astype(np.float32)},
    }
    return write_atomically(root, relpath, lambda fh: torch.save(checkpoint, fh))


def write_fwrf_store(
    root: str | os.PathLike[str],
    subjects: Sequence[int],
    seed: int,
    rois: Sequence[str] | str | None = None,
    volume_shape: Sequence[int] = SUBJECT1_VOLUME,
    n_voxels: Any = None,
) -> list[str]:
    """Write checkpoints and metadata of ``fmri-nsd-fwrf`` for ``subjects`` and ``rois``.

    Returns
    -------
    list of str
        Paths written, relative to ``root``.
    """
    names = list(FWRF_ROIS) if rois is None else roi_names(rois, FWRF_ROIS, "synthetic fmri-nsd-fwrf", "rois")
    root = Path(root)
    written = []
    for s in subjects:
        masks = fwrf_roi_masks(s, seed, volume_shape, n_voxels, names)
        jitter = seeded_rng(seed, "stim-mean", s).normal(0.0, 0.01, 3)
        stim_mean = (np.array([0.485, 0.456, 0.406]) + jitter).astype(np.float32).reshape(1, 3, 1, 1)
        for roi in names:
            n = int(masks[roi].sum())
            sizes = [math.ceil(n / 2), n - math.ceil(n / 2)] if roi in FWRF_SPLIT_ROIS else [n]
            for split, (relpath, nv) in enumerate(zip(fwrf_weight_paths(s, roi), sizes, strict=True), start=1):
                rng = seeded_rng(seed, "fwrf", s, roi, split)
                written.append(_save_checkpoint(root, relpath, s, roi, split if len(sizes) > 1 else None, stim_mean, rng, nv))
            written.append(save_npy_dict(root, fwrf_metadata_path(s, roi), _fwrf_metadata(seeded_rng(seed, "fwrf-meta", s, roi), masks[roi])))
    return written


def write_synthetic(model_id: str, root: str, subjects: Sequence[int], seed: int, options: Mapping[str, Any]) -> list[str]:
    """Dispatch of the ``berg_write_synthetic_store`` hook."""
    if model_id in FSAVERAGE_MODEL_IDS:
        check_options(options, FSAVERAGE_OPTIONS, model_id, "berg_write_synthetic_store")
        return write_fsaverage_store(root, subjects, seed, **options, model_id=model_id)
    check_options(options, FWRF_OPTIONS, model_id, "berg_write_synthetic_store")
    return write_fwrf_store(root, subjects, seed, **options)
