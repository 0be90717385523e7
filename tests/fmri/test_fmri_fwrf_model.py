"""fmri-nsd-fwrf: values against an independent torch implementation of the reference text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from berg_core.errors import InvalidParameterError

from .helpers import fwrf_checkpoint, fwrf_meta, fwrf_reference

MODEL = "fmri-nsd-fwrf"


@pytest.fixture(scope="module")
def images227() -> np.ndarray:
    return np.random.default_rng(21).integers(0, 256, (3, 3, 227, 227), dtype=np.uint8)


def _unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / np.float32(255.0))


def _roi_reference(root: Path, roi: str, x: torch.Tensor) -> np.ndarray:
    """All voxels of one ROI, split files concatenated split 1 first."""
    splits = [1, 2] if roi in ("lateral", "ventral") else [None]
    parts = []
    for split in splits:
        ckpt = fwrf_checkpoint(root, 1, roi, split)
        parts.append(fwrf_reference(ckpt["best_params"]["enc"], ckpt["best_params"]["fwrfs"][1], x))
    return np.concatenate(parts, axis=1)


def _close(out: np.ndarray, ref: np.ndarray) -> None:
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))


def test_single_roi_matches_reference(berg: Any, store_root: Path, images227: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V1"}, device="cpu")
    out = berg.encode(model, images227, show_progress=False)
    mask = fwrf_meta(store_root, 1, "V1")["fmri"]["roi_mask_volume"]
    assert out.dims == ("stimulus", "voxel") and out.shape == (3, int(mask.sum())) and out.dtype == np.float32
    _close(out.values, _roi_reference(store_root, "V1", _unit(images227)))


def test_split_roi_concatenates_split_1_first(berg: Any, store_root: Path, images227: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "lateral"}, device="cpu")
    out = berg.encode(model, images227[:2], show_progress=False)
    assert out.shape == (2, 31) and len(model._runners) == 2
    _close(out.values, _roi_reference(store_root, "lateral", _unit(images227[:2])))


def test_voxel_coordinates_accuracy_and_affine(berg: Any, store_root: Path, images227: np.ndarray) -> None:
    out = berg.encode(berg.get_encoding_model(MODEL, subject=1, selection={"roi": "ventral"}, device="cpu"),
                      images227[:1], show_progress=False)
    meta = fwrf_meta(store_root, 1, "ventral")
    i, j, k = np.nonzero(meta["fmri"]["roi_mask_volume"])  # C-order, as users write vol[mask] = response
    for axis, expected in zip("ijk", (i, j, k), strict=True):
        np.testing.assert_array_equal(out[axis].values, expected)
    np.testing.assert_array_equal(out["ncsnr"].values, meta["fmri"]["ncsnr"])
    for name in ("r2", "noise_ceiling", "explained_variance"):
        np.testing.assert_array_equal(out[name].values, meta["encoding_models"][name])
    np.testing.assert_array_equal(np.reshape(out.attrs["affine"], (4, 4)), meta["fmri"]["fmri_affine"])
    assert out.attrs["volume_shape"] == list(meta["fmri"]["roi_mask_volume"].shape)
    assert set(out["roi"].values) == {"ventral"}


def test_union_follows_union_mask_order_and_first_listed_roi_wins(berg: Any, store_root: Path, images227: np.ndarray) -> None:
    x = _unit(images227[:2])
    masks = {r: fwrf_meta(store_root, 1, r)["fmri"]["roi_mask_volume"] for r in ("V1", "early", "FFA-1")}
    refs = {r: _roi_reference(store_root, r, x) for r in masks}
    union_flat = np.flatnonzero(masks["V1"] | masks["early"] | masks["FFA-1"])
    expected, owner = [], []
    for flat in union_flat:  # straightforward: the first listed ROI holding the voxel predicts it
        for roi in ("V1", "early", "FFA-1"):
            roi_flat = np.flatnonzero(masks[roi])
            if flat in roi_flat:
                expected.append(refs[roi][:, int(np.searchsorted(roi_flat, flat))])
                owner.append(roi)
                break
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": ["V1", "early", "FFA-1"]}, device="cpu")
    out = berg.encode(model, images227[:2], show_progress=False)
    _close(out.values, np.stack(expected, axis=1))
    assert list(out["roi"].values) == owner and owner.count("V1") == int(masks["V1"].sum())
    assert out.attrs["selection"] == '{"roi": ["V1", "early", "FFA-1"]}'


def test_roi_covered_by_an_earlier_roi_is_not_loaded(berg: Any, store_root: Path, images227: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": ["early", "V1"]}, device="cpu")
    assert len(model._runners) == 1
    out = berg.encode(model, images227[:1], show_progress=False)
    assert set(out["roi"].values) == {"early"}
    _close(out.values, _roi_reference(store_root, "early", _unit(images227[:1])))


def test_one_image_and_one_voxel_keep_the_rank(berg: Any, images227: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "FFA-2"}, device="cpu")
    assert berg.encode(model, images227[:1], show_progress=False).shape == (1, 1)
    assert berg.encode(model, images227, show_progress=False).shape == (3, 1)


def test_berg2_preprocessing_squashes_like_bergs_resize(berg: Any, store_root: Path) -> None:
    from torchvision import transforms as trn

    imgs = np.random.default_rng(4).integers(0, 256, (2, 3, 180, 260), dtype=np.uint8)
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V2"}, device="cpu", preprocessing="berg-2.0")
    out = berg.encode(model, imgs, show_progress=False)
    resized = trn.Resize((227, 227))(torch.from_numpy(imgs))  # BERG 2.0's call, on the uint8 tensor
    _close(out.values, _roi_reference(store_root, "V2", resized.float() / 255.0))


def test_train_preprocessing_crops_to_the_centre_square(berg: Any, images227: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V2"}, device="cpu")
    wide = np.zeros((1, 3, 227, 301), dtype=np.uint8)
    wide[..., 37:264] = images227[:1]
    np.testing.assert_allclose(berg.encode(model, wide, show_progress=False).values,
                               berg.encode(model, images227[:1], show_progress=False).values, rtol=1e-6, atol=1e-7)


def test_float_images_in_unit_range_match_uint8(berg: Any, images227: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V3"}, device="cpu")
    as_float = images227[:2].astype(np.float32) / 255.0
    np.testing.assert_allclose(berg.encode(model, as_float, show_progress=False).values,
                               berg.encode(model, images227[:2], show_progress=False).values, rtol=1e-6, atol=1e-7)


def test_metadata_hook_instance_and_union(berg: Any, store_root: Path) -> None:
    meta = berg.get_model_metadata(MODEL, subject=1, roi="V1")
    np.testing.assert_array_equal(meta["fmri"]["roi_mask_volume"], fwrf_meta(store_root, 1, "V1")["fmri"]["roi_mask_volume"])
    both = berg.get_model_metadata(MODEL, subject=1, roi=["V1", "FFA-1"])
    assert list(both) == ["V1", "FFA-1"]
    np.testing.assert_array_equal(both["FFA-1"]["fmri"]["ncsnr"], fwrf_meta(store_root, 1, "FFA-1")["fmri"]["ncsnr"])
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V3"}, device="cpu")
    assert model.get_metadata()["encoding_models"]["test_img_num"] == fwrf_meta(store_root, 1, "V3")["encoding_models"]["test_img_num"]


@pytest.mark.parametrize(
    ("selection", "options", "message"),
    [
        (None, {}, r"fmri-nsd-fwrf needs selection=\.\.\., e\.g\. \{'roi': 'V1'\}; valid ROIs: \['V1', 'V2'.*'ventral'\]"),
        ({"roi": "V1v"}, {}, r"unknown ROI 'V1v' for fmri-nsd-fwrf\..*Valid ROIs: \['V1', "),
        ({"roi": "ffa-1"}, {}, r"unknown ROI 'ffa-1' for fmri-nsd-fwrf\. Did you mean 'FFA-1'\?"),
        ({"roi": "V1", "lh_vertices": [1]}, {}, r"unknown selection key\(s\) \['lh_vertices'\] for fmri-nsd-fwrf; accepted: \['roi'\]"),
        ({"roi": "V1"}, {"preprocessing": "imagenet"}, r"preprocessing='imagenet' is not available for fmri-nsd-fwrf; expected one of \['berg-2.0', 'train'\]"),
        ({"roi": "V1"}, {"backbone_weights": "x"}, r"unknown option\(s\) \['backbone_weights'\] for fmri-nsd-fwrf.get_encoding_model; accepted: \['preprocessing'\]"),
    ],
)
def test_bad_parameters(berg: Any, selection: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        berg.get_encoding_model(MODEL, subject=1, selection=selection, device="cpu", **options)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"fmri-nsd-fwrf metadata is per ROI: pass roi=\.\.\., one of \['V1', "),
        ({"roi": "XX"}, r"unknown ROI 'XX' for fmri-nsd-fwrf"),
        ({"roi": "V1", "split": 1}, r"unknown option\(s\) \['split'\] for fmri-nsd-fwrf.get_model_metadata; accepted: \['roi'\]"),
    ],
)
def test_bad_metadata_parameters(berg: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        berg.get_model_metadata(MODEL, subject=1, **kwargs)
