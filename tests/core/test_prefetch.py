"""The background loader: order, bounded look-ahead, errors, early stop."""

from __future__ import annotations

import threading
import time

import pytest

from berg_core.stimuli.prefetch import prefetch


def test_yields_work_results_in_order():
    assert list(prefetch(range(10), lambda i: i * i, depth=3)) == [i * i for i in range(10)]


def test_look_ahead_is_bounded():
    produced = []

    def work(i):
        produced.append(i)
        return i

    gen = prefetch(range(100), work, depth=2)
    assert next(gen) == 0
    time.sleep(0.2)
    assert len(produced) <= 4  # the one consumed, two queued, one waiting to be queued
    gen.close()


def test_errors_are_raised_in_the_consumer():
    def work(i):
        if i == 3:
            raise ValueError("bad item 3")
        return i

    got = []
    with pytest.raises(ValueError, match="bad item 3"):
        for x in prefetch(range(10), work):
            got.append(x)
    assert got == [0, 1, 2]


def test_closing_early_stops_the_thread():
    before = threading.active_count()
    gen = prefetch(iter(range(10**9)), lambda i: i, depth=2)
    next(gen)
    gen.close()
    time.sleep(0.3)
    assert threading.active_count() <= before
