"""The one check that a result handed to an export or plot is the one it was written for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import xarray as xr

from berg_core.errors import InvalidParameterError

__all__ = ["check_result"]


def check_result(
    result: Any, dims: Sequence[str], model_id: str, coords: Iterable[str] = (), attrs: Iterable[str] = ()
) -> xr.DataArray:
    """``result`` itself, once it is a DataArray with exactly ``dims`` that holds ``coords`` and ``attrs``.

    Parameters
    ----------
    result
        What the user handed over (from ``BERG.encode`` or read back from a store).
    dims
        The dims, in order, of ``model_id``'s results.
    model_id
        Whose results the caller takes (for the message).
    coords, attrs
        Coordinates and attrs the caller reads.

    Raises
    ------
    InvalidParameterError
        Anything else, saying what was expected and what was given.
    """
    if not isinstance(result, xr.DataArray):
        raise InvalidParameterError(
            f"expected the xarray.DataArray returned by BERG.encode for {model_id}, got {type(result).__name__}"
        )
    dims = tuple(dims)
    if tuple(result.dims) != dims:
        # the usual way to lose a dimension: indexing one stimulus with an int
        hint = (" (keep the stimulus dimension, e.g. result.isel(stimulus=[0]) rather than isel(stimulus=0))"
                if "stimulus" in dims and "stimulus" not in result.dims else "")
        raise InvalidParameterError(f"expected a result with dims {dims} from {model_id}, got dims {tuple(result.dims)}{hint}")
    missing = [c for c in coords if c not in result.coords] + [a for a in attrs if a not in result.attrs]
    if missing:
        raise InvalidParameterError(f"the result lacks {missing}; expected a result of {model_id} with its coordinates and attrs")
    return result
