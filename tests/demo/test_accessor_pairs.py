"""The ``.berg`` accessor on each plugin's results, read back from Zarr: every (model, method) pair that exists.

Exports are compared with the result's own values, placed independently from
its coordinates; pairs that do not exist raise InvalidParameterError naming the
formats that do.
"""

from __future__ import annotations

import numpy as np
import pytest

from berg_core import InvalidParameterError

EEG = "eeg-things_eeg_2-vit_b_32"
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"


def test_eeg_to_mne_epochs_and_evoked(results):
    da = results[EEG]
    values = np.asarray(da.values, dtype=np.float64)
    epochs = da.berg.to_mne()
    assert epochs.ch_names == [str(c) for c in da["channel"].values]
    np.testing.assert_allclose(epochs.get_data(), values.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(epochs.times, da["time"].values, atol=1e-9)
    evoked = da.berg.to_mne(kind="evoked")
    np.testing.assert_allclose(evoked.data, values.mean(axis=(0, 1)), rtol=1e-6)
    per_rep = da.berg.to_mne(kind="epochs", average_repetitions=False)
    np.testing.assert_allclose(per_rep.get_data()[1], values[0, 1], rtol=1e-6)  # stimulus-major order
    assert epochs.info.get_montage() is not None  # positions for topomaps


def test_eeg_pairs_that_do_not_exist(results, tmp_path):
    da = results[EEG]
    with pytest.raises(InvalidParameterError, match=r"export to \['mne'\].*not 'nifti'"):
        da.berg.to_nifti(tmp_path / "x.nii")
    with pytest.raises(InvalidParameterError, match=r"unknown to_mne option\(s\) \['tmin'\]"):
        da.berg.to_mne(tmin=0.0)
    with pytest.raises(InvalidParameterError, match="writes no file"):
        da.berg.export("mne", tmp_path / "x-epo.fif")
    with pytest.raises(InvalidParameterError, match="no reliability coordinate"):
        da.berg.reliable(0.1)


def test_fwrf_to_nifti_and_reliable(results, tmp_path):
    import nibabel as nib

    da = results[FWRF]
    path = da.berg.to_nifti(tmp_path / "v1.nii.gz")
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    i, j, k = (np.asarray(da[a].values) for a in "ijk")
    np.testing.assert_allclose(data[i, j, k, :], np.asarray(da.values).T, rtol=1e-6)
    outside = np.ones(data.shape[:3], dtype=bool)
    outside[i, j, k] = False
    assert np.isnan(data[outside]).all()
    np.testing.assert_allclose(img.affine, np.asarray(da.attrs["affine"], dtype=float).reshape(4, 4))
    kept = da.berg.reliable(0.5)
    ncsnr = np.asarray(da["ncsnr"].values)
    assert kept.sizes["voxel"] == int((ncsnr >= 0.5).sum()) > 0
    assert (np.asarray(kept["ncsnr"].values) >= 0.5).all()
    with pytest.raises(InvalidParameterError, match=r"formats: \['nifti', 'volume', 'mask'\]"):
        da.berg.to_gifti(tmp_path / "g")


def test_fsaverage_to_gifti_mgh_and_reliable(results, tmp_path):
    import nibabel as nib

    da = results[FSAVERAGE]
    lh, rh = da.berg.to_gifti(tmp_path / "gii")
    index = np.asarray(da["fsaverage_index"].values)
    on_rh = np.asarray(da["hemisphere"].values) == "rh"
    surface = np.stack(nib.load(rh).agg_data(), axis=1)  # one data array per stimulus -> (163842, stimuli)
    np.testing.assert_allclose(surface[index[on_rh]], np.asarray(da.values)[:, on_rh].T, rtol=1e-6)
    assert lh.name == "lh.berg.func.gii"
    mgh_lh, _ = da.berg.to_mgh(tmp_path / "mgh")
    assert nib.load(mgh_lh).shape == (163_842, 1, 1, da.sizes["stimulus"])
    kept = da.berg.reliable(1.0)
    assert 0 < kept.sizes["vertex"] < da.sizes["vertex"]
    assert (np.asarray(kept["ncsnr"].values) >= 1.0).all()
    with pytest.raises(InvalidParameterError, match=r"formats: \['gifti', 'mgh', 'hemispheres', 'surface'\]"):
        da.berg.to_nifti(tmp_path / "x.nii")
