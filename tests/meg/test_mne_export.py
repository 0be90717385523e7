"""MEG results through the accessor: MNE Epochs/Evoked with the sensor names, CTF-275 positions, plots."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError


def test_epochs_from_all_splits_result(full_all):
    import mne

    epochs = full_all.berg.to_mne()
    assert isinstance(epochs, mne.EpochsArray)
    assert epochs.ch_names == [str(n) for n in full_all["sensor_name"].values]
    assert set(epochs.get_channel_types()) == {"mag"}
    assert epochs.info["sfreq"] == pytest.approx(200.0)
    np.testing.assert_allclose(epochs.times, full_all["time"].values, atol=1e-9)
    np.testing.assert_allclose(epochs.get_data(), full_all.values.astype(np.float64))
    assert list(epochs.metadata["stimulus"]) == list(full_all["stimulus"].values)


def test_evoked_is_the_mean_over_stimuli(full_all):
    import mne

    evoked = full_all.berg.to_mne(kind="evoked")
    assert isinstance(evoked, mne.EvokedArray) and evoked.nave == 3
    np.testing.assert_allclose(evoked.data, full_all.values.astype(np.float64).mean(axis=0))


def test_single_split_results(full_single):
    data = full_single.values.astype(np.float64)
    averaged = full_single.berg.to_mne()
    np.testing.assert_allclose(averaged.get_data(), data.mean(axis=1))
    per_split = full_single.berg.to_mne(average_splits=False)
    assert len(per_split) == 12
    assert list(per_split.metadata["split"]) == [1, 2, 3, 4] * 3
    np.testing.assert_allclose(per_split.get_data()[5], data[1, 1])  # stimulus 1, split 2
    evokeds = full_single.berg.to_mne(kind="evoked", average_splits=False)
    assert len(evokeds) == 4
    np.testing.assert_allclose(evokeds[3].data, data[:, 3].mean(axis=0))


def test_ctf275_layout_matches_the_sensors(full_all):
    import mne
    from berg_meg_things.mne_export import meg_layout, topomap_positions

    sub = full_all.isel(sensor=[3, 100, 200])
    layout = meg_layout(sub)
    assert layout.names == [str(n) for n in sub["sensor_name"].values]
    ctf = mne.channels.read_layout("CTF-275")
    stems = [n.split("-")[0] for n in ctf.names]
    for name, pos in zip(layout.names, layout.pos, strict=True):
        np.testing.assert_array_equal(pos, ctf.pos[stems.index(name.split("-")[0])])
    xy = topomap_positions(full_all)
    assert xy.shape == (271, 2) and np.abs(xy).max() <= 0.085 + 1e-12
    # frontal sensors lie in front of (above) occipital ones, left ones on the left
    region = full_all["region"].values
    hemi = full_all["hemisphere"].values
    assert xy[region == "Frontal", 1].mean() > xy[region == "Occipital", 1].mean()
    assert xy[hemi == "Left", 0].mean() < 0 < xy[hemi == "Right", 0].mean()
    with pytest.raises(InvalidParameterError, match="XYZ01"):
        meg_layout(["MLC11-1609", "XYZ01-1609"])


def test_plot_writes_topographies_and_time_courses(full_all, full_single, tmp_path):
    fig = full_all.berg.plot(tmp_path / "all.png", times=[0.1, 0.5])
    assert (tmp_path / "all.png").stat().st_size > 0
    assert len(fig.axes) == 4  # time courses, 2 maps, colour bar
    fig = full_single.berg.plot(tmp_path / "single.png", stimulus=full_single["stimulus"].values[1])
    assert "mean of 4 training splits" in fig.get_suptitle()
    few = full_all.isel(sensor=[0, 1])
    fig = few.berg.plot(tmp_path / "few.png")
    assert len(fig.axes) == 1  # too few sensors for a map: time courses only


@pytest.mark.parametrize(("call", "match"), [
    (lambda r: r.berg.export("nifti", None), "mne"),
    (lambda r: r.berg.export("mne", "out.fif"), "writes no file"),
    (lambda r: r.berg.to_mne(colour="red"), "colour"),
    (lambda r: r.berg.to_mne(kind="raw"), "kind"),
    (lambda r: r.berg.to_mne(average_splits="yes"), "average_splits"),
    (lambda r: r.isel(time=[0, 1, 5]).berg.to_mne(), "evenly spaced"),
    (lambda r: r.isel(stimulus=0).berg.to_mne(), "keep the stimulus dimension"),
    (lambda r: r.berg.plot(None, reliability=99.0), r"no unit reaches reliability=99.0.*mean over \['time'\] per sensor"),
    (lambda r: r.berg.plot(None, times=[2.0]), "outside"),
    (lambda r: r.berg.plot(None, sensors=["Oz"]), "Oz"),
])
def test_export_and_plot_errors(full_all, call, match):
    with pytest.raises(InvalidParameterError, match=match):
        call(full_all)
