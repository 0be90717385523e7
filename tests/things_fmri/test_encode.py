"""Encoding equals BERG 2.0's math on the seeded weights; labels come from the metadata."""

from __future__ import annotations

import numpy as np
import pytest

from .reference import MODEL_ID, N_VOXELS, assert_matches, load_pickled, metadata_path


@pytest.mark.parametrize("preprocessing", ["train", "berg-2.0"])
def test_output_equals_reference_math(load, berg, images, expected, preprocessing):
    kwargs = {} if preprocessing == "train" else {"preprocessing": preprocessing}
    with load(**kwargs) as model:
        result = berg.encode(model, images, batch_size=2, show_progress=False)
    assert result.dims == ("stimulus", "voxel")
    assert result.shape == (3, N_VOXELS)
    assert result.attrs["preprocessing"] == preprocessing
    assert_matches(result.values, expected[preprocessing])


def test_preprocessing_modes_differ(expected):
    # the BERG 2.0 transform crops a border the fitting-time one keeps
    assert np.abs(expected["train"] - expected["berg-2.0"]).max() > 1e-3 * np.abs(expected["train"]).max()


def test_voxel_labels_come_from_the_metadata(full, store_root):
    meta = load_pickled(metadata_path(store_root, 1))
    r = full
    np.testing.assert_array_equal(r["voxel"].values, np.arange(N_VOXELS))
    coords = meta["fmri"]["voxel_coords"]
    for axis, column in zip("xyz", coords.T, strict=True):
        np.testing.assert_array_equal(r[f"voxel_{axis}"].values, column)
    enc = meta["encoding_model"]
    np.testing.assert_array_equal(r["noise_ceiling"].values, enc["noise_ceiling_singletrial"])
    np.testing.assert_array_equal(r["noise_ceiling_testset"].values, enc["noise_ceiling_testset"])
    np.testing.assert_array_equal(r["correlation"].values, enc["correlation_results"])
    np.testing.assert_array_equal(r["percent_noise_ceiling"].values, enc["percent_noise_ceiling"])
    # ROI membership: every ROI's voxels name it, and IT's overlap with the FFAs is visible
    rois = r["rois"].values
    for name in ("V1", "lFFA", "IT"):
        idx = meta["roi"][name]
        assert all(name in str(m).split(",") for m in rois[idx])
    ffa = meta["roi"]["lFFA"][0]
    assert set(str(rois[ffa]).split(",")) == {"lFFA", "IT"}
    assert set(r["roi"].values.tolist()) == {""}  # nothing was selected by ROI
    assert r.berg.reliability().name == "noise_ceiling"


def test_attrs(full):
    a = full.attrs
    assert a["model_id"] == MODEL_ID and a["subject"] == 1
    assert a["modality"] == "fmri" and "z-scored" in a["units"]
    assert "affine" not in a  # BERG 2.0's metadata holds no volume geometry
    assert full.dtype == np.float32


def test_subjects_have_their_own_weights(load, features, full):
    with load(subject=2) as model:
        two = model.encode_features(features, [0, 1, 2])
    assert two.attrs["subject"] == 2 and two.shape == full.shape
    assert not np.allclose(two.values, full.values)


def test_digit_string_subject(load, features, full):
    with load(subject="1") as model:
        assert model.subject == 1
        np.testing.assert_array_equal(model.encode_features(features, [0, 1, 2]).values, full.values)


@pytest.mark.parametrize("spelling", ["sub-01", "SUB-1", "subject-01"])
def test_file_name_spelling_of_the_subject(card, load, features, full, spelling):
    from berg_core.cards.enforce import check_subject

    assert check_subject(card, spelling) == 1  # the older card's "sub-01"
    with load(subject=spelling) as model:
        assert model.subject == 1
        np.testing.assert_array_equal(model.encode_features(features, [0, 1, 2]).values, full.values)


def test_one_image_keeps_every_dimension(load, berg, images, full):
    with load() as model:
        one = berg.encode(model, images[:1], show_progress=False)
    assert one.shape == (1, N_VOXELS)
    np.testing.assert_allclose(one.values, full.values[:1], rtol=1e-5, atol=1e-5)


def test_metadata_hook(berg, store_root):
    meta = berg.get_model_metadata(MODEL_ID, subject=2)
    assert set(meta) >= {"fmri", "encoding_model", "prf", "roi"}
    assert meta["fmri"]["subject_id"] == "sub-02"
    assert meta["fmri"]["voxel_coords"].shape == (N_VOXELS, 3)
