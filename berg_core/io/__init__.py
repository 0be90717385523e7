"""Safe readers for the file formats of BERG stores.

The torch checkpoint reader is imported on first use: reading ``.npy`` files
and model cards must not pay for importing torch.
"""

from typing import Any

from berg_core.io.safe_pickle import load_pickled_npy, restricted_loads

__all__ = ["TorchCheckpoint", "load_pickled_npy", "load_torch_checkpoint", "restricted_loads"]


def __getattr__(name: str) -> Any:
    if name in ("TorchCheckpoint", "load_torch_checkpoint"):
        from berg_core.io import torch_checkpoint

        return getattr(torch_checkpoint, name)
    raise AttributeError(f"module 'berg_core.io' has no attribute {name!r}")
