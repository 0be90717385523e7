"""The map times of time-resolved plots (EEG, MEG): one rule for every plugin."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core import InvalidParameterError
from berg_core.plugin import topomap_times

TIMES = np.linspace(-0.1, 0.595, 140)  # THINGS EEG2's samples


def test_the_defaults_in_range_snap_to_the_nearest_samples() -> None:
    got = topomap_times(None, TIMES)
    assert len(got) == 4 and all(t in TIMES for t in got)
    assert np.allclose(got, [0.1, 0.2, 0.3, 0.4], atol=0.0026)


def test_without_a_default_in_range_four_times_spread_over_the_result() -> None:
    late = np.linspace(1.0, 2.0, 11)
    np.testing.assert_allclose(topomap_times(None, late), [1.0, 1.3, 1.7, 2.0])
    assert topomap_times(None, late, default=(1.5,)) == [1.5]


def test_requested_times_snap_and_repeats_go() -> None:
    assert topomap_times([0.101, 0.1], TIMES) == [float(TIMES[np.argmin(np.abs(TIMES - 0.1))])]
    assert topomap_times(0.2, TIMES) == [float(TIMES[np.argmin(np.abs(TIMES - 0.2))])]


@pytest.mark.parametrize(
    "requested, match",
    [
        ("soon", "times must be a number or a list of 1 to 3"),
        (True, "times must be"),
        ([0.1, 0.2, 0.3, 0.4], "a list of 1 to 3"),
        ([], "a list of 1 to 3"),
        ([0.9], r"outside this result's time range, -0.100 to 0.595 s"),
    ],
)
def test_bad_requests_say_what_is_expected(requested: object, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        topomap_times(requested, TIMES, most=3)
