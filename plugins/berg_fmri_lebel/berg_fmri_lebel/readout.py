"""Reading the ridge weights of one subject: ``ridge_weights`` ``(4 * width, n_voxels)``, features x voxels.

BERG 2.0's weights dict (``weights_{subject}.npy``) also holds ``ridge_alphas``, ``model_name``, ``layer``,
``hidden_dim``, ``ndelays``, the trims and the context sizes; the model uses only ``ridge_weights`` (no
intercept). The selected voxel columns are read a block of feature rows at a time, so a ROI model never
holds the whole-brain matrix twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from berg_core.plugin import IntegrityError, StoreError, first_weight_file, open_weight_file

from .layout import DELAYS, SUBJECTS, weights_relpath

if TYPE_CHECKING:
    from berg_core.plugin import Store

__all__ = ["RIDGE_KEY", "read_ridge_columns", "weight_file"]

RIDGE_KEY = "ridge_weights"
#: feature rows read at a time
BLOCK_ROWS = 512


def weight_file(store: Store, subject: str) -> str:
    """The subject's weight file; a missing one names the paths looked for."""
    try:
        return first_weight_file(store, [weights_relpath(subject)], what=f"LeBel 2023 weight file of subject {subject}")
    except StoreError as exc:
        raise StoreError(
            f"{exc}. BERG 2.0's newest model card lists subjects {SUBJECTS[0]}-{SUBJECTS[-1]}; its older card and "
            "trainer only UTS01-UTS03, so a store may hold fewer subjects"
        ) from None


def _rows_exist(wf: object, n: int) -> bool:
    from berg_core.plugin import BERGError

    try:
        wf.read(RIDGE_KEY, rows=np.array([n - 1]))  # type: ignore[attr-defined]
    except BERGError:
        return False
    return True


def _n_rows(wf: object) -> int:
    """The ridge's row count, found with single-row reads (the weight file reader gives no shape)."""
    hi = 1
    while _rows_exist(wf, hi + 1):
        hi *= 2
    lo = hi // 2 if hi > 1 else 1  # rows lo exist, rows hi + 1 do not (or hi == 1)
    lo, hi = max(1, lo), hi + 1
    while hi - lo > 1:  # invariant: lo rows exist, hi rows do not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _rows_exist(wf, mid) else (lo, mid)
    return lo


def read_ridge_columns(store: Store, subject: str, width: int, voxels: np.ndarray, n_voxels: int,
                       metadata_source: str = "the metadata") -> tuple[np.ndarray, str]:
    """``(W[:, voxels].T as C-contiguous float32 (n_selected, 4 * width), source)`` of the subject's ridge.

    Transposed as it is read (voxels as rows, the layout of :class:`RegressionHeads`), so the whole-brain
    matrix is held once, not once more for a transposed copy.

    Raises
    ------
    IntegrityError
        The ridge does not have ``4 * width`` feature rows (the backbone's width times the 4 delays) or
        ``n_voxels`` columns (the metadata's voxel count).
    """
    rel = weight_file(store, subject)
    wf = open_weight_file(store, rel)
    n_rows = len(DELAYS) * int(width)
    try:
        first = wf.read(RIDGE_KEY, rows=np.array([0]))
        if first.ndim != 2:
            raise IntegrityError(f"{wf.source}: {RIDGE_KEY} should be (features, voxels), found {first.ndim} dimensions")
        if int(first.shape[1]) != n_voxels:
            raise IntegrityError(
                f"{wf.source}: {RIDGE_KEY} has {first.shape[1]} voxel columns but {metadata_source} has {n_voxels} "
                "voxels: the weights and the metadata do not belong together"
            )
        if not _rows_exist(wf, n_rows) or _rows_exist(wf, n_rows + 1):
            raise IntegrityError(
                f"{wf.source}: {RIDGE_KEY} has {_n_rows(wf)} feature rows, but {len(DELAYS)} delays x the backbone's "
                f"width {width} make {n_rows}: the weights and the OPT backbone do not belong together"
            )
        out = np.empty((voxels.size, n_rows), dtype=np.float32)
        for start in range(0, n_rows, BLOCK_ROWS):
            stop = min(n_rows, start + BLOCK_ROWS)
            out[:, start:stop] = wf.read(RIDGE_KEY, rows=np.arange(start, stop))[:, voxels].T
    finally:
        wf.close()  # every block was checked finite as it was read
    return out, store.url_of(rel)
