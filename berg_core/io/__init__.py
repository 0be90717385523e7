"""Safe readers for the file formats of BERG stores."""

from .safe_pickle import load_pickled_npy, restricted_loads

__all__ = ["load_pickled_npy", "restricted_loads"]
