"""Turning the user's ``device=`` into a torch device, with clear errors."""

from __future__ import annotations

from typing import Any

from berg_core.errors import InvalidParameterError

__all__ = ["resolve_device"]


def resolve_device(device: Any = "auto") -> Any:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        text = device.strip().lower()
        if text == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(text)
        except RuntimeError:
            raise InvalidParameterError(
                f"device={device!r} is not a device; expected 'auto', 'cpu', 'cuda' or 'cuda:N'"
            ) from None
    else:
        raise InvalidParameterError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {type(device).__name__}")
    if dev.type not in {"cpu", "cuda"}:
        raise InvalidParameterError(f"device={device!r} is not supported; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError(f"device={device!r} was asked for, but CUDA is not available here; use 'cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidParameterError(
                f"device={device!r}: there are only {torch.cuda.device_count()} CUDA device(s) (0-{torch.cuda.device_count() - 1})"
            )
    return dev
