"""Checks that a result handed to an export function is what the function expects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import xarray as xr

from berg_core.plugin import InvalidParameterError

__all__ = ["check_result"]


def check_result(responses: Any, dim: str, coords: Iterable[str], attrs: Iterable[str], model_id: str) -> xr.DataArray:
    """``responses`` as a ``(stimulus, dim)`` DataArray holding ``coords`` and ``attrs``.

    Raises
    ------
    InvalidParameterError
        Anything else, saying what was expected.
    """
    if not isinstance(responses, xr.DataArray):
        raise InvalidParameterError(
            f"expected the xarray.DataArray returned by BERG.encode for {model_id}, got {type(responses).__name__}"
        )
    if responses.dims != ("stimulus", dim):
        raise InvalidParameterError(
            f"expected a result with dims ('stimulus', {dim!r}) from {model_id}, got dims {responses.dims} "
            "(keep the stimulus dimension, e.g. responses.isel(stimulus=[0]) rather than isel(stimulus=0))"
        )
    missing = [c for c in coords if c not in responses.coords] + [a for a in attrs if a not in responses.attrs]
    if missing:
        raise InvalidParameterError(f"the result lacks {missing}; expected a result of {model_id} with its coordinates and attrs")
    return responses
