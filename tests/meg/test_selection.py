"""Selections by region, sensor group, sensor mask/positions and time equal slices of the full output."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError


def _sensor_positions(full, **match):
    keep = np.ones(full.sizes["sensor"], dtype=bool)
    for coord, values in match.items():
        keep &= np.isin(full[coord].values, values)
    return np.flatnonzero(keep)


@pytest.mark.parametrize("region", ["Occipital", ["Temporal", "Frontal"]])
def test_region(load, encode, full_all, region):
    with load(selection={"region": region}) as model:
        out = encode(model)
    idx = _sensor_positions(full_all, region=region)
    np.testing.assert_array_equal(out.values, full_all.values[:, idx])
    assert set(out["region"].values) == set(np.atleast_1d(region))
    np.testing.assert_array_equal(out["ncsnr"].values, full_all["ncsnr"].values[idx])


def test_sensor_groups(load, encode, full_all):
    with load(selection={"sensors": ["MZO", "MLC"]}) as model:
        out = encode(model)
    idx = _sensor_positions(full_all, sensor_prefix=["MZO", "MLC"])
    assert len(idx) > 3
    # BERG 2.0 returns sensors in the metadata's order, not the order the groups were given
    np.testing.assert_array_equal(out["sensor_name"].values, full_all["sensor_name"].values[idx])
    np.testing.assert_array_equal(out.values, full_all.values[:, idx])


@pytest.mark.parametrize("form", ["mask", "bool", "positions"])
def test_sensor_index(load, encode, full_all, form):
    chosen = [0, 5, 100, 270]
    mask = np.zeros(271, dtype=int)
    mask[chosen] = 1
    value = {"mask": mask, "bool": mask.astype(bool), "positions": [100, 0, 270, 5]}[form]
    with load(selection={"sensor_index": value}) as model:
        out = encode(model)
    np.testing.assert_array_equal(out.values, full_all.values[:, chosen])


def test_sensor_keys_are_united(load, encode, full_all):
    """BERG 2.0 unites region, sensors and sensor_index (sorted), rather than intersecting them."""
    with load(selection={"region": "Occipital", "sensors": "MZC", "sensor_index": [0]}) as model:
        out = encode(model)
    idx = np.union1d(np.union1d(_sensor_positions(full_all, region="Occipital"),
                                _sensor_positions(full_all, sensor_prefix="MZC")), [0])
    np.testing.assert_array_equal(out.values, full_all.values[:, idx])


@pytest.mark.parametrize(("value", "expected_times"), [
    (slice(0.1, 0.2), np.round(np.arange(0.1, 0.2001, 0.005), 6)),
    ([0.3, -0.1, 1.3], [0.3, -0.1, 1.3]),
    (0.15, [0.15]),
])
def test_timepoints_seconds(load, encode, full_all, value, expected_times):
    with load(selection={"timepoints": value}) as model:
        out = encode(model)
    np.testing.assert_allclose(out["time"].values, expected_times, atol=1e-9)
    t_idx = [int(np.argmin(np.abs(full_all["time"].values - t))) for t in expected_times]
    np.testing.assert_array_equal(out.values, full_all.values[:, :, t_idx])
    np.testing.assert_array_equal(out["noise_ceiling"].values, full_all["noise_ceiling"].values[:, t_idx])


def test_timepoints_mask_and_sensors_together_single_splits(load, encode, full_single):
    mask = np.zeros(281, dtype=int)
    mask[[20, 40, 60]] = 1
    with load(train_splits="single", selection={"timepoints": mask, "region": "Parietal"}) as model:
        out = encode(model)
    idx = _sensor_positions(full_single, region="Parietal")
    assert out.dims == ("stimulus", "split", "sensor", "time")
    np.testing.assert_array_equal(out.values, full_single.values[:, :, idx][:, :, :, [20, 40, 60]])


def test_one_sensor_and_one_time_keep_their_dims(load, encode, full_all):
    with load(selection={"sensor_index": [7], "timepoints": [0.2]}) as model:
        out = encode(model)
    assert out.shape == (3, 1, 1)
    np.testing.assert_array_equal(out.values[:, 0, 0], full_all.values[:, 7, 60])


@pytest.mark.parametrize(("selection", "match"), [
    ({"region": "Cerebellum"}, "Cerebellum"),
    ({"sensors": "MZT"}, "MZT"),
    ({"sensor_index": np.ones(270)}, "271"),
    ({"sensor_index": [271]}, "271"),
    ({"sensor_index": np.zeros(271)}, "sensor"),
    ({"timepoints": [1.4]}, "1.4"),
    ({"timepoints": np.ones(280, dtype=bool)}, "281"),
    ({"channels": ["Oz"]}, "channels"),
])
def test_bad_selections_are_refused(load, selection, match):
    with pytest.raises(InvalidParameterError, match=match):
        load(selection=selection)


def test_selection_is_recorded(load, encode):
    import json

    with load(selection={"region": ["Temporal", "Occipital"], "timepoints": slice(0.0, 0.01)}) as model:
        out = encode(model)
    sel = json.loads(out.attrs["selection"])
    assert sel["region"] == ["Temporal", "Occipital"] and sel["timepoints"] == [0.0, 0.005, 0.01]
