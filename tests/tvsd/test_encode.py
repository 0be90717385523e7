"""Encoding equals BERG 2.0's math on the seeded weights, for both monkeys and both kinds of training split."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .reference import MODEL_ID, N_ELECTRODES, N_TIMES, assert_matches, load_pickled, metadata_path, reference_mua


@pytest.mark.parametrize("preprocessing", ["train", "berg-2.0"])
@pytest.mark.parametrize("monkey", ["N", "F"])
def test_output_equals_reference_math(load, berg, images, ref_features, weights, preprocessing, monkey):
    kwargs = {} if preprocessing == "train" else {"preprocessing": preprocessing}
    with load(monkey, **kwargs) as model:
        result = berg.encode(model, images, batch_size=2, show_progress=False)
    assert result.dims == ("stimulus", "electrode", "time")
    assert result.shape == (3, N_ELECTRODES, N_TIMES)
    assert result.attrs["preprocessing"] == preprocessing and result.attrs["subject"] == monkey
    assert_matches(result.values, reference_mua(ref_features[preprocessing], weights(monkey)))


def test_single_splits_stack_the_four_models(load, features, ref_features, weights):
    with load("N", train_splits="single", selection={"roi": "V4", "timepoints": [0.1, 0.05]}) as model:
        r = model.encode_features(features, [0, 1, 2])
        assert len(model.weight_files) == 4
    assert r.dims == ("stimulus", "split", "electrode", "time")
    assert r["split"].values.tolist() == [1, 2, 3, 4]
    assert r.attrs["train_splits"] == "single"
    e, t = np.arange(512, 768), np.array([200, 150])  # 0.1 s and 0.05 s, in the order given
    for k in range(1, 5):
        expected = reference_mua(ref_features["train"], weights("N", k))[:, e][:, :, t]
        assert_matches(r.values[:, k - 1], expected)
    assert r["correlation"].dims == ("split", "electrode", "time")


def test_labels_come_from_the_metadata(full, store_root):
    meta = load_pickled(metadata_path(store_root, "N"))
    r = full
    np.testing.assert_array_equal(r["electrode"].values, np.arange(N_ELECTRODES))
    assert (r["roi"].values[:512] == "V1").all() and (r["roi"].values[512:768] == "V4").all()
    assert (r["roi"].values[768:] == "IT").all()
    np.testing.assert_allclose(r["time"].values, np.arange(-100, 200) / 1000.0)  # TVSD's tb, ms -> s
    assert r["time"].attrs["units"] == "s"
    enc = meta["encoding_model"]
    np.testing.assert_array_equal(r["ncsnr"].values, enc["ncsnr"])
    np.testing.assert_array_equal(r["noise_ceiling"].values, enc["noise_ceiling"])
    np.testing.assert_array_equal(r["snr_max"].values, enc["SNR_max"])
    np.testing.assert_array_equal(r["correlation"].values, enc["all_training_splits"]["correlation_results"])
    np.testing.assert_array_equal(r["electrode_order"].values, meta["utah_array"]["electrode_order"])
    assert r.attrs["modality"] == "utah_array" and r.attrs["train_splits"] == "all"
    assert r.attrs["sampling_frequency_hz"] == 1000.0 and r.dtype == np.float32


def test_monkey_f_has_its_own_roi_blocks(load, features):
    with load("F", selection={"timepoints": [0.0]}) as model:
        r = model.encode_features(features, [0, 1, 2])
    assert r.attrs["subject"] == "F"
    assert (r["roi"].values[512:832] == "IT").all() and (r["roi"].values[832:] == "V4").all()


def test_string_subjects_only(load):
    with pytest.raises(InvalidParameterError, match=r"\['N', 'F'\]"):
        load("X")
    with pytest.raises(InvalidParameterError):
        load(1)


def test_zarr_result_groups_are_named_after_the_monkeys(load, berg, images, tmp_path):
    import xarray as xr

    with load("F", selection={"roi": "V1", "timepoints": [0.1]}) as f, load("N", selection={"roi": "IT"}) as n:
        berg.encode([f, n], images[:2], show_progress=False, store=tmp_path / "out.zarr")
    assert xr.open_zarr(tmp_path / "out.zarr", group=f"{MODEL_ID}/subject-F")["mua"].shape == (2, 512, 1)
    back = xr.open_zarr(tmp_path / "out.zarr", group=f"{MODEL_ID}/subject-N")
    assert back["mua"].shape == (2, 256, 300) and set(back["roi"].values.tolist()) == {"IT"}


def test_metadata_hook(berg):
    meta = berg.get_model_metadata(MODEL_ID, subject="F")
    assert meta["utah_array"]["monkey_id"] == "monkeyF"
    assert list(meta["roi"]["roi_labels"]) == ["V1", "V4", "IT"]
