"""Reading one subject's Zada files: the standardisation, the himalaya ridge and the electrode labels.

Weights (``weights_sub-XX.npy``, BERG 2.0's pickled dict): ``scaler_X_param`` and ``scaler_Y_param`` (sklearn
StandardScaler attributes), ``ridge_param`` (himalaya RidgeCV: ``coef_`` is ``(n_features, n_targets)``, the
transpose of sklearn's), ``shape`` (``n_electrodes``, ``n_lags``). Targets are flattened electrode-major:
``target = electrode * n_lags + lag``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, metadata_entry, open_weight_file, read_metadata

from .layout import N_LAGS, metadata_relpath, reference_lags, weights_relpath

if TYPE_CHECKING:
    from berg_core.plugin import Store

__all__ = ["Labels", "Readout", "read_labels", "read_readout"]


@dataclass(frozen=True)
class Labels:
    """What the metadata says about one subject's outputs."""

    ch_names: np.ndarray  # (n_electrodes,) str
    ch_coords: np.ndarray  # (n_electrodes, 3) float64, MNI (MNE's units: metres)
    lags: np.ndarray  # (n_lags,) seconds
    correlation: np.ndarray | None  # (n_electrodes, n_lags) or None
    subject_id: str


def read_labels(store: Store, subject: str) -> tuple[dict[str, Any], Labels]:
    """The metadata dict of ``subject`` and its labels (``ecog``: ch_names, ch_coords, times, n_electrodes, n_lags)."""
    rel = metadata_relpath(subject)
    source = store.url_of(rel)
    meta = read_metadata(store, rel)
    n_el = int(metadata_entry(meta, "ecog/n_electrodes", source))
    n_lags = int(metadata_entry(meta, "ecog/n_lags", source))
    if n_lags != N_LAGS:
        raise IntegrityError(f"{source}: ecog/n_lags is {n_lags}; the model has {N_LAGS} lags (-2 to 2 s at 32 Hz)")
    names = np.asarray(metadata_entry(meta, "ecog/ch_names", source)).astype(str)
    coords = np.asarray(metadata_entry(meta, "ecog/ch_coords", source, numeric=True), dtype=np.float64)
    if names.shape != (n_el,) or coords.shape != (n_el, 3):
        raise IntegrityError(
            f"{source}: {n_el} electrodes but ch_names {names.shape} and ch_coords {coords.shape} (expected ({n_el},) and ({n_el}, 3))"
        )
    try:
        times = np.asarray(metadata_entry(meta, "ecog/times", source, numeric=True), dtype=np.float64)
    except IntegrityError:  # not every version of the metadata lists the times: MNE's epoch times then
        times = reference_lags()
    if times.shape != (N_LAGS,):
        raise IntegrityError(f"{source}: ecog/times has {times.size} values for {N_LAGS} lags")
    corr = None
    enc = meta.get("encoding_model") if isinstance(meta, dict) else None
    if isinstance(enc, dict) and "correlation_results" in enc:
        corr = np.asarray(metadata_entry(meta, "encoding_model/correlation_results", source, numeric=True), dtype=np.float64)
        if corr.shape != (n_el, N_LAGS):
            raise IntegrityError(f"{source}: correlation_results has shape {corr.shape}, expected ({n_el}, {N_LAGS})")
    subject_id = str(meta.get("ecog", {}).get("subject_id", f"sub-{subject}"))
    return meta, Labels(names, coords, times, corr, subject_id)


@dataclass(frozen=True)
class Readout:
    """The selected targets' read-out, float64: ``y = ((x - x_mean) / x_scale) @ coef + intercept) * y_scale + y_mean``."""

    x_mean: np.ndarray  # (n_features,)
    x_scale: np.ndarray  # (n_features,)
    coef: np.ndarray  # (n_features, n_selected)
    intercept: np.ndarray  # (n_selected,)
    y_mean: np.ndarray  # (n_selected,)
    y_scale: np.ndarray  # (n_selected,)
    n_electrodes: int


def read_readout(store: Store, subject: str, n_electrodes: int, targets: np.ndarray) -> Readout:
    """The scalers and the ridge columns of ``targets`` (flat electrode-major indices, ascending).

    Raises
    ------
    IntegrityError
        Shapes that do not agree with each other or with the metadata's electrode count.
    """
    rel = weights_relpath(subject)
    source = store.url_of(rel)
    wf = open_weight_file(store, rel)
    try:
        shape_el = int(np.asarray(wf.value("shape/n_electrodes")))
        shape_lags = int(np.asarray(wf.value("shape/n_lags")))
        if (shape_el, shape_lags) != (n_electrodes, N_LAGS):
            raise IntegrityError(
                f"{source}: shape says {shape_el} electrodes x {shape_lags} lags; the metadata says {n_electrodes} x {N_LAGS}"
            )
        n_targets = shape_el * shape_lags
        x_mean = wf.read("scaler_X_param/mean_", dtype=np.float64)
        x_scale = wf.read("scaler_X_param/scale_", dtype=np.float64)
        coef = wf.read("ridge_param/coef_")
        intercept = np.ravel(wf.read("ridge_param/intercept_", dtype=np.float64))
        y_mean = wf.read("scaler_Y_param/mean_", dtype=np.float64)
        y_scale = wf.read("scaler_Y_param/scale_", dtype=np.float64)
    finally:
        wf.close()
    n_features = x_mean.shape[0]
    if coef.shape != (n_features, n_targets):
        raise IntegrityError(
            f"{source}: ridge_param/coef_ has shape {coef.shape}; expected (n_features={n_features}, n_targets={n_targets}) "
            "(himalaya's layout, features first)"
        )
    for name, arr, n in (("scaler_X_param/scale_", x_scale, n_features), ("ridge_param/intercept_", intercept, n_targets),
                         ("scaler_Y_param/mean_", y_mean, n_targets), ("scaler_Y_param/scale_", y_scale, n_targets)):
        if arr.shape != (n,):
            raise IntegrityError(f"{source}: {name} has shape {arr.shape}, expected ({n},)")
    cols = coef[:, targets].astype(np.float64)
    if not np.isfinite(cols).all():
        raise IntegrityError(f"{source}: ridge_param/coef_ holds NaN or infinite values")
    return Readout(x_mean, x_scale, cols, intercept[targets], y_mean[targets], y_scale[targets], shape_el)
