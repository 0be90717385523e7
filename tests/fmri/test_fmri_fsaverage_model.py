"""fmri-nsd_fsaverage-vit_b_32: values against an independent NumPy implementation, every selection form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .helpers import fsaverage_meta, fsaverage_reference, fsaverage_weights, imagenet_normalise

MODEL = "fmri-nsd_fsaverage-vit_b_32"
N = 163_842


def _tolerance(ref: np.ndarray) -> dict[str, float]:
    # float32 sums over 460,800 features: relative error ~1e-5 of the output scale
    return {"rtol": 1e-4, "atol": 1e-4 * float(np.abs(ref).max())}


@pytest.fixture(scope="module")
def features(reference_features: Any, images: np.ndarray) -> np.ndarray:
    return reference_features(imagenet_normalise(images))


def _vertices(meta: dict[str, Any], hemi: str, *names: str) -> np.ndarray:
    table = meta["fmri"][f"{hemi}_fsaverage_rois"]
    return np.unique(np.concatenate([np.asarray(table[n]) for n in names]))


def test_roi_v1_matches_reference_math(berg: Any, vit: Path, store_root: Path, images: np.ndarray, features: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V1"}, device="cpu")
    out = berg.encode(model, images, show_progress=False)
    meta = fsaverage_meta(store_root, 1)
    lh, rh = (_vertices(meta, h, "V1v", "V1d") for h in ("lh", "rh"))
    ref = fsaverage_reference(fsaverage_weights(store_root, 1), features, lh, rh)
    assert out.dims == ("stimulus", "vertex") and out.shape == (3, lh.size + rh.size) and out.dtype == np.float32
    np.testing.assert_allclose(out.values, ref, **_tolerance(ref))
    assert list(out["hemisphere"].values) == ["lh"] * lh.size + ["rh"] * rh.size
    np.testing.assert_array_equal(out["fsaverage_index"].values, np.concatenate([lh, rh]))


def test_reliability_coordinates_follow_the_vertices(berg: Any, vit: Path, store_root: Path, images: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=2, selection={"roi": "FFA-1"}, device="cpu")
    out = berg.encode(model, images[:1], show_progress=False)
    meta = fsaverage_meta(store_root, 2)
    lh, rh = (np.asarray(meta["fmri"][f"{h}_fsaverage_rois"]["FFA-1"]) for h in ("lh", "rh"))
    expected = {
        "ncsnr": np.concatenate([meta["fmri"]["lh_ncsnr"][lh], meta["fmri"]["rh_ncsnr"][rh]]),
        "noise_ceiling": np.concatenate([meta["encoding_models"][f"{h}_noise_ceiling"][i] for h, i in (("lh", lh), ("rh", rh))]),
        "correlation": np.concatenate([meta["encoding_models"][f"{h}_correlation"][i] for h, i in (("lh", lh), ("rh", rh))]),
    }
    for name, values in expected.items():
        np.testing.assert_array_equal(out[name].values, values)
    reliable = out.where(out["ncsnr"] > 0.6, drop=True)
    assert reliable.sizes["vertex"] == int((expected["ncsnr"] > 0.6).sum())


def test_roi_list_is_the_union_of_vertices(berg: Any, vit: Path, store_root: Path, images: np.ndarray, features: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": ["FFA-2", "V2d", "FFA-2"]}, device="cpu")
    out = berg.encode(model, images[:2], show_progress=False)
    meta = fsaverage_meta(store_root, 1)
    lh, rh = (_vertices(meta, h, "FFA-2", "V2d") for h in ("lh", "rh"))
    ref = fsaverage_reference(fsaverage_weights(store_root, 1), features[:2], lh, rh)
    np.testing.assert_allclose(out.values, ref, **_tolerance(ref))
    assert model.selection == {"roi": ["FFA-2", "V2d"]}


def test_vertex_masks_and_index_arrays(berg: Any, vit: Path, store_root: Path, images: np.ndarray, features: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    lh_mask = np.zeros(N, dtype=np.int64)
    lh_mask[rng.choice(N, 40, replace=False)] = 1
    rh_idx = rng.choice(N, 25, replace=False)  # unsorted on purpose: output is in ascending index order
    model = berg.get_encoding_model(MODEL, subject=1, selection={"lh_vertices": lh_mask, "rh_vertices": list(rh_idx)}, device="cpu")
    out = berg.encode(model, images, show_progress=False)
    ref = fsaverage_reference(fsaverage_weights(store_root, 1), features, np.flatnonzero(lh_mask), np.sort(rh_idx))
    np.testing.assert_allclose(out.values, ref, **_tolerance(ref))
    np.testing.assert_array_equal(out["fsaverage_index"].values, np.concatenate([np.flatnonzero(lh_mask), np.sort(rh_idx)]))


def test_absent_hemisphere_key_keeps_every_vertex_and_empty_list_drops_it(berg: Any, vit: Path, images: np.ndarray) -> None:
    only_lh = berg.get_encoding_model(MODEL, subject=1, selection={"lh_vertices": [5, 7], "rh_vertices": []}, device="cpu")
    out = berg.encode(only_lh, images[:1], show_progress=False)
    assert out.shape == (1, 2) and set(out["hemisphere"].values) == {"lh"}
    lh_and_all_rh = berg.get_encoding_model(MODEL, subject=1, selection={"lh_vertices": np.array([5, 7])}, device="cpu")
    assert lh_and_all_rh.n_vertices == 2 + N


def test_single_image_and_single_vertex_keep_the_rank(berg: Any, vit: Path, images: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"lh_vertices": [], "rh_vertices": [123]}, device="cpu")
    out = berg.encode(model, images[:1], show_progress=False)
    assert out.shape == (1, 1) and out.dims == ("stimulus", "vertex")


def test_batch_size_does_not_change_values(berg: Any, vit: Path, images: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "hV4"}, device="cpu")
    whole = berg.encode(model, images, show_progress=False, batch_size=3)
    one_by_one = berg.encode(model, images, show_progress=False, batch_size=1)
    np.testing.assert_allclose(whole.values, one_by_one.values, rtol=1e-5, atol=1e-5)


def test_whole_brain_holds_every_vertex(berg: Any, vit: Path, store_root: Path, images: np.ndarray, features: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, device="cpu")
    out = berg.encode(model, images[:1], show_progress=False)
    assert out.shape == (1, 2 * N)
    every = np.arange(N)
    ref = fsaverage_reference(fsaverage_weights(store_root, 1), features[:1], every, every)
    np.testing.assert_allclose(out.values, ref, **_tolerance(ref))


def test_only_selected_rows_are_held(berg: Any, vit: Path, store_root: Path) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "V3"}, device="cpu")
    meta = fsaverage_meta(store_root, 1)
    sizes = [_vertices(meta, h, "V3v", "V3d").size for h in ("lh", "rh")]
    assert [tuple(h.coef.shape) for h in model.readout.heads] == [(n, 8) for n in sizes]
    assert tuple(model.readout.projection.weight.shape) == (8, 460_800)


def test_berg2_preprocessing_reproduces_torchvision_transform(berg: Any, vit: Path, store_root: Path, reference_features: Any) -> None:
    import torch
    from torchvision.models import ViT_B_32_Weights

    imgs = np.random.default_rng(5).integers(0, 256, (2, 3, 240, 320), dtype=np.uint8)
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "OFA"}, device="cpu", preprocessing="berg-2.0")
    out = berg.encode(model, imgs, show_progress=False)
    x = ViT_B_32_Weights.IMAGENET1K_V1.transforms()(torch.from_numpy(imgs)).numpy()  # BERG 2.0's own call
    meta = fsaverage_meta(store_root, 1)
    lh, rh = (_vertices(meta, h, "OFA") for h in ("lh", "rh"))
    ref = fsaverage_reference(fsaverage_weights(store_root, 1), reference_features(x), lh, rh)
    np.testing.assert_allclose(out.values, ref, **_tolerance(ref))
    assert out.attrs["preprocessing"] == "berg-2.0"


def test_train_preprocessing_crops_non_square_images(berg: Any, vit: Path, images: np.ndarray) -> None:
    model = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "OFA"}, device="cpu")
    padded = np.zeros((1, 3, 224, 300), dtype=np.uint8)
    padded[:, :, :, 38:262] = images[:1]  # centre-cropping to the largest square gives back the 224 x 224 image
    np.testing.assert_allclose(berg.encode(model, padded, show_progress=False).values,
                               berg.encode(model, images[:1], show_progress=False).values, rtol=1e-6, atol=1e-6)


def test_metadata_from_hook_instance_and_return_metadata(berg: Any, vit: Path, store_root: Path, images: np.ndarray) -> None:
    meta = berg.get_model_metadata(MODEL, subject=2)
    expected = fsaverage_meta(store_root, 2)
    np.testing.assert_array_equal(meta["fmri"]["rh_ncsnr"], expected["fmri"]["rh_ncsnr"])
    assert meta["encoding_models"]["test_img_num"] == expected["encoding_models"]["test_img_num"]
    model = berg.get_encoding_model(MODEL, subject=2, selection={"roi": "RSC"}, device="cpu")
    np.testing.assert_array_equal(model.get_metadata()["fmri"]["lh_fsaverage_rois"]["RSC"],
                                  expected["fmri"]["lh_fsaverage_rois"]["RSC"])
    out, meta2 = berg.encode(model, images[:1], show_progress=False, return_metadata=True)
    assert out.shape[0] == 1 and set(meta2) == {"fmri", "encoding_models"}


def test_cleanup_and_context_manager(berg: Any, vit: Path, images: np.ndarray) -> None:
    with berg.get_encoding_model(MODEL, subject=1, selection={"roi": "EBA"}, device="cpu") as model:
        berg.encode(model, images[:1], show_progress=False)
    assert model.closed and model.readout is None
    with pytest.raises(InvalidParameterError, match="cleaned up"):
        berg.encode(model, images[:1], show_progress=False)


@pytest.mark.parametrize(
    ("selection", "options", "message"),
    [
        ({"roi": "v1"}, {}, r"unknown ROI 'v1' for fmri-nsd_fsaverage-vit_b_32\. Did you mean 'V1'\? Valid ROIs: \['V1', 'V2', 'V3', 'V1v'"),
        ({"roi": "V9"}, {}, r"unknown ROI 'V9' for fmri-nsd_fsaverage-vit_b_32\. Valid ROIs: \['V1', .*'parietal'\]$"),
        ({"roi": 1}, {}, r"selection\['roi'\] must be a ROI name or a list of names, got int 1; valid ROIs"),
        ({"roi": ["V1", 3]}, {}, r"selection\['roi'\] must hold ROI names \(strings\), got int 3; valid ROIs"),
        ({"roi": []}, {}, r"selection\['roi'\] is an empty list"),
        ({"roi": "V1", "lh_vertices": [1]}, {}, r"selection gives both 'roi' and \['lh_vertices'\]"),
        ({"vertices": [1]}, {}, r"unknown selection key\(s\) \['vertices'\].*accepted: \['roi', 'lh_vertices', 'rh_vertices'\]\. Did you mean"),
        ({"lh_vertices": [], "rh_vertices": []}, {}, r"leaves out both hemispheres"),
        ({"roi": "V1"}, {"preprocessing": "imagenet"}, r"preprocessing='imagenet' is not available.*\['berg-2.0', 'train'\]"),
        ({"roi": "V1"}, {"layers": 3}, r"unknown option\(s\) \['layers'\].*accepted: \['backbone_weights', 'preprocessing'\]"),
    ],
)
def test_bad_parameters(berg: Any, vit: Path, selection: dict[str, Any], options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        berg.get_encoding_model(MODEL, subject=1, selection=selection, device="cpu", **options)


def test_bad_subject_lists_valid_subjects(berg: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"subject 9 is not available.*\[1, 2, 3, 4, 5, 6, 7, 8\]"):
        berg.get_encoding_model(MODEL, subject=9)


def test_metadata_refuses_unknown_options(berg: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"unknown option\(s\) \['roi'\] for fmri-nsd_fsaverage-vit_b_32.get_model_metadata; accepted: none"):
        berg.get_model_metadata(MODEL, subject=1, roi="V1")


def test_subjects_share_one_backbone_pass(berg: Any, vit: Path, images: np.ndarray) -> None:
    one = berg.get_encoding_model(MODEL, subject=1, selection={"roi": "PPA"}, device="cpu")
    two = berg.get_encoding_model(MODEL, subject=2, selection={"roi": "PPA"}, device="cpu")
    assert one.feature_key == two.feature_key  # the multi-model pass computes ViT features once per batch
    together = berg.encode([one, two], images[:2], show_progress=False)
    for model, result in zip((one, two), together.values(), strict=True):
        np.testing.assert_allclose(result.values, berg.encode(model, images[:2], show_progress=False).values, rtol=1e-5, atol=1e-6)
