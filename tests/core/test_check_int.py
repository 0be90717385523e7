"""``check_int``: the one check of plugin-owned whole-number options, and its one message style."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.cards.numbers import check_int
from berg_core.errors import InvalidParameterError


@pytest.mark.parametrize(("value", "kwargs", "want"), [(3, {"low": 1}, 3), (np.int16(48), {"low": 1, "high": 48}, 48), (-5, {}, -5)])
def test_whole_numbers_in_range_come_back_as_int(value, kwargs, want) -> None:
    got = check_int(value, "x", **kwargs)
    assert got == want and type(got) is int


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (0, {"low": 1}, r"x must be a positive integer, got 0"),
        (-1, {"low": 0}, r"x must be a non-negative integer, got -1"),
        (49, {"low": 1, "high": 48, "note": " (default 12)"}, r"x must be an integer from 1 to 48 \(default 12\), got 49"),
        (2, {"low": 32}, r"x must be an integer of at least 32, got 2"),
        (True, {"low": 0}, r"x must be a non-negative integer, got True"),
        (2.0, {}, r"x must be an integer, got 2.0"),
        ("3", {"high": 9}, r"x must be an integer of at most 9, got '3'"),
    ],
)
def test_anything_else_is_refused_with_the_expectation(value, kwargs, message) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_int(value, "x", **kwargs)
