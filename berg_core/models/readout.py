"""Linear read-outs on backbone features: scaler + PCA folded into one projection.

BERG 2.0's ViT-B/32 models compute, per image,
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` and then
``y = z @ coef_.T + intercept_``. The first step is affine in ``f``, so it is
folded once, at load time, into ``z = f @ W.T + c`` with

* ``W = components_ / scaler.scale_`` (float32, ``(k, F)``),
* ``c = -(scaler.mean_ / scaler.scale_ + pca.mean_) @ components_.T`` (computed in float64).

That replaces three passes over 460,800 features with one matrix product.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from berg_core.errors import IntegrityError
from berg_core.models.onednn import LazilyPacked, enabled_for, pack_linear, packed_once

__all__ = ["FoldedProjection", "RegressionHeads", "fold_scaler_pca"]


def _check_scaler(scaler_mean: np.ndarray, scaler_scale: np.ndarray, pca_mean: np.ndarray, source: str) -> None:
    # sklearn's StandardScaler stores scale 1 for constant features: 0 or NaN is damage and gives inf/NaN responses
    for name, arr in (("scaler mean_", scaler_mean), ("scaler scale_", scaler_scale), ("pca mean_", pca_mean)):
        if not np.isfinite(arr).all():
            raise IntegrityError(f"{source}: {name} holds NaN or infinite values")
    zero = np.flatnonzero(scaler_scale == 0)
    if zero.size:
        raise IntegrityError(f"{source}: scaler scale_ is 0 for {zero.size} features (first: {int(zero[0])}); dividing by it gives infinite responses")


def _check_folded(W: np.ndarray, c: np.ndarray, source: str) -> None:
    # components_ with NaN, or values that overflow float32 once divided by the scale
    if not (np.isfinite(c).all() and np.isfinite(W).all()):
        raise IntegrityError(f"{source}: the scaler and PCA give NaN or infinite projections; the weights are damaged")


def fold_scaler_pca(
    scaler_mean: np.ndarray,
    scaler_scale: np.ndarray,
    pca_mean: np.ndarray,
    components: np.ndarray,
    source: str = "weights",
    chunk: int = 1 << 15,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold a StandardScaler and a PCA into ``(W, c)``.

    Works column-chunk by column-chunk so the peak extra memory is one
    float64 chunk, not a float64 copy of ``components``. When ``components``
    is a writable float32 array it is overwritten in place and returned as ``W``.

    Returns
    -------
    W : numpy.ndarray
        ``(k, F)`` float32.
    c : numpy.ndarray
        ``(k,)`` float32.
    """
    k, n_feat = components.shape
    for name, arr in (("scaler mean_", scaler_mean), ("scaler scale_", scaler_scale), ("pca mean_", pca_mean)):
        if arr.shape != (n_feat,):
            raise IntegrityError(f"{source}: {name} has shape {arr.shape}, expected ({n_feat},) to match components_ {components.shape}")
    _check_scaler(scaler_mean, scaler_scale, pca_mean, source)
    in_place = components.dtype == np.float32 and components.flags.writeable and components.flags.c_contiguous
    W = components if in_place else np.empty((k, n_feat), dtype=np.float32)
    c = np.zeros(k, dtype=np.float64)
    for start in range(0, n_feat, chunk):
        sl = slice(start, start + chunk)
        comp = components[:, sl].astype(np.float64)
        if not np.isfinite(comp).all():
            raise IntegrityError(f"{source}: pca components_ hold NaN or infinite values (columns {start} to {start + comp.shape[1] - 1})")
        scale = scaler_scale[sl].astype(np.float64)
        shift = scaler_mean[sl].astype(np.float64) / scale + pca_mean[sl].astype(np.float64)
        c -= comp @ shift
        W[:, sl] = comp / scale
    c32 = c.astype(np.float32)
    _check_folded(W, c32, source)
    return W, c32


def fold_scaler_pca_rows(
    scaler_mean: np.ndarray,
    scaler_scale: np.ndarray,
    pca_mean: np.ndarray,
    shape: tuple[int, ...],
    blocks: Iterable[tuple[int, np.ndarray]],
    source: str = "weights",
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fold_scaler_pca` over ``components_`` given as ``(start, rows)`` blocks.

    Same math, row by row: ``W[r] = components_[r] / scale``,
    ``c[r] = -components_[r] @ (mean / scale + pca_mean)`` in float64. Peak extra
    memory is one block, so the components can stream from a file.
    """
    W = np.empty(shape, dtype=np.float32)  # a shape that is not 2-D is refused by the fold, before any row

    def into(start: int, rows: np.ndarray) -> None:
        W[start : start + rows.shape[0]] = rows

    c = fold_scaler_pca_rows_to(scaler_mean, scaler_scale, pca_mean, shape, blocks, into, source)
    return W, c


def fold_scaler_pca_rows_to(
    scaler_mean: np.ndarray,
    scaler_scale: np.ndarray,
    pca_mean: np.ndarray,
    shape: tuple[int, ...],
    blocks: Iterable[tuple[int, np.ndarray]],
    sink: Callable[[int, np.ndarray], None],
    source: str = "weights",
) -> np.ndarray:
    """:func:`fold_scaler_pca_rows` handing ``W`` to ``sink`` instead of keeping it; returns ``c``.

    Each block of ``W``'s rows goes to ``sink(start, rows)``, in one reused buffer (the sink must
    copy or write it before returning), e.g. to the file that keeps it: ``W`` is never all in this
    process's memory.
    """
    if len(shape) != 2:
        raise IntegrityError(f"{source}: pca components_ should be 2-D, found shape {shape}")
    k, n_feat = shape
    for name, arr in (("scaler mean_", scaler_mean), ("scaler scale_", scaler_scale), ("pca mean_", pca_mean)):
        if arr.shape != (n_feat,):
            raise IntegrityError(f"{source}: {name} has shape {arr.shape}, expected ({n_feat},) to match components_ {shape}")
    _check_scaler(scaler_mean, scaler_scale, pca_mean, source)
    scale = scaler_scale.astype(np.float64)
    shift = scaler_mean.astype(np.float64) / scale + pca_mean.astype(np.float64)
    c = np.empty(k, dtype=np.float64)
    seen = 0
    scale_t = torch.from_numpy(scale)
    quotient: torch.Tensor | None = None
    rows = np.empty(0, dtype=np.float32)  # W's block (one buffer, reused)
    for start, block in blocks:
        comp = np.asarray(block, dtype=np.float64)
        stop = start + comp.shape[0]
        # divided in float64 and rounded once into W: torch's two passes over one reused float64 block take
        # a third of the time of NumPy's casting divide (buffered, one core) or of a fresh temporary per block
        if quotient is None or quotient.shape[0] < comp.shape[0]:
            quotient = torch.empty(comp.shape, dtype=torch.float64)
            rows = np.empty(comp.shape, dtype=np.float32)
        q = quotient[: comp.shape[0]]
        torch.div(_tensor(comp), scale_t, out=q)
        w_rows = rows[: comp.shape[0]]
        torch.from_numpy(w_rows).copy_(q)
        # a NaN or infinity in the components is one in W too (the scale is finite and not 0): the
        # block is scanned for a message only then
        if not _finite_float32(w_rows):
            if not np.isfinite(comp).all():
                raise IntegrityError(f"{source}: pca components_ hold NaN or infinite values (rows {start} to {stop - 1})")
            raise IntegrityError(f"{source}: the scaler and PCA give NaN or infinite projections; the weights are damaged")
        c[start:stop] = -(comp @ shift)
        sink(start, w_rows)
        seen += comp.shape[0]
    if seen != k:
        raise IntegrityError(f"{source}: read {seen} rows of components_, expected {k}")
    c32 = c.astype(np.float32)
    if not np.isfinite(c32).all():
        raise IntegrityError(f"{source}: the scaler and PCA give NaN or infinite projections; the weights are damaged")
    return c32


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """A torch view of an array that is only read (a read-only mapped block included: torch warns, never writes)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def _finite_float32(block: np.ndarray) -> bool:
    """Whether a float32 block of ``W`` holds no NaN or infinity (checked while it is in cache)."""
    return bool(np.isfinite(block).all())


@dataclass
class FoldedProjection(LazilyPacked):
    """``z = f @ W.T + c`` on a torch device.

    On the CPU in float32 the product runs on a copy of ``W`` in oneDNN's blocked layout, made
    at the first product and kept beside ``W`` (:mod:`berg_core.models.onednn`): 1.2-2.6x
    faster than torch's plain product for 1 to 32 images, so a projection costs its size twice
    in memory while it encodes on the CPU (``BERG_ONEDNN=0``: once, and the plain product).
    ``W`` is read-only once loaded: the copy would not follow a change.
    """

    weight: torch.Tensor  # (k, F)
    bias: torch.Tensor  # (k,)
    _packed: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_numpy(cls, W: np.ndarray, c: np.ndarray, device: torch.device) -> FoldedProjection:
        return cls(torch.from_numpy(W).to(device), torch.from_numpy(c).to(device))

    @property
    def n_components(self) -> int:
        return int(self.weight.shape[0])

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        if self.weight.device.type == "cpu" and enabled_for(features) and features.dim() == 2:
            # the layout oneDNN picks for 8 rows is within 25 % of the best at 1 to 32 rows
            packed = packed_once(self, lambda: pack_linear(self.weight, self.bias, 8, "the folded projection"))
            if packed is not None:
                return packed(features)  # type: ignore[no-any-return]
        return torch.addmm(self.bias, features, self.weight.T)



def _stacked(parts: list[np.ndarray]) -> np.ndarray:
    if len(parts) == 1:  # used as it is: a concatenated copy would double a whole-brain head while loading
        arr = np.ascontiguousarray(parts[0], dtype=np.float32)
        return arr if arr.flags.writeable else arr.copy()  # torch shares the memory and may write to it
    return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts], axis=0)


#: Outputs of a linear head are computed in blocks of this many (a multiple of every CPU vector width).
ROW_ALIGN = 16


@dataclass
class RegressionHeads(LazilyPacked):
    """Several linear regressions on the same components, computed in one product.

    ``coef`` is ``(H, U, k)`` and ``intercept`` ``(H, U)`` for ``H`` heads
    (repetitions, hemispheres...) of ``U`` outputs each; heads may have
    different ``U`` only when concatenated by the caller.
    """

    coef: torch.Tensor  # (H*U, k) stacked
    intercept: torch.Tensor  # (H*U,)
    n_heads: int
    _packed: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_numpy(cls, coefs: list[np.ndarray], intercepts: list[np.ndarray], device: torch.device) -> RegressionHeads:
        coef, intercept = _stacked(coefs), _stacked(intercepts)
        return cls(torch.from_numpy(coef).to(device), torch.from_numpy(intercept).to(device), len(coefs))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, k)`` -> ``(B, H*U)``: all heads side by side, in the order given."""
        # BLAS rounds the last outputs of a product (those past a multiple of its vector width) and a
        # single output (matrix-vector path) differently from the rest: a unit would change in the last
        # bit with its place in a selection. The outputs are computed in whole blocks of ROW_ALIGN (the
        # few left over padded with zero rows), so every unit of a selection is bit-identical to the
        # same unit of the whole output.
        # On the CPU in float32 both products run on oneDNN's packed copies (made at the first call, kept
        # beside the weights): 2-2.7x faster for whole-brain heads. oneDNN too gives a unit the same bits
        # in any block of 16 or more rows, at any place; only a single output row differs, and blocks are
        # never single rows here.
        n = self.coef.shape[0]
        whole = n - n % ROW_ALIGN
        packed = None
        if self.coef.device.type == "cpu" and enabled_for(z) and z.dim() == 2:
            packed = packed_once(self, self._pack)
        parts = []
        if whole:
            parts.append(packed[0](z) if packed else torch.addmm(self.intercept[:whole], z, self.coef[:whole].T))
        if whole != n:
            if packed:
                rest = packed[1](z)
            else:
                rest_coef, rest_intercept = self._padded_rest()
                rest = torch.addmm(rest_intercept, z, rest_coef.T)
            parts.append(rest[:, : n - whole])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _padded_rest(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows past the last whole block of ROW_ALIGN, padded with zero rows to one block."""
        n = self.coef.shape[0]
        whole = n - n % ROW_ALIGN
        extra = ROW_ALIGN - (n - whole)
        return (
            torch.cat([self.coef[whole:], self.coef.new_zeros(extra, self.coef.shape[1])]),
            torch.cat([self.intercept[whole:], self.intercept.new_zeros(extra)]),
        )

    def _pack(self) -> tuple[Any, Any] | None:
        n = self.coef.shape[0]
        whole = n - n % ROW_ALIGN
        first = pack_linear(self.coef[:whole], self.intercept[:whole], 8, "regression heads") if whole else None
        rest = pack_linear(*self._padded_rest(), 8, "regression heads") if whole != n else None
        if (whole and first is None) or (whole != n and rest is None):
            return None
        return first, rest
