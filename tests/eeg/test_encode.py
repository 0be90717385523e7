"""Encoding equals the reference math, whatever the batch, the number of images or their form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .eeg_reference import MODEL_ID, assert_matches_reference


@pytest.mark.parametrize("preprocessing", ["train", "berg-2.0"])
def test_output_equals_reference_math(berg, images, expected, preprocessing):
    kwargs = {} if preprocessing == "train" else {"preprocessing": preprocessing}
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", **kwargs) as model:
        result = berg.encode(model, images, show_progress=False)
    assert result.dims == ("stimulus", "repetition", "channel", "time")
    assert result.shape == (3, 4, 63, 140)
    assert result.attrs["preprocessing"] == preprocessing
    assert_matches_reference(result.values, expected[preprocessing])


def test_preprocessing_modes_differ(expected):
    # the BERG 2.0 transform crops a border the fitting-time one keeps: the outputs must not coincide
    assert np.abs(expected["train"] - expected["berg-2.0"]).max() > 1e-3 * np.abs(expected["train"]).max()


def test_labels_and_attrs(full_train):
    from berg_eeg_things.layout import CHANNEL_NAMES

    r = full_train
    assert r.dtype == np.float32
    assert list(r["channel"].values) == list(CHANNEL_NAMES)
    np.testing.assert_allclose(r["time"].values, -0.1 + 0.005 * np.arange(140), atol=1e-9)
    assert r["time"].attrs["units"] == "s"
    assert list(r["repetition"].values) == [1, 2, 3, 4]
    assert list(r["stimulus"].values) == [0, 1, 2]
    for key in ("model_id", "subject", "selection", "units", "preprocessing", "berg_version", "description"):
        assert key in r.attrs
    assert r.attrs["subject"] == 1
    assert r.attrs["sampling_frequency_hz"] == 200.0
    assert "CSD" in r.attrs["description"] and "baseline-corrected" in r.attrs["description"]
    assert "a.u." in r.attrs["units"]


def test_one_image_keeps_every_dimension(load, session_berg, images, full_train):
    with load() as model:
        one = session_berg.encode(model, images[:1], show_progress=False)
    assert one.shape == (1, 4, 63, 140)
    np.testing.assert_allclose(one.values, full_train.values[:1], rtol=1e-5, atol=1e-5)


def test_batch_size_does_not_change_results(load, session_berg, images, full_train):
    batch_size = 2  # two batches, the last one short
    with load() as model:
        r = session_berg.encode(model, images, batch_size=batch_size, show_progress=False)
    assert r.shape == full_train.shape
    np.testing.assert_allclose(r.values, full_train.values, rtol=1e-5, atol=1e-5)


def test_images_of_different_sizes_in_one_batch(load, session_berg, images, extractor, eeg_weights, tmp_path: Path):
    from .eeg_reference import reference_eeg, reference_features, train_transform_reference

    small = np.random.default_rng(3).integers(0, 256, size=(1, 3, 150, 120), dtype=np.uint8)
    pil = [Image.fromarray(images[0].transpose(1, 2, 0)), Image.fromarray(small[0].transpose(1, 2, 0))]
    with load() as model:
        r = session_berg.encode(model, pil, show_progress=False)
    feats = np.concatenate(
        [reference_features(extractor, train_transform_reference(x)) for x in (images[:1], small)], axis=0
    )
    assert_matches_reference(r.values, reference_eeg(feats, eeg_weights))


def test_subjects_have_their_own_weights(load, train_features, full_train):
    with load(subject=2) as model:
        r2 = model.encode_features(train_features, [0, 1, 2])
    assert r2.attrs["subject"] == 2
    assert r2.shape == full_train.shape
    assert not np.allclose(r2.values, full_train.values)


def test_float_images_in_unit_range(load, session_berg, images, extractor, eeg_weights):
    """Float input is resized as floats: compare with the reference on the same float tensor."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    from .eeg_reference import IMAGENET_MEAN, IMAGENET_STD, reference_eeg, reference_features

    x = images[:2].astype(np.float32) / 255.0
    t = TF.center_crop(torch.from_numpy(x), [200, 200])
    t = TF.resize(t, [224, 224], interpolation=InterpolationMode.BILINEAR, antialias=True)
    t = TF.normalize(t, list(IMAGENET_MEAN), list(IMAGENET_STD))
    with load() as model:
        r = session_berg.encode(model, x, show_progress=False)
    assert_matches_reference(r.values, reference_eeg(reference_features(extractor, t), eeg_weights))
