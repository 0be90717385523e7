"""One call turns a result into MNE epochs or evoked data with channel positions."""

from __future__ import annotations

import matplotlib
import mne
import numpy as np
import pytest
from berg_eeg_things.mne_export import to_mne

from berg_core.errors import InvalidParameterError

matplotlib.use("Agg")


def _positions_are_set(info):
    """Every channel sits where MNE's own easycap-M1 montage puts it (in head coordinates)."""
    want = mne.create_info(info.ch_names, 200.0, "eeg")
    want.set_montage("easycap-M1")
    for got_ch, want_ch in zip(info["chs"], want["chs"], strict=True):
        assert np.linalg.norm(got_ch["loc"][:3]) > 0.05, got_ch["ch_name"]  # ~head radius, not the origin
        np.testing.assert_allclose(got_ch["loc"][:3], want_ch["loc"][:3])


def test_epochs_with_averaged_repetitions(full_train):
    epochs = to_mne(full_train)
    assert isinstance(epochs, mne.EpochsArray)
    assert epochs.ch_names == list(full_train["channel"].values)
    assert epochs.info["sfreq"] == pytest.approx(200.0)
    np.testing.assert_allclose(epochs.times, full_train["time"].values, atol=1e-9)
    # values are handed over unscaled
    np.testing.assert_allclose(epochs.get_data(), full_train.values.astype(np.float64).mean(axis=1), rtol=1e-12)
    assert list(epochs.metadata["stimulus"]) == [0, 1, 2]
    _positions_are_set(epochs.info)


def test_epochs_keeping_repetitions(full_train):
    epochs = to_mne(full_train, average_repetitions=False)
    assert len(epochs) == 3 * 4
    data = epochs.get_data()
    np.testing.assert_array_equal(data[5], full_train.values[1, 1])  # stimulus 1, repetition 2
    assert list(epochs.metadata["repetition"][:5]) == [1, 2, 3, 4, 1]
    assert list(epochs.metadata["stimulus"][:5]) == [0, 0, 0, 0, 1]
    np.testing.assert_array_equal(epochs["repetition_3"].get_data(), full_train.values[:, 2])


def test_evoked(full_train):
    evoked = to_mne(full_train, kind="evoked")
    assert isinstance(evoked, mne.EvokedArray)
    assert evoked.nave == 12
    np.testing.assert_allclose(evoked.data, full_train.values.astype(np.float64).mean(axis=(0, 1)), rtol=1e-12)
    per_rep = to_mne(full_train, kind="evoked", average_repetitions=False)
    assert len(per_rep) == 4
    np.testing.assert_allclose(per_rep[3].data, full_train.values[:, 3].astype(np.float64).mean(axis=0), rtol=1e-12)
    _positions_are_set(evoked.info)


def test_topomap_can_be_drawn(full_train):
    fig = to_mne(full_train, kind="evoked").plot_topomap(times=[0.1], scalings=1, units="a.u.", show=False)
    assert fig is not None
    matplotlib.pyplot.close("all")


def test_selection_results_export(full_train):
    part = full_train.sel(channel=["Oz", "O1", "O2"]).isel(time=slice(40, 61))
    epochs = to_mne(part)
    assert epochs.ch_names == ["Oz", "O1", "O2"]
    assert epochs.tmin == pytest.approx(0.1)
    one_time = to_mne(full_train.isel(time=[40]), kind="evoked")
    assert one_time.data.shape == (63, 1)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"kind": "raw"}, "kind must be 'epochs' or 'evoked', got 'raw'"),
        ({"average_repetitions": "yes"}, "average_repetitions must be True or False"),
    ],
)
def test_bad_arguments(full_train, kwargs, pattern):
    with pytest.raises(InvalidParameterError, match=pattern):
        to_mne(full_train, **kwargs)


def test_uneven_times_are_refused(full_train):
    with pytest.raises(InvalidParameterError, match="evenly spaced, increasing times"):
        to_mne(full_train.isel(time=[0, 1, 5]))
    with pytest.raises(InvalidParameterError, match="evenly spaced, increasing times"):
        to_mne(full_train.isel(time=[5, 4, 3]))


def test_not_an_eeg_result(full_train):
    with pytest.raises(InvalidParameterError, match="expected the xarray.DataArray returned by BERG.encode for eeg-things_eeg_2-vit_b_32, got ndarray"):
        to_mne(full_train.values)
    with pytest.raises(InvalidParameterError, match=r"expected a result with dims \('stimulus', 'repetition', 'channel', 'time'\) .*got dims \('stimulus', 'channel', 'time'\)"):
        to_mne(full_train.mean("repetition"))
