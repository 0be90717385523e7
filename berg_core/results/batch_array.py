"""A batch result labelled without copying its labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import xarray as xr

__all__ = ["batch_array"]


def batch_array(values: Any, dims: Sequence[str], coords: Mapping[str, Any], attrs: Mapping[str, Any], name: str) -> xr.DataArray:
    """``xr.DataArray(values, dims=dims, coords=coords, attrs=attrs, name=name)``, sharing ``coords``' arrays.

    The DataArray constructor deep-copies every coordinate it is given: a whole-brain model that
    labels each batch with its per-vertex coordinates (seven arrays of 327,684 values for
    fsaverage) would copy them once per batch. Built through a Dataset, the result shares them
    (and ``values``); the batch loop copies what it keeps into the final result, so nothing a
    user holds aliases the model's labels.

    Parameters
    ----------
    values
        The batch's values, ``len(dims)`` dimensions.
    dims
        Their names.
    coords
        Coordinates as ``xarray`` accepts them (``name: (dims, array[, attrs])`` or variables).
    attrs
        The result's attributes (copied: they are small).
    name
        The variable's name.

    Returns
    -------
    xarray.DataArray
    """
    dataset = xr.Dataset({name: (tuple(dims), values, dict(attrs))}, coords=dict(coords))
    return dataset[name]
