"""Volume results (``i``/``j``/``k`` coords, ``affine``/``volume_shape`` attrs) go back into their volume."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from berg_core.errors import IntegrityError
from berg_core.plugin import volume_affine, volume_mask, volume_shape, volume_values, voxel_indices


def _result(i: list[int], affine: list[float] | None = None, shape: tuple[int, ...] = (3, 4, 5)) -> xr.DataArray:
    values = np.arange(2 * len(i), dtype=np.float32).reshape(2, len(i))
    coords = {"i": ("voxel", i), "j": ("voxel", [1] * len(i)), "k": ("voxel", [2] * len(i))}
    attrs = {"affine": affine if affine is not None else np.eye(4).ravel().tolist(), "volume_shape": list(shape)}
    return xr.DataArray(values, dims=("stimulus", "voxel"), coords=coords, attrs=attrs)


def test_values_land_on_their_voxels_and_nan_elsewhere() -> None:
    da = _result([0, 2])
    vol = volume_values(da)
    assert vol.shape == (3, 4, 5, 2) and vol.dtype == np.float32
    np.testing.assert_array_equal(vol[[0, 2], 1, 2, :], da.values.T)
    assert np.isnan(vol).sum() == vol.size - 4
    assert volume_mask(da).sum() == 2 and volume_mask(da)[2, 1, 2]
    assert volume_shape(da) == (3, 4, 5) and [a.tolist() for a in voxel_indices(da)] == [[0, 2], [1, 1], [2, 2]]
    np.testing.assert_array_equal(volume_affine(da), np.eye(4))


@pytest.mark.parametrize(
    ("da", "message"),
    [
        (_result([0, 3]), r"voxel coordinate i lies outside the volume of shape \(3, 4, 5\)"),
        (_result([-1]), "voxel coordinate i lies outside"),
        (_result([0], affine=[1.0] * 12), "affine attr should hold 16 numbers, found 12"),
        (_result([0], shape=(3, 4)), "volume_shape attr should hold 3 sizes"),
    ],
)
def test_broken_geometry_is_an_integrity_error(da: xr.DataArray, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        volume_values(da)
        volume_affine(da)
