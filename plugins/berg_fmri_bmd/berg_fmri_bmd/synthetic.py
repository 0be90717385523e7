"""A seeded BOLD Moments store in BERG 2.0's real file formats, for tests and ``berg demo``.

Files (``np.save`` of dicts, as BERG 2.0 writes them):

* ``pca_weights.npy``: ``scaler_param`` (StandardScaler) and ``pca_param``
  (TruncatedSVD: ``components_``, ``explained_variance_``,
  ``explained_variance_ratio_``, ``singular_values_``, ``n_features_in_``; no ``mean_``);
* ``weights_sub-SS.npy``: a flat LinearRegression dict (``coef_``, ``intercept_``, ``n_features_in_``);
* ``metadata_sub-SS.npy``: ``fmri`` (group and subject masks with their affines, ``rois``
  as ``np.where`` tuples) and ``encoding_models`` (noise ceilings, correlation, r2, explained variance).

``group_mask_header`` and ``sub_mask_header`` are pickled ``nibabel.Nifti1Header``
objects, as BERG 2.0 stores them; berg's safe reader reads each as its 348-byte
binary block without importing nibabel (see specs/store_layout.md).

Options reduce the sizes: ``n_components`` (100), ``volume_shape`` ((62, 77, 61)),
``n_voxels`` (BERG 2.0's count per subject, or one number for all), ``dtype`` and
``backbone`` (also write seeded S3D weights to ``backbones/``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import (
    InvalidParameterError,
    check_int,
    check_options,
    save_npy_dict,
    seeded_rng,
    sklearn_readout_weights,
    write_synthetic_backbone,
)

from .backbone import S3D_N_FEATURES
from .layout import (
    MODEL_ID,
    N_COMPONENTS,
    ROIS,
    VOLUME_SHAPE,
    VOXELS_LENGTH,
    metadata_relpath,
    pca_relpath,
    weights_relpath,
)

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard

__all__ = ["SYNTHETIC_OPTIONS", "make_metadata", "make_pca", "make_weights", "write_synthetic_store"]

SYNTHETIC_OPTIONS: dict[str, Any] = {
    "n_components": N_COMPONENTS, "volume_shape": VOLUME_SHAPE, "n_voxels": None, "dtype": "float64", "backbone": False,
}
N_TRAIN_VIDEOS = 1000
#: MNI152 2 mm-style affine of BMD's (62, 77, 61) volume (voxel -> mm); synthetic, but of the real kind.
_AFFINE = np.array([[-2.5, 0.0, 0.0, 76.0], [0.0, 2.5, 0.0, -112.0], [0.0, 0.0, 2.5, -76.0], [0.0, 0.0, 0.0, 1.0]])


def make_pca(seed: int, n_components: int, dtype: str = "float64") -> dict[str, Any]:
    """The shared StandardScaler + TruncatedSVD dict (``pca_weights.npy``)."""
    w = sklearn_readout_weights(seeded_rng(seed, MODEL_ID, "pca"), S3D_N_FEATURES, n_components, {}, N_TRAIN_VIDEOS, dtype)
    pca = w["pca_param"]
    keep = ("components_", "explained_variance_", "explained_variance_ratio_", "singular_values_", "n_features_in_")
    return {"scaler_param": w["scaler_param"], "pca_param": {k: pca[k] for k in keep}}


def make_weights(seed: int, subject: int, n_voxels: int, n_components: int, dtype: str = "float64") -> dict[str, Any]:
    """One subject's flat LinearRegression dict."""
    rng = seeded_rng(seed, MODEL_ID, "weights", subject)
    return {
        "coef_": (rng.standard_normal((n_voxels, n_components)) / np.sqrt(n_components)).astype(dtype),
        "intercept_": rng.normal(0.0, 0.5, n_voxels).astype(dtype),
        "n_features_in_": n_components,
    }


def _mask(rng: np.random.Generator, shape: tuple[int, ...], n_voxels: int) -> np.ndarray:
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[np.sort(rng.choice(mask.size, n_voxels, replace=False))] = True
    return mask.reshape(shape)


def _header(volume_shape: tuple[int, ...]) -> Any:
    """The mask's NIfTI-1 header, a nibabel object as BERG 2.0 pickles it."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(volume_shape)
    header.set_sform(_AFFINE, code=4)
    header.set_qform(_AFFINE, code=4)
    header.set_xyzt_units("mm")
    return header


def make_metadata(seed: int, subject: int, n_voxels: int, volume_shape: tuple[int, ...]) -> dict[str, Any]:
    """One subject's metadata dict, nested as BERG 2.0's (``fmri``, ``encoding_models``)."""
    rng = seeded_rng(seed, MODEL_ID, "metadata", subject)
    sub_mask = _mask(rng, volume_shape, n_voxels)
    group_mask = sub_mask | _mask(rng, volume_shape, min(n_voxels, sub_mask.size // 10))
    rois = {}
    for name in ROIS:
        size = int(rng.integers(1, max(2, n_voxels // 20)))
        rois[name] = (np.sort(rng.choice(n_voxels, size, replace=False)).astype(np.int64),)  # np.where's tuple
    nc = {
        key: rng.uniform(lo, hi, n_voxels).astype(np.float32)
        for key, lo, hi in (("noiseceiling_task_train_n_1", 5, 40), ("noiseceiling_task_train_n_3", 10, 60),
                            ("noiseceiling_task_test_n_1", 5, 40), ("noiseceiling_task_test_n_10", 20, 90))
    }
    corr = np.clip(rng.normal(0.2, 0.15, n_voxels), 0.0, None).astype(np.float32)  # negatives set to 0
    r2 = corr**2
    ev = np.minimum(r2 / np.where(nc["noiseceiling_task_test_n_10"] == 0, 1e-14, nc["noiseceiling_task_test_n_10"]) * 100, 100)
    return {
        "fmri": {
            "group_mask": group_mask,
            "group_mask_header": _header(volume_shape),
            "group_mask_affine": _AFFINE.copy(),
            "sub_mask": sub_mask,
            "sub_mask_header": _header(volume_shape),
            "sub_mask_affine": _AFFINE.copy(),
            "rois": rois,
        },
        "encoding_models": {**nc, "correlation": corr, "r2": r2, "explained_variance": ev.astype(np.float32)},
    }


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    check_options(options, SYNTHETIC_OPTIONS, MODEL_ID, what="synthetic-store option")
    opts = {**SYNTHETIC_OPTIONS, **options}
    opts["n_components"] = check_int(opts["n_components"], "n_components", low=1, high=1000, note=" (BERG 2.0 uses 100)")
    shape = opts["volume_shape"]
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise InvalidParameterError(f"volume_shape must be 3 sizes (BERG 2.0: {list(VOLUME_SHAPE)}), got {shape!r}")
    opts["volume_shape"] = tuple(check_int(s, "volume_shape entry", low=1, high=512) for s in shape)
    if opts["n_voxels"] is not None:
        opts["n_voxels"] = check_int(opts["n_voxels"], "n_voxels", low=1, high=int(np.prod(opts["volume_shape"])),
                                     note=" (at most the volume's size)")
    return opts


def write_synthetic_store(card: ModelCard, root: str | os.PathLike[str], subjects: list[int], seed: int,
                          options: dict[str, Any] | None = None) -> list[str]:
    """Write seeded files of ``subjects`` (and the shared SVD) under ``root``; returns the paths written.

    Parameters
    ----------
    card
        The model's card.
    root
        Local store folder (created if needed).
    subjects
        Subjects to write (core checked them against the card).
    seed
        The same seed writes the same files.
    options
        See the module docstring.
    """
    opts = _check_options(dict(options or {}))
    written = [save_npy_dict(root, pca_relpath(), make_pca(seed, opts["n_components"], opts["dtype"]))]
    for s in subjects:
        n = opts["n_voxels"] or VOXELS_LENGTH[int(s) - 1]
        if n > int(np.prod(opts["volume_shape"])):
            raise InvalidParameterError(
                f"subject {s} has {n} voxels, more than a volume of {opts['volume_shape']} holds; give n_voxels"
            )
        written.append(save_npy_dict(root, weights_relpath(s), make_weights(seed, s, n, opts["n_components"], opts["dtype"])))
        written.append(save_npy_dict(root, metadata_relpath(s), make_metadata(seed, s, n, opts["volume_shape"])))
    if opts["backbone"]:
        written.append(write_synthetic_backbone(root, seed, card.backbone))
    return written
