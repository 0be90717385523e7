"""A linear read-out of backbone features, loaded from a BERG 2.0 weight file.

BERG 2.0's ViT-feature models share one shape: a StandardScaler and a PCA
(``scaler_param``, ``pca_param``) turn features into components, and one or
more linear regressions (repetitions, hemispheres...) turn components into
responses. Only where the regressions sit in the file, and which of their rows
a selection keeps, differ between models; a plugin gives that as a
``read_heads`` callback and :func:`load_folded_heads` does the rest: the folded
projection (see :mod:`berg_core.models.readout`), the checks that the parts fit
together, and freeing the file's arrays as soon as the tensors are built.

Loaded projections are cached per process (see :func:`cached_projections`): a second model of
the same subject's weight file (another selection, a reload in a loop) gets the same read-only
tensors in a blink instead of reading and folding 460,800 x 250 values again. The cache holds
them weakly, so it is bounded by what live models hold: ``cleanup()`` of the last model using a
projection frees it. Only local files are cached, keyed by their size and modification time, so
a file written again is read again.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from berg_core.errors import IntegrityError
from berg_core.models.readout import FoldedProjection, RegressionHeads
from berg_core.models.weights import WeightFile, open_weight_file, read_folded_projection

if TYPE_CHECKING:
    from berg_core.store.model_store import Store

__all__ = ["FoldedHeads", "HeadArrays", "ReadHeads", "cached_projections", "load_folded_heads", "read_regression_rows"]

#: One product of regressions: ``(coefs, intercepts)``, each a list of ``(U, k)`` / ``(U,)`` arrays
#: stacked into one :class:`RegressionHeads` (e.g. the four repetitions of an EEG model).
HeadArrays = tuple[Sequence[np.ndarray], Sequence[np.ndarray]]
#: ``read_heads(weight_file, n_components)``: the selected regression rows of a weight file, as the
#: products to compute side by side. Raise :class:`~berg_core.IntegrityError` for a file that does not fit.
ReadHeads = Callable[[WeightFile, int], Sequence[HeadArrays]]


@dataclass
class FoldedHeads:
    """``features -> z = f @ W.T + c -> [z @ coef_h.T + intercept_h for each head]``, heads side by side.

    Attributes
    ----------
    projection : FoldedProjection
        The scaler and PCA folded into one product.
    heads : list of RegressionHeads
        Computed separately and concatenated along the output axis, in order. Separate products
        keep one unit of a selection bit-identical to the same unit of the whole output.
    """

    projection: FoldedProjection
    heads: list[RegressionHeads]

    @property
    def n_components(self) -> int:
        return self.projection.n_components

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, F)`` features (any float dtype) -> ``(B, outputs)`` float32 responses."""
        z = self.projection(features.float())
        if len(self.heads) == 1:
            return self.heads[0](z)
        return torch.cat([head(z) for head in self.heads], dim=1)


def read_regression_rows(
    wf: WeightFile, key: str, rows: np.ndarray | None, n_outputs: int, n_components: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``rows`` of the sklearn regression stored under ``key``, as float32 ``(coef_, intercept_)``.

    Parameters
    ----------
    wf
        The open weight file.
    key
        Where the regression's dict is, e.g. ``"reg_param/rep-1"`` or ``"lh_reg_param"``.
    rows
        Indices of the outputs to keep, in output order; ``None`` for all.
    n_outputs
        How many outputs the file must hold.
    n_components
        How many inputs (PCA components) each output's coefficients must have.

    Raises
    ------
    IntegrityError
        The regression holds another number of outputs or components, or non-finite values.
        (:class:`~berg_core.models.weights.RowsOutOfRangeError` is one too, and an ``IndexError``.)
    """
    if rows is not None and rows.size == n_outputs and np.array_equal(rows, np.arange(n_outputs)):
        rows = None  # every output in order: a fancy-index copy of the whole matrix would be wasted
    # only the selected rows: from the Zarr layout a one-ROI model reads its own chunks alone
    # key "" is a regression stored at the top of its file (fmri-bmd-s3d's flat dicts)
    intercept = _rows(wf, f"{key}/intercept_" if key else "intercept_", rows, n_outputs, None)
    coef = _rows(wf, f"{key}/coef_" if key else "coef_", rows, n_outputs, np.float32)
    expected = n_outputs if rows is None else rows.size
    if intercept.shape != (expected,):
        raise IntegrityError(f"{wf.source}: {key}/intercept_ has shape {intercept.shape}, expected ({expected},), one per output")
    if coef.ndim != 2:
        raise IntegrityError(f"{wf.source}: {key}/coef_ has shape {coef.shape}, expected (outputs, components)")
    if rows is None and coef.shape[0] != n_outputs:
        raise IntegrityError(f"{wf.source}: {key}/coef_ has {coef.shape[0]} rows, expected {n_outputs} (one per output)")
    if coef.shape[1] != n_components:
        raise IntegrityError(
            f"{wf.source}: {key}/coef_ rows have shape {coef.shape[1:]}, expected ({n_components},) "
            "to match pca_param components_"
        )
    return np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(intercept, dtype=np.float32)


def _rows(wf: WeightFile, key: str, rows: np.ndarray | None, n_outputs: int, dtype: type | None) -> np.ndarray:
    try:
        return wf.read(key, rows=rows, dtype=dtype)
    except IndexError:  # RowsOutOfRangeError, or a reader that slices without checking
        raise IntegrityError(f"{wf.source}: {key} has fewer than the {n_outputs} rows of the outputs") from None


def load_folded_heads(
    store: Store,
    relpath: str,
    n_features: int,
    read_heads: ReadHeads,
    device: torch.device,
    features_name: str = "backbone features",
) -> FoldedHeads:
    """Read the folded scaler + PCA and the heads of ``relpath`` onto ``device``.

    Parameters
    ----------
    store, relpath
        The weight file (either format :func:`~berg_core.models.weights.open_weight_file` reads).
    n_features
        The backbone's feature count; the PCA must take exactly that many.
    read_heads
        The plugin's reader of its regressions (see :data:`ReadHeads`).
    device
        Where the tensors live.
    features_name
        Names the features in the error of a PCA of the wrong width.

    Raises
    ------
    IntegrityError
        The PCA does not take ``n_features`` features, or ``read_heads`` refuses the file.
    """
    wf = open_weight_file(store, relpath)
    try:
        key = _projection_key(store, relpath, n_features, device)
        projection = _cached_projection(key)
        if projection is None:
            W, c = read_folded_projection(wf)
            if W.shape[1] != n_features:
                raise IntegrityError(
                    f"{wf.source}: pca_param components_ have {W.shape[1]} features, expected {n_features} ({features_name})"
                )
            projection = FoldedProjection.from_numpy(W, c, device)
            del W
            _remember_projection(key, projection)
        parts = read_heads(wf, projection.n_components)
    finally:
        # the unpickled dict (float64 weights, unselected rows, PCA extras) is not needed any more
        wf.close()
    pending, heads = list(parts), []
    del parts
    while pending:  # each product's arrays go once its tensors exist: never two copies of every head
        coefs, intercepts = pending.pop(0)
        heads.append(RegressionHeads.from_numpy(list(coefs), list(intercepts), device))
    return FoldedHeads(projection, heads)


# ---- the per-process cache of loaded projections -------------------------------------------
_PROJECTIONS: weakref.WeakValueDictionary[tuple[Any, ...], FoldedProjection] = weakref.WeakValueDictionary()
_PROJECTIONS_LOCK = threading.Lock()


def _projection_key(store: Store, relpath: str, n_features: int, device: torch.device) -> tuple[Any, ...] | None:
    """What identifies a loaded projection: the local file (or Zarr folder) as it is now, and the device.

    ``None`` (not cached) for remote stores and files that cannot be stat-ed.
    """
    from berg_core.models.weights import weight_file_path

    if not store.is_local or getattr(store, "cache", None) is not None:
        return None
    rel = weight_file_path(store, relpath)
    path = store.path(rel)
    try:
        if os.path.isdir(path):
            # a Zarr twin: its folded arrays' metadata change whenever they are written again
            parts = [os.path.join(path, *p) for p in (("zarr.json",), ("folded", "W", "zarr.json"), ("folded", "c", "zarr.json"))]
            stats = [os.stat(p) for p in parts if os.path.exists(p)]
        else:
            stats = [os.stat(path)]
    except OSError:
        return None
    if not stats:
        return None
    identity = tuple((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) for st in stats)
    return (os.path.realpath(path), identity, int(n_features), str(device))


def _cached_projection(key: tuple[Any, ...] | None) -> FoldedProjection | None:
    if key is None:
        return None
    with _PROJECTIONS_LOCK:
        return _PROJECTIONS.get(key)


def _remember_projection(key: tuple[Any, ...] | None, projection: FoldedProjection) -> None:
    if key is not None:
        with _PROJECTIONS_LOCK:
            _PROJECTIONS[key] = projection


def cached_projections() -> int:
    """How many loaded projections live models share now (tests use it to prove ``cleanup()`` frees them).

    The cache holds projections weakly: it never keeps one alive that no model uses, so its size is
    bounded by the models the caller keeps.
    """
    return len(_PROJECTIONS)
