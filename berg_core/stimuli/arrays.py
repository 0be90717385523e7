"""Arrays and tensors as stimuli: shapes, dtypes, values and reads, checked before anything is encoded.

Conversion rules (the same as for image files, see :mod:`berg_core.stimuli.files`):

* uint8: kept as it is.
* uint16: a 16-bit image, scaled to float32 ``value / 65535``.
* other integers (int8-int64, uint32, uint64): values must lie in 0-255, converted to uint8,
  never rescaled (BERG 2.0 silently produced near-zero features for int64 images).
* floats (float16, bfloat16 tensors, float32, float64...): finite values in [0, 1], as float32.
* boolean, complex, object, string and structured dtypes are refused.

Shapes: ``(N, 3, H, W)`` colour, ``(N, 1, H, W)`` or ``(N, H, W)`` grey (repeated on three
channels without a copy). A 3-dimensional array of 3 images is ambiguous (one colour image
without its batch axis?) and refused with both readings spelled out. Views are never copied
whole: a broadcast view of one image repeated 10^6 times costs one image of memory, its
values are checked once, and each batch is converted when it is read.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from berg_core.errors import BERGError, StimulusError
from berg_core.io.zarr_chunks import missing_chunks

__all__ = ["as_rgb_view", "check_lazy", "check_values", "read_rows", "to_pixels", "torch_to_numpy"]

_ACCEPTED_DTYPES = "uint8, another integer type in 0-255, or float in [0, 1] (uint16: 16-bit, scaled by 1/65535)"
#: rows are checked in blocks of about this many bytes, so a check never allocates much
_CHECK_BLOCK_BYTES = 1 << 26


def _torch() -> Any:
    import torch

    return torch


def check_dtype(dtype: Any, what: str) -> np.dtype:
    """``dtype`` as a NumPy dtype of a kind images can have, or a :class:`StimulusError`."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise StimulusError(f"{what} has dtype {str(dtype)[:80]!r}, which is not a NumPy dtype ({exc}); expected {_ACCEPTED_DTYPES}") from None
    if dt.kind == "b":
        raise StimulusError(f"{what} is boolean; expected uint8 values 0-255 or floats in [0, 1] (got dtype bool)")
    if dt.kind not in "uif" or dt.fields is not None:
        raise StimulusError(f"{what} has dtype {dt}; expected {_ACCEPTED_DTYPES}")
    return dt


def check_shape(shape: tuple[Any, ...], what: str) -> tuple[int, ...]:
    """The shape as ints, refusing what no image batch can be (rank, channels, empty, negative)."""
    try:
        dims = given = tuple(int(d) for d in shape)
    except (TypeError, ValueError, OverflowError):
        raise StimulusError(f"{what} has shape {shape!r}, which is not a list of whole numbers (unknown chunk sizes?)") from None
    if any(d < 0 for d in dims):
        raise StimulusError(f"{what} has a negative size in its shape {dims}; expected (N, 3, H, W)")
    if len(dims) == 3:
        if dims[0] == 3:
            raise StimulusError(
                f"{what} must have 4 dimensions (N, 3, H, W), got shape {dims}, which is ambiguous: "
                "for one colour image use x[None]; for three grey images (N, H, W) use x[:, None]"
            )
        dims = (dims[0], 1, dims[1], dims[2])  # grey (N, H, W)
    elif len(dims) != 4:
        raise StimulusError(f"{what} must have 4 dimensions (N, 3, H, W), got shape {dims}; grey images may be (N, H, W)")
    n, c, h, w = dims
    if n == 0:
        raise StimulusError(f"{what} holds no images (shape {given}); expected at least one image")
    if c not in (1, 3):
        hint = " (channels-last? use x.transpose(0, 3, 1, 2))" if dims[-1] in (1, 3) else ""
        raise StimulusError(f"{what} must have 3 colour channels on axis 1 (N, 3, H, W), got shape {given}{hint}; grey images: 1 channel")
    if h == 0 or w == 0:
        raise StimulusError(f"{what} has empty images (shape {given}); expected H and W of at least 1 pixel")
    return dims


def as_rgb_view(arr: np.ndarray) -> np.ndarray:
    """``(N, 3, H, W)`` view of a colour or grey array; grey channels are repeated without a copy."""
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.shape[1] == 1:
        arr = np.broadcast_to(arr, (arr.shape[0], 3, *arr.shape[2:]))
    return arr


def _distinct(arr: np.ndarray) -> np.ndarray:
    """The part of ``arr`` that holds all its values: axes repeated by a zero stride are cut to one."""
    index = tuple(slice(0, 1) if s == 0 and n > 1 else slice(None) for s, n in zip(arr.strides, arr.shape, strict=True))
    return arr[index]


def _value_check(block: np.ndarray, what: str) -> None:
    kind = block.dtype.kind
    if block.dtype == np.uint8 or block.dtype == np.uint16 or block.size == 0:
        return
    if kind in "iu":
        lo, hi = int(block.min()), int(block.max())
        if lo < 0 or hi > 255:
            raise StimulusError(
                f"{what} has integer dtype {block.dtype} with values in [{lo}, {hi}]; integer images must lie in 0-255 "
                "(uint16 images are scaled by 1/65535)"
            )
    elif kind == "f":
        lo_f, hi_f = float(np.min(block)), float(np.max(block))
        if not (math.isfinite(lo_f) and math.isfinite(hi_f)) or np.isnan(block).any():
            raise StimulusError(f"{what} contains NaN or infinite values; expected floats in [0, 1]")
        if lo_f < 0.0 or hi_f > 1.0:
            raise StimulusError(
                f"{what} has float values in [{lo_f:g}, {hi_f:g}]; float images must lie in [0, 1] "
                "(divide uint8 data by 255, or pass it as uint8)"
            )


def check_values(arr: np.ndarray, what: str) -> None:
    """Check every value of ``arr`` against its dtype's rule, in bounded blocks, once per distinct value."""
    check_dtype(arr.dtype, what)
    arr = _distinct(arr)
    if isinstance(arr, np.ma.MaskedArray) and np.ma.getmaskarray(arr).any():
        raise StimulusError(f"{what} is a masked array with masked pixels; fill them first (x.filled(0))")
    row_bytes = max(1, arr[:1].nbytes)
    step = max(1, _CHECK_BLOCK_BYTES // row_bytes)
    for start in range(0, arr.shape[0], step):
        _value_check(np.asarray(arr[start : start + step]), what)


def to_pixels(block: np.ndarray, what: str, check: bool = True) -> np.ndarray:
    """``block`` as uint8, or float32 in [0, 1], by the module's rules (values checked if ``check``)."""
    dt = check_dtype(block.dtype, what)
    if check:
        _value_check(block, what)
    if dt == np.uint8:
        return block
    if dt == np.uint16:
        return block.astype(np.float32) / np.float32(65535)
    if dt.kind in "iu":
        return block.astype(np.uint8)
    return block.astype(np.float32)


def torch_to_numpy(t: Any, what: str) -> np.ndarray | list[Any]:
    """A tensor's values as NumPy (a view where possible); nested tensors as a list of their images."""
    torch = _torch()
    if getattr(t, "is_nested", False):
        return list(t.unbind())
    if t.layout != torch.strided:
        raise StimulusError(f"{what} is a sparse tensor (layout {t.layout}); pass t.to_dense()")
    if t.is_meta or t.device.type == "meta":
        raise StimulusError(f"{what} is a meta tensor of shape {tuple(t.shape)}: it has a shape but no values")
    if t.is_quantized:
        raise StimulusError(f"{what} is a quantized tensor ({t.dtype}); pass t.dequantize()")
    if t.is_complex():
        raise StimulusError(f"{what} has dtype {t.dtype}; expected {_ACCEPTED_DTYPES}")
    try:
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.bfloat16:
            # NumPy has no bfloat16: widen the distinct values only, then repeat them as the view did
            index = tuple(slice(0, 1) if s == 0 and n > 1 else slice(None) for s, n in zip(t.stride(), t.shape, strict=True))
            t = t[index].to(torch.float32).expand(t.shape)
        return t.numpy()
    except BERGError:
        raise
    except (TypeError, RuntimeError, ValueError) as exc:
        raise StimulusError(f"{what} (dtype {t.dtype}, device {t.device}) cannot be read as an array ({exc}); expected {_ACCEPTED_DTYPES}") from None


def check_lazy(arr: Any, what: str) -> tuple[int, ...]:
    """The shape of an on-disk array, its shape and dtype checked before it is read."""
    try:
        shape, dtype = arr.shape, arr.dtype
    except BERGError:
        raise
    except Exception as exc:  # any array library's own failure: the array cannot be used
        raise StimulusError(f"{what} cannot be inspected ({type(exc).__name__}: {exc})") from None
    try:
        raw = tuple(int(d) for d in shape)
    except (TypeError, ValueError, OverflowError):
        raise StimulusError(f"{what} has shape {shape!r}, which is not a list of whole numbers (unknown chunk sizes?)") from None
    check_shape(raw, what)
    check_dtype(dtype, what)
    return raw


def read_rows(arr: Any, start: int, stop: int, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Rows ``start..stop-1`` of an on-disk array of ``shape`` (from :func:`check_lazy`) as checked ``(B, 3, H, W)`` pixels."""
    rows = f"stimulus rows {start}-{stop - 1} of {what}"
    try:
        missing = missing_chunks(arr, range(start, stop))
        if missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise StimulusError(
                f"{rows}: {len(missing)} chunk(s) are missing from the Zarr store ({shown}); Zarr would read them as "
                "the fill value (black images). Write the array completely (zarr.config.set({'array.write_empty_chunks': True}) "
                "if some images are entirely the fill value)"
            )
        block = np.asarray(arr[start:stop])
    except BERGError:
        raise
    except MemoryError:
        raise StimulusError(f"{rows} do not fit in memory; pass a smaller batch_size") from None
    except Exception as exc:  # a damaged chunk, a failed read, a codec error: whatever the library raises
        raise StimulusError(f"reading {rows} failed ({type(exc).__name__}: {str(exc)[:300]})") from None
    if block.shape != (stop - start, *shape[1:]):
        raise StimulusError(
            f"reading {rows} gave an array of shape {block.shape}, not the {stop - start} rows of shape {shape[1:]} "
            "its shape promises (a truncated or inconsistent array)"
        )
    return as_rgb_view(to_pixels(block, rows, check=True))
