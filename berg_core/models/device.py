"""Turning the user's ``device=`` into a torch device, with clear errors."""

from __future__ import annotations

from typing import Any

from berg_core.errors import InvalidParameterError

__all__ = ["batch_size_for", "resolve_device", "to_device"]


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


def to_device(x: Any, device: Any) -> Any:
    """``x`` on ``device``; a CPU tensor bound for CUDA goes through pinned memory with a non-blocking copy.

    The copy is queued on the current CUDA stream, so kernels queued after it see the data, and
    the host returns at once (the next batch can be prepared meanwhile). Elsewhere it is ``x.to(device)``.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and isinstance(x, torch.Tensor) and x.device.type == "cpu":
        return x.pin_memory().to(dev, non_blocking=True)
    return x.to(dev)


def batch_size_for(device: Any, bytes_per_item: int, default: int, fraction: float = 0.5, cap: int = 1024) -> int:
    """A batch size that fits the device: on CUDA ``fraction`` of the free memory over ``bytes_per_item``.

    Parameters
    ----------
    device
        A torch device (or its name).
    bytes_per_item
        Device memory one stimulus needs during a forward pass (activations and outputs).
    default
        What CPU devices get (their batch size is set by cache sizes, not free memory).
    fraction
        Share of the free device memory a batch may use.
    cap
        The largest batch size returned.

    Raises
    ------
    InvalidParameterError
        ``bytes_per_item`` is not positive or ``fraction`` is not in (0, 1].
    """
    import torch

    if bytes_per_item <= 0 or not 0 < fraction <= 1:
        raise InvalidParameterError(
            f"batch_size_for needs bytes_per_item > 0 and 0 < fraction <= 1, got {bytes_per_item} and {fraction}"
        )
    dev = torch.device(device)
    if dev.type != "cuda":
        return int(default)
    free, _total = torch.cuda.mem_get_info(dev)
    return max(1, min(int(cap), int(free * fraction // bytes_per_item)))
