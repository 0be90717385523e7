"""Encoding equals the reference math (float64 NumPy on the weights as written) for both train_splits modes."""

from __future__ import annotations

import numpy as np
import pytest

from .meg_reference import N_SENSORS, N_TIMES, assert_matches_reference, load_pickled, metadata_path, reference_meg


@pytest.mark.parametrize("preprocessing", ["train", "berg-2.0"])
def test_all_splits_equals_reference_math(load, encode, features, meg_weights, preprocessing):
    kwargs = {} if preprocessing == "train" else {"preprocessing": preprocessing}
    with load(**kwargs) as model:
        result = encode(model)
    assert result.dims == ("stimulus", "sensor", "time")
    assert result.shape == (3, N_SENSORS, N_TIMES)
    assert result.attrs["preprocessing"] == preprocessing and result.attrs["train_splits"] == "all"
    assert_matches_reference(result.values, reference_meg(features[preprocessing], meg_weights["all"]))


@pytest.mark.parametrize("preprocessing", ["train", "berg-2.0"])
def test_single_splits_equal_reference_math_in_split_order(load, encode, features, meg_weights, preprocessing):
    kwargs = {} if preprocessing == "train" else {"preprocessing": preprocessing}
    with load(train_splits="single", **kwargs) as model:
        result = encode(model)
        assert [p.rsplit("/", 1)[1] for p in model.weight_files] == [
            f"weights_P1_single_training_split_{k}.npy" for k in range(1, 5)]
    assert result.dims == ("stimulus", "split", "sensor", "time")
    assert result.shape == (3, 4, N_SENSORS, N_TIMES)
    assert list(result["split"].values) == [1, 2, 3, 4]
    expected = np.stack([reference_meg(features[preprocessing], meg_weights[k]) for k in range(1, 5)], axis=1)
    assert_matches_reference(result.values, expected)
    # four different models (own scaler, PCA and regression each), not one repeated
    assert not np.allclose(result.values[:, 0], result.values[:, 1])


def test_preprocessing_modes_differ(features, meg_weights):
    train, berg2 = (reference_meg(features[m], meg_weights["all"]) for m in ("train", "berg-2.0"))
    assert np.abs(train - berg2).max() > 1e-3 * np.abs(train).max()


def test_labels_coords_and_attrs(full_all, meg_store):
    r = full_all
    meta = load_pickled(metadata_path(meg_store, 1))
    sensors = meta["sensors"]
    assert r.dtype == np.float32
    assert list(r["sensor_name"].values) == list(sensors["sensor_names"])
    assert list(r["sensor_prefix"].values) == list(sensors["sensor_prefixes"])
    assert list(r["hemisphere"].values) == list(sensors["sensor_hemispheres"])
    assert list(r["region"].values) == list(sensors["sensor_regions"])
    np.testing.assert_allclose(r["time"].values, -0.1 + 0.005 * np.arange(N_TIMES), atol=1e-9)
    assert r["time"].attrs["units"] == "s"
    # the CTF naming rule holds for every sensor: M + hemisphere + region letters
    for name, prefix, hemi, region in zip(r["sensor_name"].values, r["sensor_prefix"].values,
                                          r["hemisphere"].values, r["region"].values, strict=True):
        assert name.startswith(prefix) and prefix[0] == "M"
        assert hemi == {"L": "Left", "R": "Right", "Z": "Midline"}[prefix[1]]
        assert region == {"F": "Frontal", "C": "Central", "P": "Parietal", "T": "Temporal", "O": "Occipital"}[prefix[2]]
    # reliability as (sensor, time) coordinates, equal to the metadata's
    assert r["ncsnr"].dims == ("sensor", "time") and r["noise_ceiling"].dims == ("sensor", "time")
    np.testing.assert_array_equal(r["ncsnr"].values, meta["encoding_model"]["ncsnr"])
    np.testing.assert_array_equal(r["noise_ceiling"].values, meta["encoding_model"]["noise_ceiling"])
    assert r["noise_ceiling"].attrs["units"] == "%"
    assert r.attrs["subject"] == 1 and r.attrs["modality"] == "meg" and r.attrs["sampling_frequency_hz"] == 200.0
    for key in ("model_id", "selection", "units", "preprocessing", "berg_version", "description"):
        assert key in r.attrs


def test_single_split_labels_match_all(full_all, full_single):
    for c in ("sensor_name", "region", "time", "ncsnr"):
        np.testing.assert_array_equal(full_single[c].values, full_all[c].values)
    assert full_single.attrs["train_splits"] == "single"


def test_one_image_and_batch_size(load, session_berg, images, full_all):
    with load() as model:
        one = session_berg.encode(model, images[:1], show_progress=False)
        two = session_berg.encode(model, images, batch_size=2, show_progress=False)
    assert one.shape == (1, N_SENSORS, N_TIMES)
    np.testing.assert_allclose(one.values, full_all.values[:1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(two.values, full_all.values, rtol=1e-5, atol=1e-5)


def test_all_and_single_share_one_backbone_pass(load, session_berg, images, full_all, full_single):
    with load() as a, load(train_splits="single") as s:
        assert a.feature_key == s.feature_key  # one ViT-B/32 pass feeds both
        out = session_berg.encode([a, s], images, show_progress=False)
    results = list(out.values()) if isinstance(out, dict) else list(out)
    by_splits = {r.attrs["train_splits"]: r for r in results}
    np.testing.assert_array_equal(by_splits["all"].values, full_all.values)
    np.testing.assert_array_equal(by_splits["single"].values, full_single.values)


def test_accuracy_from_metadata(load, meg_store):
    meta = load_pickled(metadata_path(meg_store, 1))["encoding_model"]
    with load(selection={"region": "Occipital"}) as model:
        acc = model.accuracy()
        pct = model.accuracy("percent_noise_ceiling")
        idx = model.output.sensor_index
    assert acc.dims == ("sensor", "time")
    np.testing.assert_array_equal(acc.values, meta["all_training_splits"]["correlation_results"][idx])
    np.testing.assert_array_equal(pct.values, meta["all_training_splits"]["percent_noise_ceiling"][idx])
    with load(train_splits="single") as model:
        acc = model.accuracy()
    assert acc.dims == ("split", "sensor", "time")
    for k in range(1, 5):
        np.testing.assert_array_equal(acc.values[k - 1], meta[f"single_training_split_{k}"]["correlation_results"])


def test_metadata_hook(session_berg, meg_store):
    meta = session_berg.get_model_metadata("meg-things_meg_1-vit_b_32", 1)
    assert meta["meg"]["subject_id"] == "P1" and meta["sensors"]["n_sensors"] == N_SENSORS
