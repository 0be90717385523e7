"""The synthetic stores are in BERG 2.0's real formats, seeded and reproducible."""

from __future__ import annotations

import argparse
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from berg_fmri_nsd.synthetic import write_fsaverage_store, write_fwrf_store

from berg_core.errors import InvalidParameterError

from .conftest import FWRF_VOLUME, N_COMPONENTS
from .helpers import FWRF_DIR, fsaverage_meta, fsaverage_weights, fwrf_checkpoint, fwrf_meta

N, F = 163_842, 460_800
FSAVERAGE_ROIS = ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4", "EBA", "FBA-1", "FBA-2", "mTL-bodies", "OFA", "FFA-1",
                  "FFA-2", "mTL-faces", "aTL-faces", "OPA", "PPA", "RSC", "OWFA", "VWFA-1", "VWFA-2", "mfs-words",
                  "mTL-words", "early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"]


def test_fsaverage_weights_have_the_documented_keys_and_shapes(store_root: Path) -> None:
    w = fsaverage_weights(store_root, 1)
    k = N_COMPONENTS
    assert set(w) == {"scaler_param", "pca_param", "lh_reg_param", "rh_reg_param"}
    assert {key: np.shape(v) for key, v in w["scaler_param"].items()} == {
        "mean_": (F,), "scale_": (F,), "var_": (F,), "n_features_in_": (), "n_samples_seen_": ()}
    pca = w["pca_param"]
    assert set(pca) == {"components_", "mean_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
                        "n_components_", "n_samples_", "noise_variance_", "n_features_in_"}
    assert pca["components_"].shape == (k, F) and pca["mean_"].shape == (F,) and pca["n_components_"] == k
    for hemi in ("lh", "rh"):
        reg = w[f"{hemi}_reg_param"]
        assert reg["coef_"].shape == (N, k) and reg["intercept_"].shape == (N,) and reg["n_features_in_"] == k
    np.testing.assert_allclose(w["scaler_param"]["var_"], w["scaler_param"]["scale_"] ** 2)


def test_fsaverage_metadata_rois_are_plausible(store_root: Path) -> None:
    meta = fsaverage_meta(store_root, 1)
    assert set(meta) == {"fmri", "encoding_models"}
    for hemi in ("lh", "rh"):
        rois = meta["fmri"][f"{hemi}_fsaverage_rois"]
        assert list(rois) == FSAVERAGE_ROIS
        for area in ("V1", "V2", "V3"):
            assert not set(rois[f"{area}v"]) & set(rois[f"{area}d"])  # ventral and dorsal parts are disjoint
        parts = np.concatenate([rois[p] for p in ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d")])
        np.testing.assert_array_equal(rois["early"], np.unique(parts))
        assert all(r.dtype.kind == "i" and r.min() >= 0 and r.max() < N for r in rois.values())
        assert meta["fmri"][f"{hemi}_ncsnr"].shape == (N,)
        for key in ("correlation", "r2", "noise_ceiling", "explained_variance"):
            assert meta["encoding_models"][f"{hemi}_{key}"].shape == (N,)
    assert {"train_img_num", "val_img_num", "test_img_num"} <= set(meta["encoding_models"])


def test_fwrf_checkpoint_structure_is_the_real_one(store_root: Path) -> None:
    ckpt = fwrf_checkpoint(store_root, 1, "V1")
    assert isinstance(ckpt["args"], argparse.Namespace)
    assert "trn_hist" in ckpt and "hold_hist" in ckpt
    assert ckpt["stim_mean"].shape == (1, 3, 1, 1) and ckpt["stim_mean"].dtype == np.float32
    np.testing.assert_array_equal(ckpt["best_params"]["enc"]["mu"].numpy(), ckpt["stim_mean"])
    fwrf = ckpt["best_params"]["fwrfs"][1]  # int subject key
    n = int(fwrf_meta(store_root, 1, "V1")["fmri"]["roi_mask_volume"].sum())
    assert {k: tuple(v.shape) for k, v in fwrf.items()} == {
        "rf0": (n, 27, 27), "rf1": (n, 25, 25), "rf2": (n, 13, 13), "w": (n, 768), "b": (n,)}


def test_torch_weights_only_loader_refuses_the_real_structure(store_root: Path) -> None:
    path = store_root / FWRF_DIR / "encoding_models_weights" / "weights_sub-01_roi-V1.pt"
    with pytest.raises(pickle.UnpicklingError, match="argparse.Namespace"):
        torch.load(path, weights_only=True)


def test_split_rois_divide_their_voxels(store_root: Path) -> None:
    n = int(fwrf_meta(store_root, 1, "lateral")["fmri"]["roi_mask_volume"].sum())
    sizes = [fwrf_checkpoint(store_root, 1, "lateral", s)["best_params"]["fwrfs"][1]["b"].numel() for s in (1, 2)]
    assert sizes == [math.ceil(n / 2), n // 2]


def test_fwrf_metadata_formats(store_root: Path) -> None:
    meta = fwrf_meta(store_root, 1, "early")
    mask = meta["fmri"]["roi_mask_volume"]
    assert mask.dtype == bool and mask.shape == FWRF_VOLUME
    assert meta["fmri"]["fmri_affine"].shape == (4, 4) and meta["fmri"]["ncsnr"].shape == (int(mask.sum()),)
    assert set(meta["encoding_models"]) == {"r2", "noise_ceiling", "explained_variance", "train_img_num", "val_img_num", "test_img_num"}
    assert (meta["encoding_models"]["explained_variance"] <= 100).all()
    v1 = fwrf_meta(store_root, 1, "V1")["fmri"]["roi_mask_volume"]
    assert (mask | v1).sum() == mask.sum()  # early holds V1, as the real streams ROI overlaps it


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"rois": ["FFA-1"], "volume_shape": (5, 5, 5), "n_voxels": 4}
    write_fwrf_store(tmp_path / "a", [2], seed=5, **kwargs)
    write_fwrf_store(tmp_path / "b", [2], seed=5, **kwargs)
    write_fwrf_store(tmp_path / "c", [2], seed=6, **kwargs)
    a, b, c = (fwrf_checkpoint(tmp_path / x, 2, "FFA-1")["best_params"]["fwrfs"][2]["w"] for x in "abc")
    assert torch.equal(a, b) and not torch.equal(a, c)
    ma, mc = (fwrf_meta(tmp_path / x, 2, "FFA-1")["fmri"]["roi_mask_volume"] for x in "ac")
    assert ma.sum() == mc.sum() == 4 and not np.array_equal(ma, mc)


def test_full_size_defaults_follow_subject_1(tmp_path: Path) -> None:
    write_fwrf_store(tmp_path, [1], seed=0, rois="V1")
    mask = fwrf_meta(tmp_path, 1, "V1")["fmri"]["roi_mask_volume"]
    assert mask.shape == (81, 104, 83) and mask.sum() == 1350


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: write_fwrf_store(p, [1], 0, rois=["V7"]), r"unknown ROI 'V7' for synthetic fmri-nsd-fwrf"),
        (lambda p: write_fwrf_store(p, [1], 0, rois=["V1"], volume_shape=(3, 3, 3)), r"1350 ROI voxels do not fit a volume of shape \(3, 3, 3\) \(27 voxels\); lower n_voxels"),
        (lambda p: write_fwrf_store(p, [1], 0, rois=["V1"], volume_shape=(3, 3)), r"volume_shape must hold 3 sizes, got \(3, 3\)"),
        (lambda p: write_fwrf_store(p, [1], 0, rois=["V1"], n_voxels=0), r"n_voxels must be a positive integer, got 0"),
        (lambda p: write_fsaverage_store(p, [1], 0, n_components=1.5), r"n_components must be a positive integer, got 1.5"),
    ],
)
def test_bad_synthetic_options(tmp_path: Path, call: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        call(tmp_path)


def test_hook_refuses_unknown_options(plugin_manager: Any, fwrf_card: Any, tmp_path: Path) -> None:
    write = plugin_manager.owner_hook("berg_write_synthetic_store", "fmri_nsd")
    with pytest.raises(InvalidParameterError, match=r"unknown option\(s\) \['n_components'\] for fmri-nsd-fwrf.berg_write_synthetic_store; accepted: \['n_voxels', 'rois', 'volume_shape'\]"):
        write(card=fwrf_card, root=str(tmp_path), subjects=[1], seed=0, options={"n_components": 3})
