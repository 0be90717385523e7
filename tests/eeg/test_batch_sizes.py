"""What "exact" means across batch sizes (README, "Encoding at scale"): pinned for THINGS EEG2.

The same call gives the same bits; another batch size changes only the float32 summation order
of the 460,800-long read-out product, by less than ``BOUND`` of the result's largest magnitude.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: README's bound on differences between batch sizes, relative to the largest |value| of the result
BOUND = 1e-5
STIMULI = np.random.default_rng(21).integers(0, 256, size=(5, 3, 224, 224), dtype=np.uint8)


def test_batch_size_changes_values_by_less_than_the_documented_bound(load: Any, session_berg: Any) -> None:
    model = load()
    runs = {bs: session_berg.encode(model, STIMULI, show_progress=False, batch_size=bs).values for bs in (1, 2, 5)}
    scale = np.abs(runs[5]).max()
    for bs in (1, 2):
        assert np.abs(runs[bs] - runs[5]).max() <= BOUND * scale, bs
    again = session_berg.encode(model, STIMULI[:2], show_progress=False, batch_size=2).values
    np.testing.assert_array_equal(again, runs[2][:2])
