"""oneDNN's prepacked float32 matrix products, for backbone forwards on the CPU.

On the 2-core AVX-512 machines berg is measured on, ``torch.nn.functional.linear``
(MKL) reaches 110-165 GFLOP/s on a ViT-B/32 layer (50 to 1,600 rows), while oneDNN
with its weights reordered once into its blocked layout reaches 190-215 GFLOP/s,
at every batch size: the single-image case gains most. oneDNN also fuses the
GELU after a product and the residual sum after another, saving a pass over the
activations each.

The packed path is used only where it computes the same function: CPU, float32,
no autocast, oneDNN built into torch, and ``$BERG_ONEDNN`` not ``0``. Every packed
weight is checked against ``F.linear`` on a few random rows when it is packed; one
that differs by more than float32 rounding is not used (the plain path is kept and
a warning says so). Values then differ from the plain path's by float32 rounding
only (a different order of summation), the same for every batch size.
"""

from __future__ import annotations

import copy
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ENV_VAR", "LazilyPacked", "PackedLinear", "enabled_for", "pack_all", "pack_linear", "packed_once"]

#: ``0`` turns the packed path off (e.g. to compare with the plain path).
ENV_VAR = "BERG_ONEDNN"

#: largest difference from ``F.linear`` accepted when a packed weight is checked, relative to
#: the largest |value| of the check's output: float32 sums of a few thousand terms differ by ~1e-6
_CHECK_TOLERANCE = 1e-4

_LOCK = threading.Lock()
_SUPPORTED: bool | None = None


def _supported() -> bool:
    global _SUPPORTED
    if _SUPPORTED is None:
        ops = getattr(torch.ops, "mkldnn", None)
        _SUPPORTED = bool(
            torch.backends.mkldnn.is_available()
            and ops is not None
            and hasattr(ops, "_reorder_linear_weight")
            and hasattr(ops, "_linear_pointwise")
        )
    return _SUPPORTED


def enabled_for(x: torch.Tensor) -> bool:
    """Whether a product on ``x`` may take the packed path (CPU, float32, no autocast, not turned off)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and os.environ.get(ENV_VAR, "1") != "0"
        and not torch.is_autocast_enabled("cpu")
        and _supported()
    )


class PackedLinear:
    """``x @ weight.T + bias`` with the weight in oneDNN's layout; optionally GELU or ``+ other`` fused.

    The plain ``weight`` is not copied or kept: the module that owns it keeps it.
    """

    __slots__ = ("bias", "out_features", "packed")

    def __init__(self, packed: torch.Tensor, bias: torch.Tensor | None, out_features: int) -> None:
        self.packed = packed
        self.bias = bias
        self.out_features = out_features

    def __call__(self, x: torch.Tensor, activation: str = "none") -> torch.Tensor:
        """``linear(x)``, or ``gelu(linear(x))`` (exact, erf) with ``activation="gelu"``."""
        if activation == "gelu":
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu", [], "none")
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def add(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """``linear(x) + other`` in one pass (``other`` has the output's shape)."""
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, self.bias, "add")


def pack_linear(weight: torch.Tensor, bias: torch.Tensor | None, rows_hint: int, name: str = "linear") -> PackedLinear | None:
    """``weight`` ``(out, in)`` reordered for oneDNN, checked; ``None`` where the packed path can't be used.

    Parameters
    ----------
    weight, bias
        The layer's float32 CPU parameters.
    rows_hint
        The typical number of rows of the inputs (oneDNN picks its layout for it; any number of rows
        gives the same values).
    name
        Names the layer in the warning when the check fails.
    """
    if not enabled_for(weight):
        return None
    w = weight.detach().contiguous()
    b = None if bias is None else bias.detach().contiguous()
    try:
        with _LOCK, torch.inference_mode():
            packed = torch.ops.mkldnn._reorder_linear_weight(w, max(1, int(rows_hint)))
            layer = PackedLinear(packed, b, int(w.shape[0]))
            probe = torch.randn(4, w.shape[1], generator=torch.Generator().manual_seed(0))
            expected = F.linear(probe, w, b)
            got = layer(probe)
            scale = float(expected.abs().max()) or 1.0
            if got.shape != expected.shape or not float((got - expected).abs().max()) <= _CHECK_TOLERANCE * scale:
                raise ValueError("packed product differs from F.linear beyond float32 rounding")
    except Exception as exc:  # an op missing from this torch build, or a wrong result: keep the plain path
        warnings.warn(f"berg: oneDNN's packed product is not used for {name} ({exc}); using torch's plain one",
                      RuntimeWarning, stacklevel=2)
        return None
    return layer


def pack_all(layers: list[tuple[str, torch.Tensor, torch.Tensor | None]], rows_hint: int) -> list[PackedLinear] | None:
    """Pack several ``(name, weight, bias)`` layers, in order; ``None`` unless every one packs."""
    out = []
    for name, weight, bias in layers:
        packed = pack_linear(weight, bias, rows_hint, name)
        if packed is None:
            return None
        out.append(packed)
    return out


_ONCE_LOCK = threading.Lock()
_NOT_PACKED = object()


def packed_once(owner: Any, build: Callable[[], Any]) -> Any:
    """``owner._packed``, made by ``build()`` at the first call (``None`` where it returned ``None``: not again).

    For weights objects whose product packs lazily at its first CPU float32 use. The attribute is
    named ``_packed`` everywhere: the request fingerprint (:mod:`berg_core.results.identity`) skips it,
    and a deep copy must not carry it (it would not follow the copy's weights).
    """
    packed = owner.__dict__.get("_packed")
    if packed is None:
        with _ONCE_LOCK:
            packed = owner.__dict__.get("_packed")
            if packed is None:
                packed = build()
                if packed is None:
                    packed = _NOT_PACKED
                owner._packed = packed
    return None if packed is _NOT_PACKED else packed


class LazilyPacked:
    """Mixin of weights objects whose product packs at its first CPU float32 use (:func:`packed_once`).

    A deep copy or a pickle leaves the packed copy behind: the copy packs its own weights when it
    first encodes (a packed copy would not follow the copy's weights, and oneDNN's tensors do not pickle).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items() if k != "_packed"})
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_packed"}
