"""Metadata on an instance and without loading; cleanup() really frees; ``with model:`` works."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .eeg_reference import MODEL_ID, load_pickled, metadata_path


def _assert_same_metadata(got, want):
    assert set(got) == {"eeg", "encoding_models"}
    assert got["eeg"]["ch_names"] == want["eeg"]["ch_names"]
    np.testing.assert_array_equal(got["eeg"]["times"], want["eeg"]["times"])
    for key in ("correlation_averaged_repetitions", "correlation_single_repetitions"):
        np.testing.assert_array_equal(got["encoding_models"][key], want["encoding_models"][key])
    for info in ("train_img_info", "test_img_info"):
        assert set(got["encoding_models"][info]) == set(want["encoding_models"][info])
        for k, v in want["encoding_models"][info].items():
            np.testing.assert_array_equal(got["encoding_models"][info][k], v)


def test_metadata_of_an_instance(load, eeg_store):
    with load(subject=2) as model:
        meta = model.get_metadata()
    _assert_same_metadata(meta, load_pickled(metadata_path(eeg_store, 2)))
    assert len(meta["eeg"]["ch_names"]) == 63 and meta["eeg"]["times"].shape == (140,)
    assert meta["encoding_models"]["correlation_single_repetitions"].shape == (4, 63, 140)


def test_metadata_without_loading_weights(session_berg, eeg_store):
    _assert_same_metadata(
        session_berg.get_model_metadata(MODEL_ID, subject=1), load_pickled(metadata_path(eeg_store, 1))
    )


def test_encode_can_return_metadata(load, session_berg, images, eeg_store):
    with load() as model:
        result, meta = session_berg.encode(model, images[:1], return_metadata=True, show_progress=False)
    assert result.shape == (1, 4, 63, 140)
    _assert_same_metadata(meta, load_pickled(metadata_path(eeg_store, 1)))


def test_cleanup_drops_every_weight(load, session_berg, images):
    model = load()
    refs = [
        weakref.ref(model.readout.projection.weight),
        weakref.ref(model.readout.projection.bias),
        weakref.ref(model.readout.heads[0].coef),
        weakref.ref(model.readout.heads[0].intercept),
    ]
    assert model.feature_extractor is not None
    model.cleanup()
    gc.collect()
    assert all(r() is None for r in refs)
    assert model.feature_extractor is None and model.closed
    with pytest.raises(InvalidParameterError, match="was cleaned up; load it again"):
        session_berg.encode(model, images[:1], show_progress=False)
    model.cleanup()  # a second cleanup is harmless


def test_backbone_is_freed_when_its_last_user_cleans_up(tmp_path, eeg_store, vit_weights_file):
    from berg_core import BERG
    from berg_core.backbones.vit_b_32 import _cached_count

    own = tmp_path / "vit_b_32-d86f8d99.pth"
    own.write_bytes(vit_weights_file.read_bytes())  # a file of its own: no other test holds its extractor
    berg = BERG(eeg_store)
    before = _cached_count()
    a = berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(own))
    b = berg.get_encoding_model(MODEL_ID, subject=2, device="cpu", backbone_weights=str(own))
    assert a.feature_extractor is b.feature_extractor  # one extractor shared by both subjects
    ref = weakref.ref(a.feature_extractor)
    assert _cached_count() == before + 1
    a.cleanup()
    gc.collect()
    assert ref() is not None  # b still uses it
    b.cleanup()
    gc.collect()
    assert ref() is None
    assert _cached_count() == before


def test_with_block_cleans_up_on_exit_and_on_error(load):
    with load() as model:
        assert not model.closed
    assert model.closed
    with pytest.raises(RuntimeError, match="boom"), load() as other:
        raise RuntimeError("boom")
    assert other.closed


def test_accuracy_still_available_after_cleanup(load):
    model = load(selection={"channels": ["Oz"]})
    before = model.accuracy()
    model.cleanup()
    np.testing.assert_array_equal(model.accuracy().values, before.values)
