"""BERG 2.0's weight and metadata files, written with seeded random numbers.

BERG 2.0 saves each subject's fitted sklearn estimators as their fitted
attributes (``StandardScaler`` -> ``scaler_param``, ``PCA`` -> ``pca_param``,
``LinearRegression`` -> a ``*reg_param`` dict), and its metadata as a nested
dict, each with ``np.save(path, dict, allow_pickle=True)``. Plugins whose
models read such files write synthetic stores with these helpers, so every
synthetic weight file has the keys, types and shapes of the real ones and is
written the same way.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from berg_core.errors import InvalidParameterError
from berg_core.store.output_files import write_atomically

__all__ = ["save_npy_dict", "seeded_rng", "sklearn_readout_weights"]


def seeded_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator for one file or part of a synthetic store: the same ``seed`` and ``keys``, the same numbers.

    Each file gets its own stream (keyed e.g. by model, subject and ROI), so its numbers do not
    depend on which other files are written. String keys are hashed with CRC-32, stable across runs.
    """
    ints = [k if isinstance(k, (int, np.integer)) else zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng([int(seed), *(int(k) for k in ints)])


def _normal(rng: np.random.Generator, shape: int | tuple[int, ...], sd: float, dtype: Any, mean: float = 0.0) -> np.ndarray:
    # drawn in the target dtype and scaled in place: no float64 temporary of a large matrix
    out = rng.standard_normal(shape, dtype=dtype)
    out *= sd
    out += mean
    return out


def sklearn_readout_weights(
    rng: np.random.Generator,
    n_features: int,
    n_components: int,
    regressions: Mapping[str, int],
    n_samples: int,
    dtype: str = "float64",
) -> dict[str, Any]:
    """The fitted attributes of StandardScaler -> PCA -> LinearRegression(s), as BERG 2.0 stores them.

    Parameters
    ----------
    rng
        Where the numbers come from (see :func:`seeded_rng`).
    n_features
        The backbone's feature count.
    n_components
        The PCA's size.
    regressions
        Where each regression goes (a ``/``-separated key) -> its number of outputs, e.g.
        ``{"reg_param/rep-1": 8820, ...}`` or ``{"lh_reg_param": 163842, "rh_reg_param": 163842}``.
    n_samples
        The number of training images the estimators report.
    dtype
        Of the PCA and regression arrays (``"float64"``, sklearn's default, or ``"float32"``, as on
        float32 features); the scaler's statistics are always float64, as sklearn keeps them.

    Returns
    -------
    dict
        ``{"scaler_param": {...}, "pca_param": {...}, <regressions, nested at their keys>}``.

    Notes
    -----
    The PCA's rows have unit norm over ``sqrt(n_features)`` values and the coefficients a standard
    deviation of ``1 / sqrt(n_components)``, so responses keep the scale of the components
    whatever the sizes.
    """
    if dtype not in ("float64", "float32"):
        raise InvalidParameterError(f"dtype must be 'float64' (sklearn's default) or 'float32', got {dtype!r}")
    scale = rng.uniform(0.5, 2.0, n_features)
    explained = np.sort(rng.uniform(1.0, 100.0, n_components))[::-1].astype(dtype)
    weights: dict[str, Any] = {
        "scaler_param": {
            "mean_": rng.normal(0.0, 0.5, n_features),
            "scale_": scale,
            "var_": scale**2,
            "n_features_in_": n_features,
            "n_samples_seen_": np.int64(n_samples),
        },
        "pca_param": {
            "components_": _normal(rng, (n_components, n_features), 1.0 / np.sqrt(n_features), dtype),
            "mean_": _normal(rng, n_features, 0.1, dtype),
            "explained_variance_": explained,
            "explained_variance_ratio_": explained / (explained.sum() * 2.0),
            "singular_values_": np.sqrt(explained * (n_samples - 1)),
            "n_components_": n_components,
            "n_samples_": n_samples,
            "noise_variance_": np.float64(0.01),
            "n_features_in_": n_features,
        },
    }
    for key, n_outputs in regressions.items():
        *parents, name = key.split("/")
        node = weights
        for part in parents:
            node = node.setdefault(part, {})
        node[name] = {
            "coef_": _normal(rng, (n_outputs, n_components), 1.0 / np.sqrt(n_components), dtype),
            "intercept_": _normal(rng, n_outputs, 0.5, dtype),
            "n_features_in_": n_components,
        }
    return weights


def save_npy_dict(root: str | os.PathLike[str], relpath: str, data: Mapping[str, Any]) -> str:
    """Write ``data`` to ``root/relpath`` as BERG 2.0 did: ``np.save`` of a dict, pickled in a 0-d object array.

    The file appears under its name only once complete (see :func:`~berg_core.store.output_files.write_atomically`).

    Returns
    -------
    str
        ``relpath``.

    Raises
    ------
    StoreError
        The file cannot be written.
    """
    obj = np.array(dict(data), dtype=object)
    return write_atomically(root, relpath, lambda fh: np.save(fh, obj, allow_pickle=True))
