"""Selections: ROIs in the order given, overlaps answered once, voxel masks and indices, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .reference import N_VOXELS, load_pickled, metadata_path


@pytest.fixture(scope="module")
def rois(store_root):
    return load_pickled(metadata_path(store_root, 1))["roi"]


def _select(load, features, selection):
    with load(selection=selection) as model:
        return model.encode_features(features, [0, 1, 2])


def test_rois_keep_the_order_given(load, features, full, rois):
    r = _select(load, features, {"roi": ["lFFA", "V1"]})
    expected = np.concatenate([rois["lFFA"], rois["V1"]])
    np.testing.assert_array_equal(r["voxel"].values, expected)
    np.testing.assert_array_equal(r.values, full.values[:, expected])
    assert r["roi"].values.tolist() == ["lFFA"] * rois["lFFA"].size + ["V1"] * rois["V1"].size
    for name in ("voxel_x", "noise_ceiling", "rois"):
        np.testing.assert_array_equal(r[name].values, full[name].values[expected])
    assert r.attrs["selection"] == '{"roi": ["lFFA", "V1"]}'


def test_overlapping_rois_give_each_voxel_once_with_the_first_listed(load, features, full, rois):
    r = _select(load, features, {"roi": ["lFFA", "IT"]})
    rest = rois["IT"][~np.isin(rois["IT"], rois["lFFA"])]
    expected = np.concatenate([rois["lFFA"], rest])
    assert rest.size < rois["IT"].size  # the synthetic ROIs really overlap
    np.testing.assert_array_equal(r["voxel"].values, expected)
    np.testing.assert_array_equal(r.values, full.values[:, expected])
    assert (r["roi"].values[: rois["lFFA"].size] == "lFFA").all() and (r["roi"].values[rois["lFFA"].size :] == "IT").all()


def test_one_roi_as_a_string(load, features, full, rois):
    r = _select(load, features, {"roi": "V2"})
    np.testing.assert_array_equal(r.values, full.values[:, rois["V2"]])


@pytest.mark.parametrize("form", ["mask", "bool", "indices"])
def test_voxel_index_mask_or_indices(load, features, full, form):
    picked = np.array([5, 17, 211_000, 3])
    mask = np.zeros(N_VOXELS, dtype=int)
    mask[picked] = 1
    value = {"mask": mask, "bool": mask.astype(bool), "indices": picked}[form]
    r = _select(load, features, {"voxel_index": value})
    np.testing.assert_array_equal(r["voxel"].values, np.sort(picked))
    np.testing.assert_array_equal(r.values, full.values[:, np.sort(picked)])


def test_roi_and_voxel_index_combine_rois_first(load, features, full, rois):
    inside, outside = int(rois["V1"][0]), int(np.setdiff1d(np.arange(10), rois["V1"])[0])
    r = _select(load, features, {"roi": ["V1"], "voxel_index": [outside, inside]})
    expected = np.concatenate([rois["V1"], [outside]])
    np.testing.assert_array_equal(r["voxel"].values, expected)
    np.testing.assert_array_equal(r.values, full.values[:, expected])
    assert r["roi"].values[-1] == ""


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        ({"roi": ["V1", "NotAnROI"]}, "NotAnROI"),
        ({"roi": ["V1", "V1"]}, "V1"),
        ({"roi": 3}, "roi"),
        ({"voxel_index": np.ones(10)}, "211,339"),
        ({"voxel_index": np.full(N_VOXELS, 2)}, "0/1"),
        ({"voxel_index": [N_VOXELS]}, "voxel"),
        ({"voxels": [1]}, "voxel_index"),
    ],
)
def test_bad_selections_are_refused(load, selection, words):
    with pytest.raises(InvalidParameterError, match=words):
        load(selection=selection)


def test_a_roi_the_subject_lacks_is_refused_with_what_it_has(tmp_path, plugin_manager, hub_weights):
    from berg_core import BERG

    from .conftest import write_store
    from .reference import MODEL_ID

    write_store(plugin_manager, tmp_path, [1], n_components=2, rois=["V1", "V2"])
    berg = BERG(berg_dir=str(tmp_path), plugin_manager=plugin_manager)
    with pytest.raises(InvalidParameterError, match=r"\['lFFA'\] not found in this subject's metadata.*\['V1', 'V2'\]"):
        berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", selection={"roi": ["V1", "lFFA"]},
                                backbone_weights=str(hub_weights))


def test_bad_subject_lists_the_valid_ones(load):
    with pytest.raises(InvalidParameterError, match=r"\[1, 2, 3\]"):
        load(subject=4)
