"""The scaler + PCA fold reuses the float64 components' buffer and equals the unfolded math."""

from __future__ import annotations

import numpy as np
import pytest
from berg_eeg_things.projection import downcast_rows_in_place, load_folded_projection

from berg_core.store import Store
from berg_core.weights import open_weight_file

from .eeg_reference import MODEL_DIR, load_pickled, weights_path


@pytest.mark.parametrize(("k", "rows_per_chunk"), [(1, 16), (5, 2), (33, 16), (7, 7)])
def test_downcast_in_place(k, rows_per_chunk):
    arr = np.random.default_rng(k).standard_normal((k, 1001))
    want = arr.astype(np.float32)
    out = downcast_rows_in_place(arr, rows_per_chunk)
    assert out.dtype == np.float32 and out.shape == (k, 1001)
    assert np.shares_memory(out, arr)
    np.testing.assert_array_equal(out, want)


def _independent_fold(w):
    sc, pca = w["scaler_param"], w["pca_param"]
    W = pca["components_"] / sc["scale_"]
    c = -(sc["mean_"] / sc["scale_"] + pca["mean_"]) @ pca["components_"].T
    return W, c


def test_folded_projection_equals_the_unfolded_math(eeg_store, eeg_weights):
    wf = open_weight_file(Store(eeg_store), f"{MODEL_DIR}/encoding_models_weights/weights_subject-01.npy")
    components = wf.read("pca_param/components_")
    W, c = load_folded_projection(wf)
    wf.close()
    assert W.dtype == np.float32 and c.dtype == np.float32
    assert np.shares_memory(W, components)  # no second copy of the components
    W64, c64 = _independent_fold(eeg_weights)
    np.testing.assert_allclose(W, W64, rtol=2.5e-7)
    np.testing.assert_allclose(c, c64, rtol=1e-5, atol=1e-6 * np.abs(c64).max())
    # and z = f @ W.T + c equals the scaler + PCA applied step by step
    f = np.random.default_rng(0).normal(0, 2, (2, W.shape[1]))
    sc, pca = eeg_weights["scaler_param"], eeg_weights["pca_param"]
    z_ref = ((f - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ pca["components_"].T
    z = f.astype(np.float32) @ W.T + c
    np.testing.assert_allclose(z, z_ref, rtol=1e-4, atol=1e-5 * np.abs(z_ref).max())


def test_read_only_components_are_folded_into_a_new_array(eeg_store, eeg_weights):
    wf = open_weight_file(Store(eeg_store), f"{MODEL_DIR}/encoding_models_weights/weights_subject-01.npy")
    components = wf.read("pca_param/components_")
    components.flags.writeable = False
    W, _ = load_folded_projection(wf)
    assert not np.shares_memory(W, components)
    np.testing.assert_array_equal(components, eeg_weights["pca_param"]["components_"])  # left untouched
    np.testing.assert_allclose(W, _independent_fold(eeg_weights)[0], rtol=2.5e-7)


def test_weights_file_on_disk_is_not_modified(eeg_store, load):
    before = weights_path(eeg_store, 1).read_bytes()
    load().cleanup()
    assert weights_path(eeg_store, 1).read_bytes() == before
    assert load_pickled(weights_path(eeg_store, 1))["pca_param"]["components_"].dtype == np.float64
