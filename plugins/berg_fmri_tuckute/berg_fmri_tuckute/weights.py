"""Reading the Tuckute model's files: the pickled RidgeCV (as data, never run) and the metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, SklearnEstimator, load_sklearn_pickle, metadata_entry, read_metadata

from .layout import METADATA_RELPATH, WEIGHTS_RELPATH

if TYPE_CHECKING:
    from berg_core.plugin import Store

__all__ = ["Ridge", "RoiLabels", "read_labels", "read_ridge"]

#: the pickled RidgeCV's class, under sklearn's newer and older module names
RIDGE_CLASSES = ("RidgeCV", "Ridge")


@dataclass(frozen=True)
class Ridge:
    """The fitted ridge of the published pickle: ``y = x @ coef.T + intercept`` per ROI."""

    coef: np.ndarray  # (n_rois, n_features) float64
    intercept: np.ndarray  # (n_rois,) float64
    alpha: np.ndarray  # (n_rois,) float64
    neuroid_order: tuple[str, ...]
    source: str


def _names(value: Any, source: str) -> tuple[str, ...]:
    arr = np.asarray(value, dtype=object) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is None or arr.ndim != 1 or not all(isinstance(v, str) for v in arr):
        raise IntegrityError(f"{source}: neuroid_order must be a list of ROI names, found {type(value).__name__}")
    return tuple(str(v) for v in arr)


def read_ridge(store: Store, relpath: str = WEIGHTS_RELPATH) -> Ridge:
    """The ridge of ``relpath``: ``{'clf': RidgeCV, 'X_scaler': None, 'y_scaler': None, 'neuroid_order': [...]}``.

    Raises
    ------
    IntegrityError
        Damaged, unsafe (anything but data and the allowed sklearn classes) or of another layout.
    StoreError
        The file is missing or unreachable.
    """
    source = store.url_of(relpath)
    with store.open(relpath) as fh:
        data = load_sklearn_pickle(fh, source)
    if not isinstance(data, dict) or "clf" not in data or "neuroid_order" not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise IntegrityError(f"{source}: expected a dict with 'clf' and 'neuroid_order' (BERG 2.0's mapping), found {keys}")
    clf = data["clf"]
    if not isinstance(clf, SklearnEstimator) or clf.name not in RIDGE_CLASSES:
        raise IntegrityError(f"{source}: 'clf' must be a fitted sklearn RidgeCV, found {getattr(clf, 'name', type(clf).__name__)}")
    for key in ("X_scaler", "y_scaler"):
        # the published file name says "None-False-False": no scaler; one would change the math
        if data.get(key) is not None:
            raise IntegrityError(f"{source}: {key} is {getattr(data[key], 'name', data[key])!r}; the published model has none")
    order = _names(data["neuroid_order"], source)
    coef = np.asarray(clf.attribute("coef_", source))
    if coef.dtype.kind not in "fiu" or coef.ndim not in (1, 2):
        raise IntegrityError(f"{source}: RidgeCV coef_ must be a numeric (n_rois, n_features) array, found {coef.dtype} {coef.shape}")
    coef = np.atleast_2d(coef).astype(np.float64)
    intercept = np.broadcast_to(np.asarray(clf.state.get("intercept_", 0.0), dtype=np.float64), (coef.shape[0],)).copy()
    alpha = np.broadcast_to(np.asarray(clf.state.get("alpha_", np.nan), dtype=np.float64), (coef.shape[0],)).copy()
    if coef.shape[0] != len(order):
        raise IntegrityError(f"{source}: coef_ has {coef.shape[0]} rows but neuroid_order names {len(order)} ROIs")
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        raise IntegrityError(f"{source}: the ridge holds NaN or infinite values")
    return Ridge(coef, intercept, alpha, order, source)


@dataclass(frozen=True)
class RoiLabels:
    """Per ROI name: its noise ceiling and noise-ceiling SNR (from the metadata)."""

    noise_ceiling: dict[str, float]
    noise_ceiling_snr: dict[str, float]


def read_labels(store: Store) -> tuple[dict[str, Any], RoiLabels]:
    """The metadata dict and the ROI labels read from it (``rois``, ``noise_ceiling``, ``noise_ceiling_snr``)."""
    source = store.url_of(METADATA_RELPATH)
    meta = read_metadata(store, METADATA_RELPATH)
    rois = _names(metadata_entry(meta, "rois", source), source)
    out = {}
    for key in ("noise_ceiling", "noise_ceiling_snr"):
        values = np.ravel(metadata_entry(meta, key, source, numeric=True)).astype(np.float64)
        if values.shape != (len(rois),):
            raise IntegrityError(f"{source}: {key} has {values.size} values for {len(rois)} ROIs")
        out[key] = dict(zip(rois, values.tolist(), strict=True))
    return meta, RoiLabels(out["noise_ceiling"], out["noise_ceiling_snr"])
