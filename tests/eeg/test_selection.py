"""Selections keep only the chosen outputs, label them, and never drop a dimension."""

from __future__ import annotations

import numpy as np
import pytest


def encode_selected(load, berg, images, selection):
    with load(selection=selection) as model:
        return model, berg.encode(model, images, show_progress=False)


def read_out_selected(load, features, selection):
    """The selected model's read-out of precomputed backbone features (skips the ViT forward pass)."""
    with load(selection=selection) as model:
        return model, model.encode_features(features, list(range(len(features))))


def expected_part(full, channels=None, time_index=None):
    part = full
    if channels is not None:
        part = part.sel(channel=channels)
    if time_index is not None:
        part = part.isel(time=time_index)
    return part


@pytest.mark.parametrize(
    ("selection", "channels", "time_index"),
    [
        ({"channels": ["Oz", "Fp1", "Cz"]}, ["Oz", "Fp1", "Cz"], None),
        ({"channels": "Pz"}, ["Pz"], None),
        ({"timepoints": (np.arange(140) % 7 == 0).astype(int)}, None, np.flatnonzero(np.arange(140) % 7 == 0)),
        ({"timepoints": np.arange(140) >= 130}, None, np.arange(130, 140)),
        ({"timepoints": [0.1, 0.0, 0.25]}, None, [40, 20, 70]),
        ({"timepoints": 0.3}, None, [80]),
        ({"timepoints": [0.1 + 4e-5]}, None, [40]),
        ({"timepoints": slice(0.1, 0.2)}, None, np.arange(40, 61)),
        ({"timepoints": slice(None, -0.09)}, None, [0, 1, 2]),
        ({"timepoints": slice(0.59, None)}, None, [138, 139]),
        ({"channels": ["O2", "O1"], "timepoints": slice(0.15, 0.16)}, ["O2", "O1"], [50, 51, 52]),
        ({"channels": ["Oz"], "timepoints": [0.17]}, ["Oz"], [54]),
        ({"channels": None, "timepoints": None}, None, None),
    ],
)
def test_selection_equals_the_same_part_of_the_full_output(
    load, train_features, full_train, selection, channels, time_index
):
    _, result = read_out_selected(load, train_features, selection)
    want = expected_part(full_train, channels, time_index)
    assert result.dims == ("stimulus", "repetition", "channel", "time")
    assert result.shape == want.shape
    assert list(result["channel"].values) == list(want["channel"].values)
    np.testing.assert_allclose(result["time"].values, want["time"].values, atol=1e-9)
    np.testing.assert_allclose(result.values, want.values, rtol=1e-5, atol=1e-5)


def test_single_channel_and_time_keep_their_dimensions(load, session_berg, images):
    _, result = encode_selected(load, session_berg, images[:1], {"channels": ["Oz"], "timepoints": [0.1]})
    assert result.shape == (1, 4, 1, 1)
    assert result["channel"].values.tolist() == ["Oz"]
    assert result["time"].values.tolist() == pytest.approx([0.1])


def test_only_selected_regression_rows_are_kept(load):
    with load(selection={"channels": ["Oz", "Cz"], "timepoints": slice(0.0, 0.095)}) as model:
        (heads,) = model.readout.heads  # the four repetitions in one product
        assert heads.coef.shape == (4 * 2 * 20, 8)
        assert heads.intercept.shape == (4 * 2 * 20,)
    with load() as full:
        assert full.readout.heads[0].coef.shape == (4 * 63 * 140, 8)


def test_selected_rows_are_the_channel_major_rows_of_the_file(load, eeg_weights):
    # row = channel * 140 + time, per repetition, in the output's order
    oz, fp1 = 15, 0
    with load(selection={"channels": ["Oz", "Fp1"], "timepoints": [0.2, 0.0]}) as model:
        coef = model.readout.heads[0].coef.numpy().reshape(4, 2, 2, 8)
        rows = [oz * 140 + 60, oz * 140 + 20, fp1 * 140 + 60, fp1 * 140 + 20]
        for r in range(4):
            want = eeg_weights["reg_param"][f"rep-{r + 1}"]["coef_"][rows].reshape(2, 2, 8)
            np.testing.assert_array_equal(coef[r], want.astype(np.float32))


def test_normalized_selection_is_recorded_and_reusable(load, train_features):
    sel = {"channels": ["Oz"], "timepoints": np.arange(140) < 3}
    model, result = read_out_selected(load, train_features, sel)
    assert model.selection == {"channels": ["Oz"], "timepoints": [-0.1, -0.095, -0.09]}
    import json

    assert json.loads(result.attrs["selection"]) == model.selection
    _, again = read_out_selected(load, train_features, model.selection)
    np.testing.assert_array_equal(again.values, result.values)


def test_accuracy_is_restricted_to_the_selection(load, eeg_store):
    from .eeg_reference import load_pickled, metadata_path

    meta = load_pickled(metadata_path(eeg_store, 1))["encoding_models"]
    with load(selection={"channels": ["Cz", "Oz"], "timepoints": slice(0.0, 0.01)}) as model:
        avg = model.accuracy()
        single = model.accuracy("single")
    assert avg.dims == ("channel", "time") and avg.shape == (2, 3)
    assert single.dims == ("repetition", "channel", "time") and single.shape == (4, 2, 3)
    assert list(avg["channel"].values) == ["Cz", "Oz"]
    np.testing.assert_allclose(avg["time"].values, [0.0, 0.005, 0.01], atol=1e-9)
    cz, oz = 22, 15
    np.testing.assert_array_equal(avg.values, meta["correlation_averaged_repetitions"][[cz, oz]][:, 20:23])
    np.testing.assert_array_equal(single.values, meta["correlation_single_repetitions"][:, [cz, oz]][:, :, 20:23])
    assert list(single["repetition"].values) == [1, 2, 3, 4]


def test_card_lists_the_model_channels(session_berg, eeg_store):
    from .eeg_reference import MODEL_ID, load_pickled, metadata_path

    key = next(k for k in session_berg.get_card(MODEL_ID).selection_keys if k.name == "channels")
    assert key.valid_values == load_pickled(metadata_path(eeg_store, 1))["eeg"]["ch_names"]
