"""EEG pictures: channel time courses with the onset marked, scalp maps at chosen times, option checks."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core import InvalidParameterError

from .pictures import assert_picture

EEG = "eeg-things_eeg_2-vit_b_32"


def _time_axis(fig):
    return next(ax for ax in fig.axes if ax.get_xlabel().startswith("Time"))


def test_time_courses_show_the_mean_response_and_the_onset(results, tmp_path):
    da = results[EEG]
    fig = da.berg.plot(tmp_path / "eeg.png")
    assert_picture(tmp_path / "eeg.png")
    ax = _time_axis(fig)
    expected = np.asarray(da.values, dtype=np.float64).mean(axis=(0, 1))  # (channel, time): stimuli and repetitions
    lines = ax.get_lines()[: da.sizes["channel"]]
    drawn = np.stack([np.asarray(line.get_ydata(), dtype=np.float64) for line in lines])
    np.testing.assert_allclose(drawn, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_allclose(lines[0].get_xdata(), da["time"].values, atol=1e-9)
    onset = [ln for ln in ax.get_lines() if ln.get_label() == "stimulus onset"]
    assert len(onset) == 1 and list(onset[0].get_xdata()) == [0.0, 0.0]


def test_topographies_at_default_and_chosen_times(results):
    da = results[EEG]
    titles = [ax.get_title() for ax in da.berg.plot().axes]
    assert [t for t in titles if t.endswith(" s")] == ["0.100 s", "0.200 s", "0.300 s", "0.400 s"]
    fig = da.berg.plot(times=[0.152, 0.5])  # snapped to the 5 ms samples
    assert [t for t in (ax.get_title() for ax in fig.axes) if t.endswith(" s")] == ["0.150 s", "0.500 s"]


def test_one_stimulus_and_few_channels(results, tmp_path):
    da = results[EEG]
    second = da["stimulus"].values[1]
    fig = da.berg.plot(stimulus=str(second), channels=["Oz", "O1"])
    lines = _time_axis(fig).get_lines()[:2]
    assert [ln.get_label() for ln in lines] == ["Oz", "O1"]
    expected = da.sel(stimulus=second, channel="O1").mean("repetition").values
    np.testing.assert_allclose(lines[1].get_ydata(), expected, rtol=1e-5, atol=1e-6)
    assert f"stimulus {int(second)}" in fig.get_suptitle()

    two = da.isel(channel=[0, 1])  # too few channels for a scalp map: time courses only
    two.berg.plot(tmp_path / "few.png")
    assert_picture(tmp_path / "few.png", min_colours=5)
    with pytest.raises(InvalidParameterError, match="at least 4 channels"):
        two.berg.plot(times=[0.1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"times": [0.9]}, r"outside this result's time range, -0.100 to 0.595 s"),
        ({"times": "soon"}, "times must be a number or a list"),
        ({"times": list(np.linspace(0, 0.5, 9))}, "1 to 8 numbers"),
        ({"channels": ["Oz", "Xx"]}, r"unknown channel 'Xx' for this result\. Valid channels: \['Fp1'"),
        ({"stimulus": "no-such-image"}, r"stimulus 'no-such-image' is not in this result; its stimuli are \[0, 1, 2\]"),
        ({"reliability": 0.2}, "no reliability coordinate"),
        ({"colour": "red"}, r"unknown plot option\(s\) \['colour'\].*times: .*channels: "),
        ({"dpi": 0}, "dpi must be a number from 20 to 600"),
    ],
)
def test_bad_options_are_refused(results, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        results[EEG].berg.plot(**options)
