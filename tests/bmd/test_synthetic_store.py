"""The synthetic store is BERG 2.0's file formats: a shared TruncatedSVD, flat regressions, nested metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .bmd_reference import N_COMPONENTS, N_VOXELS, VOLUME_SHAPE, load_pickled, metadata_path, pca_path, weights_path


def test_pca_file_is_a_truncated_svd(bmd_pca: dict[str, Any]) -> None:
    assert set(bmd_pca) == {"scaler_param", "pca_param"}
    assert set(bmd_pca["scaler_param"]) == {"mean_", "scale_", "var_", "n_features_in_", "n_samples_seen_"}
    assert set(bmd_pca["pca_param"]) == {
        "components_", "explained_variance_", "explained_variance_ratio_", "singular_values_", "n_features_in_",
    }  # no mean_: TruncatedSVD does not centre
    assert bmd_pca["pca_param"]["components_"].shape == (N_COMPONENTS, 4_084_096)
    assert bmd_pca["pca_param"]["components_"].dtype == np.float64


def test_weights_are_a_flat_regression(bmd_weights: dict[str, Any]) -> None:
    assert set(bmd_weights) == {"coef_", "intercept_", "n_features_in_"}
    assert bmd_weights["coef_"].shape == (N_VOXELS, N_COMPONENTS)
    assert bmd_weights["intercept_"].shape == (N_VOXELS,)


def test_metadata_layout(bmd_store: Path) -> None:
    from berg_fmri_bmd.layout import ROIS

    meta = load_pickled(metadata_path(bmd_store, 2))
    fmri = meta["fmri"]
    assert fmri["sub_mask"].shape == VOLUME_SHAPE and fmri["sub_mask"].dtype == bool
    assert fmri["sub_mask"].sum() == N_VOXELS
    assert (fmri["group_mask"] >= fmri["sub_mask"]).all()
    assert fmri["sub_mask_affine"].shape == (4, 4) and fmri["group_mask_affine"].shape == (4, 4)
    import nibabel as nib

    assert isinstance(fmri["sub_mask_header"], nib.Nifti1Header)  # pickled nibabel objects, as BERG 2.0's
    assert fmri["sub_mask_header"].get_data_shape() == VOLUME_SHAPE
    assert list(fmri["rois"]) == list(ROIS) and len(ROIS) == 47
    assert all(isinstance(v, tuple) and len(v) == 1 for v in fmri["rois"].values())
    em = meta["encoding_models"]
    for key in ("noiseceiling_task_train_n_1", "noiseceiling_task_train_n_3", "noiseceiling_task_test_n_1",
                "noiseceiling_task_test_n_10", "correlation", "r2", "explained_variance"):
        assert em[key].shape == (N_VOXELS,) and em[key].dtype == np.float32
    assert (em["correlation"] >= 0).all() and (em["explained_variance"] <= 100).all()
    np.testing.assert_allclose(em["r2"], em["correlation"] ** 2, rtol=1e-6)


def test_same_seed_same_files(bmd_store: Path, tmp_path: Path) -> None:
    from .bmd_reference import write_store

    write_store(tmp_path, [2])
    assert weights_path(tmp_path, 2).read_bytes() == weights_path(bmd_store, 2).read_bytes()
    assert metadata_path(tmp_path, 2).read_bytes() == metadata_path(bmd_store, 2).read_bytes()
    assert pca_path(tmp_path).stat().st_size == pca_path(bmd_store).stat().st_size


def test_metadata_through_berg(session_berg: Any, bmd_store: Path) -> None:
    import nibabel as nib

    meta = session_berg.get_model_metadata("fmri-bmd-s3d", subject=1)
    expected = load_pickled(metadata_path(bmd_store, 1))
    # berg's safe reader gives each pickled nibabel header as its binary block (nibabel is never imported by it)
    for key in ("sub_mask_header", "group_mask_header"):
        assert meta["fmri"][key] == expected["fmri"][key].binaryblock
        assert nib.Nifti1Header(binaryblock=meta["fmri"][key]).get_data_shape() == expected["fmri"]["sub_mask"].shape
    np.testing.assert_array_equal(meta["fmri"]["sub_mask"], expected["fmri"]["sub_mask"])
    np.testing.assert_array_equal(meta["fmri"]["rois"]["lFFA"][0], expected["fmri"]["rois"]["lFFA"][0])
