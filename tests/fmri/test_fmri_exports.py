"""Exports of results: BERG 2.0's tuple, GIFTI, MGH and NIfTI, read back with nibabel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import berg_fmri_nsd
import nibabel as nib
import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .helpers import fwrf_meta

N = 163_842


@pytest.fixture(scope="module")
def surface_result(berg: Any, torch_home: Path, shared_backbone: Any) -> Any:
    from berg_core.backbones import VIT_B_32_FILENAME

    imgs = np.random.default_rng(8).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    model = berg.get_encoding_model("fmri-nsd_fsaverage-vit_b_32", subject=1, selection={"roi": ["V1", "OPA"]}, device="cpu",
                                    backbone_weights=torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME)
    return berg.encode(model, imgs, show_progress=False)


@pytest.fixture(scope="module")
def volume_result(berg: Any) -> Any:
    imgs = np.random.default_rng(9).integers(0, 256, (3, 3, 100, 90), dtype=np.uint8)
    return berg.encode(berg.get_encoding_model("fmri-nsd-fwrf", subject=1, selection={"roi": ["FFA-1", "lateral"]}, device="cpu"),
                       imgs, show_progress=False)


def _expected_surface(result: Any, hemi: str) -> np.ndarray:
    """(stimuli, 163842) written independently: NaN, then the hemisphere's values at their indices."""
    full = np.full((result.sizes["stimulus"], N), np.nan, dtype=np.float32)
    on = result["hemisphere"].values == hemi
    full[:, result["fsaverage_index"].values[on]] = result.values[:, on]
    return full


def test_split_hemispheres_is_bergs_tuple(surface_result: Any) -> None:
    lh, rh = berg_fmri_nsd.split_hemispheres(surface_result)
    on_lh = surface_result["hemisphere"].values == "lh"
    np.testing.assert_array_equal(lh, surface_result.values[:, on_lh])
    np.testing.assert_array_equal(rh, surface_result.values[:, ~on_lh])
    lh1, rh1 = surface_result.isel(stimulus=[0]).berg.export("hemispheres")
    assert lh1.shape == (1, lh.shape[1]) and rh1.shape == (1, rh.shape[1])


def test_gifti_round_trip(surface_result: Any, tmp_path: Path) -> None:
    lh_path, rh_path = berg_fmri_nsd.to_gifti(surface_result, tmp_path / "out", name="faces")
    assert (lh_path.name, rh_path.name) == ("lh.faces.func.gii", "rh.faces.func.gii")
    for hemi, path in (("lh", lh_path), ("rh", rh_path)):
        img = nib.load(path)
        assert len(img.darrays) == 2 and [d.meta["Name"] for d in img.darrays] == ["0", "1"]
        data = np.stack([d.data for d in img.darrays])
        np.testing.assert_array_equal(data, _expected_surface(surface_result, hemi))


def test_mgh_round_trip_through_the_accessor(surface_result: Any, tmp_path: Path) -> None:
    lh_path, rh_path = surface_result.berg.to_mgh(tmp_path)
    for hemi, path in (("lh", lh_path), ("rh", rh_path)):
        data = np.asarray(nib.load(path).dataobj)
        assert data.shape == (N, 1, 1, 2) and data.dtype.str[1:] == "f4"  # MGH is big-endian float32
        np.testing.assert_array_equal(data[:, 0, 0, :].T, _expected_surface(surface_result, hemi))


def test_single_stimulus_gifti_keeps_one_frame(surface_result: Any, tmp_path: Path) -> None:
    lh_path, _ = surface_result.isel(stimulus=[1]).berg.to_gifti(tmp_path, name="one")
    img = nib.load(lh_path)
    assert len(img.darrays) == 1
    np.testing.assert_array_equal(img.darrays[0].data, _expected_surface(surface_result, "lh")[1])


def test_nifti_round_trip(volume_result: Any, store_root: Path, tmp_path: Path) -> None:
    path = berg_fmri_nsd.to_nifti(volume_result, tmp_path / "sub" / "ffa.nii.gz")
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    union = fwrf_meta(store_root, 1, "FFA-1")["fmri"]["roi_mask_volume"] | fwrf_meta(store_root, 1, "lateral")["fmri"]["roi_mask_volume"]
    assert data.shape == (*union.shape, 3)
    # NIfTI stores the affine as float32
    np.testing.assert_allclose(img.affine, fwrf_meta(store_root, 1, "FFA-1")["fmri"]["fmri_affine"], rtol=1e-6)
    for s in range(3):
        np.testing.assert_array_equal(data[..., s][union], volume_result.values[s])  # vol[mask] = response
        assert np.isnan(data[..., s][~union]).all()
    assert img.header.get_xyzt_units()[0] == "mm"


def test_mask_and_volume(volume_result: Any, store_root: Path) -> None:
    union = fwrf_meta(store_root, 1, "FFA-1")["fmri"]["roi_mask_volume"] | fwrf_meta(store_root, 1, "lateral")["fmri"]["roi_mask_volume"]
    np.testing.assert_array_equal(berg_fmri_nsd.roi_mask(volume_result), union)
    np.testing.assert_array_equal(volume_result.berg.export("mask"), union)
    vol = volume_result.isel(stimulus=[2]).berg.export("volume")
    assert vol.shape == (*union.shape, 1)
    np.testing.assert_array_equal(vol[union][:, 0], volume_result.values[2])
    np.testing.assert_array_equal(berg_fmri_nsd.affine_of(volume_result), fwrf_meta(store_root, 1, "lateral")["fmri"]["fmri_affine"])


def test_reliability_mask_through_the_accessor(volume_result: Any) -> None:
    kept = volume_result.berg.reliable(0.5)
    assert (kept["ncsnr"].values >= 0.5).all() and kept.sizes["voxel"] == int((volume_result["ncsnr"] >= 0.5).sum())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, v, p: berg_fmri_nsd.to_gifti(s.values, p), r"expected the xarray.DataArray returned by BERG.encode for fmri-nsd_fsaverage-vit_b_32, got ndarray"),
        (lambda s, v, p: berg_fmri_nsd.split_hemispheres(s.isel(stimulus=0)), r"expected a result with dims \('stimulus', 'vertex'\).*got dims \('vertex',\)"),
        (lambda s, v, p: berg_fmri_nsd.to_nifti(s, p / "x.nii"), r"expected a result with dims \('stimulus', 'voxel'\) from fmri-nsd-fwrf"),
        (lambda s, v, p: berg_fmri_nsd.to_nifti(v, p / "x.img"), r"a NIfTI file name must end in .nii or .nii.gz, got"),
        (lambda s, v, p: berg_fmri_nsd.to_gifti(s, p, name="a/b"), r"name must be a non-empty file name stem without '/', got 'a/b'"),
        (lambda s, v, p: berg_fmri_nsd.full_surface(s, "left"), r"hemisphere must be one of \['lh', 'rh'\], got 'left'"),
        (lambda s, v, p: s.berg.export("nifti", p), r"fmri-nsd_fsaverage-vit_b_32 results cannot be exported as 'nifti'; formats: \['gifti', 'mgh', 'hemispheres', 'surface'\]"),
        (lambda s, v, p: v.berg.to_gifti(p), r"fmri-nsd-fwrf results cannot be exported as 'gifti'; formats: \['nifti', 'volume', 'mask'\]"),
        (lambda s, v, p: v.berg.export("nifti"), r"exporting as 'nifti' writes files: give a path"),
        (lambda s, v, p: s.berg.to_gifti(p, colour="red"), r"unknown option\(s\) \['colour'\] for fmri-nsd_fsaverage-vit_b_32.export\('gifti'\); accepted: \['name'\]"),
        (lambda s, v, p: berg_fmri_nsd.roi_mask(v.drop_vars("i")), r"the result lacks \['i'\]"),
    ],
)
def test_bad_exports(surface_result: Any, volume_result: Any, tmp_path: Path, call: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        call(surface_result, volume_result, tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, v, p: berg_fmri_nsd.to_gifti(s, p / "a_file" / "out"), r"cannot create the output folder .*a_file/out"),
        (lambda s, v, p: berg_fmri_nsd.to_nifti(v, p / "a_file" / "x.nii"), r"cannot create the output folder .*a_file"),
        (lambda s, v, p: berg_fmri_nsd.to_mgh(s, p / "a_folder", name="taken"), r"cannot write .*lh\.taken\.mgh"),
    ],
)
def test_exports_that_cannot_be_written_are_store_errors(surface_result: Any, volume_result: Any, tmp_path: Path, call: Any,
                                                         message: str) -> None:
    from berg_core.errors import StoreError

    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder" / "lh.taken.mgh").mkdir(parents=True)  # a folder where the file should go
    with pytest.raises(StoreError, match=message):
        call(surface_result, volume_result, tmp_path)
