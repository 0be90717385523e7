"""Every user error of fmri-bmd-s3d is a BERGError saying what was expected and what was given."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from berg_fmri_bmd.metadata import roi_indices

from berg_core import BERG, IntegrityError, InvalidParameterError, ModelLoadError

from .bmd_reference import MODEL_ID, N_VOXELS, pca_path, write_store


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subject": 11}, r"subject.*1, 2, 3"),
        ({"selection": {"roi": "V1"}}, "V1"),
        ({"selection": {"roi": "lFFA", "voxels": [1, 2]}}, "voxels"),
        ({"selection": {"voxels": np.zeros(N_VOXELS, dtype=int)}}, "voxel"),
        ({"selection": {"voxels": [0, N_VOXELS]}}, str(N_VOXELS - 1)),
        ({"selection": {"nope": 1}}, "nope"),
        ({"preprocessing": "imagenet"}, "berg-2.0"),
    ],
)
def test_bad_parameters(load: Any, kwargs: dict[str, Any], match: str) -> None:
    subject = kwargs.pop("subject", 1)
    with pytest.raises(InvalidParameterError, match=match):
        load(subject=subject, **kwargs)


def test_missing_s3d_weights_say_how_to_get_them(bmd_store: Path, empty_torch_home: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"(?s)s3d-d76dad2f\.pth.*KINETICS400_V1.*backbone_weights"):
        BERG(bmd_store).get_encoding_model(MODEL_ID, subject=1, device="cpu")


def test_hub_cache_is_used(bmd_store: Path, s3d_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(s3d_file.parents[2]))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    with BERG(bmd_store).get_encoding_model(MODEL_ID, subject=1, device="cpu") as model:
        assert model.feature_extractor is not None


def test_other_weights_are_refused(bmd_store: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "s3d-d76dad2f.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(IntegrityError, match="torchvision s3d"):
        BERG(bmd_store).get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(wrong))


def test_svd_of_another_width_is_refused(bmd_store: Path, s3d_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "store"
    for src in bmd_store.rglob("*.npy"):  # the subject files as they are, a narrow SVD
        dst = root / src.relative_to(bmd_store)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dst)
    narrow = pca_path(root)
    narrow.unlink()
    rng = np.random.default_rng(0)
    np.save(narrow, np.array({
        "scaler_param": {"mean_": np.zeros(10), "scale_": np.ones(10), "var_": np.ones(10)},
        "pca_param": {"components_": rng.normal(size=(3, 10))},
    }, dtype=object), allow_pickle=True)
    with pytest.raises(IntegrityError, match="4084096"):
        BERG(root).get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(s3d_file))


def test_synthetic_store_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="n_components"):
        write_store(tmp_path, [1], n_components=0)
    with pytest.raises(InvalidParameterError, match="unknown|not"):
        write_store(tmp_path, [1], colour="red")
    with pytest.raises(InvalidParameterError, match="n_voxels"):
        write_store(tmp_path, [1], n_voxels=10_000)


# ---- ROI entries: every form BERG 2.0's metadata may hold ---------------------------------------
@pytest.mark.parametrize(
    "entry",
    [
        (np.array([4, 1, 7]),),  # np.where-style tuple, as the card says
        [np.array([4, 1, 7])],
        np.array([4, 1, 7]),
        [4, 1, 7],
    ],
)
def test_roi_index_forms(entry: Any) -> None:
    meta = {"fmri": {"rois": {"lFFA": entry}}}
    np.testing.assert_array_equal(roi_indices(meta, "lFFA", 10, "m"), [4, 1, 7])


def test_roi_mask_form() -> None:
    mask = np.zeros(10, dtype=bool)
    mask[[1, 4, 7]] = True
    np.testing.assert_array_equal(roi_indices({"fmri": {"rois": {"x": mask}}}, "x", 10, "m"), [1, 4, 7])


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (np.array([1, 10]), "the subject has 10"),
        (np.array([1, 1]), "more than once"),
        (np.ones((2, 2), dtype=int), "should index"),
        (np.ones(5, dtype=bool), "one per voxel"),
        (np.array([0.5]), "should index"),
    ],
)
def test_bad_roi_entries(entry: Any, match: str) -> None:
    with pytest.raises(IntegrityError, match=match):
        roi_indices({"fmri": {"rois": {"x": entry}}}, "x", 10, "m")


def test_missing_roi_entry() -> None:
    with pytest.raises(IntegrityError, match="rois/x"):
        roi_indices({"fmri": {"rois": {}}}, "x", 10, "m")
