"""What "exact" means across batch sizes (README, "Encoding at scale"): pinned for the fsaverage model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: README's bound on differences between batch sizes, relative to the largest |value| of the result
BOUND = 1e-5
STIMULI = np.random.default_rng(22).integers(0, 256, size=(5, 3, 224, 224), dtype=np.uint8)


def test_batch_size_changes_values_by_less_than_the_documented_bound(berg: Any, vit: Path) -> None:
    model = berg.get_encoding_model("fmri-nsd_fsaverage-vit_b_32", subject=1, selection={"roi": "V1"}, device="cpu")
    runs = {bs: berg.encode(model, STIMULI, show_progress=False, batch_size=bs).values for bs in (1, 2, 5)}
    scale = np.abs(runs[5]).max()
    for bs in (1, 2):
        assert np.abs(runs[bs] - runs[5]).max() <= BOUND * scale, bs
    np.testing.assert_array_equal(berg.encode(model, STIMULI[:2], show_progress=False, batch_size=2).values, runs[2][:2])
