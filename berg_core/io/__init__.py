"""Safe readers for the file formats of BERG stores."""

from .safe_pickle import load_pickled_npy, restricted_loads
from .torch_checkpoint import TorchCheckpoint, load_torch_checkpoint

__all__ = ["TorchCheckpoint", "load_pickled_npy", "load_torch_checkpoint", "restricted_loads"]
