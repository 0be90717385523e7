"""fmri-bmd-s3d gives the reference math's numbers, end to end and per selection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from berg_fmri_bmd.backbone import S3D_N_FEATURES, S3D_NODE_SHAPES

from berg_core import StimulusError

from .bmd_reference import (
    N_VOXELS,
    NODES,
    assert_matches_reference,
    load_pickled,
    metadata_path,
    reference_bmd,
    reference_transform,
)


def test_node_shapes_are_torchvisions(reference_nodes: dict[str, torch.Tensor]) -> None:
    out = reference_nodes
    assert [tuple(out[n].shape[1:]) for n in NODES] == list(S3D_NODE_SHAPES)
    assert sum(out[n][0].numel() for n in NODES) == S3D_N_FEATURES == 4_084_096


def test_features_match_float64_reference(features: torch.Tensor, reference_features_of_videos: np.ndarray) -> None:
    assert features.shape == (2, S3D_N_FEATURES) and features.dtype == torch.float32
    ref = reference_features_of_videos
    np.testing.assert_allclose(features.numpy(), ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))


def test_encode_matches_reference(full_train: Any, reference_features_of_videos: np.ndarray, bmd_pca: dict[str, Any],
                                  bmd_weights: dict[str, Any]) -> None:
    expected = reference_bmd(reference_features_of_videos, bmd_pca, bmd_weights)
    assert full_train.dims == ("stimulus", "voxel")
    assert full_train.shape == (2, N_VOXELS)
    assert_matches_reference(full_train.values, expected)


def test_labels_place_voxels_in_the_volume(full_train: Any, bmd_store: Any) -> None:
    meta = load_pickled(metadata_path(bmd_store, 1))
    mask, affine = meta["fmri"]["sub_mask"], meta["fmri"]["sub_mask_affine"]
    i, j, k = np.nonzero(mask)  # C order: BERG 2.0's vol[sub_mask] = values
    np.testing.assert_array_equal(full_train["voxel"].values, np.arange(N_VOXELS))
    np.testing.assert_array_equal(full_train["i"].values, i)
    np.testing.assert_array_equal(full_train["j"].values, j)
    np.testing.assert_array_equal(full_train["k"].values, k)
    np.testing.assert_array_equal(np.reshape(full_train.attrs["affine"], (4, 4)), affine)
    assert list(full_train.attrs["volume_shape"]) == list(mask.shape)
    np.testing.assert_array_equal(full_train["noise_ceiling"].values, meta["encoding_models"]["noiseceiling_task_test_n_10"])
    np.testing.assert_array_equal(full_train["r2"].values, meta["encoding_models"]["r2"])
    assert full_train.attrs["subject"] == 1 and full_train.attrs["preprocessing"] == "train"


def test_roi_keeps_the_stored_order(load: Any, features: torch.Tensor, full_train: Any, bmd_store: Any) -> None:
    meta = load_pickled(metadata_path(bmd_store, 1))
    rois = meta["fmri"]["rois"]
    with load(selection={"roi": "lFFA"}) as model:
        out = model.encode_features(features, [0, 1])
    idx = rois["lFFA"][0]
    np.testing.assert_array_equal(out["voxel"].values, idx)
    np.testing.assert_allclose(out.values, full_train.values[:, idx], rtol=1e-6, atol=1e-6)
    with load(selection={"roi": ["rMT", "lFFA", "rMT"]}) as model:
        union = model.encode_features(features, [0, 1])
    expected = np.union1d(rois["rMT"][0], rois["lFFA"][0])
    np.testing.assert_array_equal(union["voxel"].values, expected)
    np.testing.assert_allclose(union.values, full_train.values[:, expected], rtol=1e-6, atol=1e-6)
    assert union.attrs["selection"] == '{"roi": ["rMT", "lFFA"]}'


def test_voxel_mask_and_indices(load: Any, features: torch.Tensor, full_train: Any) -> None:
    mask = np.zeros(N_VOXELS, dtype=int)
    mask[[3, 10, 59]] = 1
    with load(selection={"voxels": mask}) as model:
        out = model.encode_features(features, [0, 1])
    with load(selection={"voxels": [59, 3, 10]}) as model:
        by_index = model.encode_features(features, [0, 1])
    np.testing.assert_array_equal(out["voxel"].values, [3, 10, 59])
    np.testing.assert_array_equal(out.values, by_index.values)
    np.testing.assert_allclose(out.values, full_train.values[:, [3, 10, 59]], rtol=1e-6, atol=1e-6)


def test_short_clip_train_pads_and_berg2_refuses(session_berg: Any, load: Any, full_model: Any) -> None:
    from berg_core.stimuli.video import as_video

    clip = np.random.default_rng(8).integers(0, 256, size=(9, 3, 128, 160), dtype=np.uint8)
    # the features and read-out of a prepared clip are checked above: here the padding of its frames
    x = full_model.preprocess(as_video([clip]))
    np.testing.assert_allclose(x[0].numpy(), reference_transform(clip, "train"), rtol=0, atol=2e-6)
    with load(preprocessing="berg-2.0") as model, pytest.raises(StimulusError, match="at least 14"):
        session_berg.encode(model, [clip], show_progress=False)


def test_berg2_prepares_long_clips_as_train(load: Any, full_model: Any, videos: np.ndarray) -> None:
    from berg_core.stimuli.video import as_video

    stimuli = as_video(videos)
    with load(preprocessing="berg-2.0") as model:
        assert torch.equal(model.preprocess(stimuli), full_model.preprocess(stimuli))
        assert model.feature_extractor is full_model.feature_extractor  # one shared S3D per weights and device


def test_subjects_share_the_backbone_and_differ(load: Any, full_model: Any, features: torch.Tensor,
                                               full_train: Any) -> None:
    with load(subject=2) as model:
        assert model.feature_extractor is full_model.feature_extractor
        out = model.encode_features(features, [0, 1])
    assert out.attrs["subject"] == 2
    assert not np.allclose(out.values[:, :5], full_train.values[:, :5])
