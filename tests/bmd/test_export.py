"""fmri-bmd-s3d results back into the MNI volume: NIfTI round trip, 4-D volume, mask, plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import InvalidParameterError

from .bmd_reference import load_pickled, metadata_path


def test_nifti_round_trip(full_train: Any, bmd_store: Path, tmp_path: Path) -> None:
    import nibabel as nib

    meta = load_pickled(metadata_path(bmd_store, 1))
    path = full_train.berg.export("nifti", tmp_path / "out" / "bmd.nii.gz")
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    mask = meta["fmri"]["sub_mask"]
    assert data.shape == (*mask.shape, 2) and data.dtype == np.float32
    np.testing.assert_array_equal(img.affine, meta["fmri"]["sub_mask_affine"])
    for s in range(2):  # BERG 2.0's plot script: vol[sub_mask] = values
        np.testing.assert_array_equal(data[..., s][mask], full_train.values[s])
        assert np.isnan(data[..., s][~mask]).all()
    assert img.header.get_sform(coded=True)[1] == 4  # MNI


def test_selected_result_goes_to_its_voxels(load: Any, features: Any, tmp_path: Path) -> None:
    with load(selection={"roi": "rEBA"}) as model:
        out = model.encode_features(features, ["a", "b"])
    vol = out.berg.export("volume")
    mask = out.berg.export("mask")
    assert mask.sum() == out.sizes["voxel"]
    np.testing.assert_array_equal(vol[out["i"].values, out["j"].values, out["k"].values, 1], out.values[1])
    assert np.isnan(vol[~mask]).all()


def test_export_errors(full_train: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="formats"):
        full_train.berg.export("gifti", tmp_path / "x")
    with pytest.raises(InvalidParameterError, match=r"\.nii"):
        full_train.berg.export("nifti", tmp_path / "x.png")


def test_plot(full_train: Any, tmp_path: Path) -> None:
    fig = full_train.berg.plot(tmp_path / "bmd.png", stimulus=1, n_slices=4, reliability=30)
    assert (tmp_path / "bmd.png").stat().st_size > 1000
    title = fig.get_suptitle()
    assert "fmri-bmd-s3d" in title and "MNI volume" in title and "noise ceiling" in title
    with pytest.raises(InvalidParameterError, match="n_slices"):
        full_train.berg.plot(None, n_slices=0)
