"""fsaverage and fwRF models deep-copy independently and pickle as a reload from the store."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CASES = [
    ("fmri-nsd_fsaverage-vit_b_32", {"roi": "V1"}),
    ("fmri-nsd-fwrf", {"roi": ["V1", "FFA-1"]}),
]


@pytest.fixture(scope="module")
def stimuli() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (2, 3, 227, 227), dtype=np.uint8)


def _weights(model: Any) -> list[Any]:
    if hasattr(model, "_runners"):
        return [p for r in model._runners for p in (*r.net.parameters(), *r.readout.parameters())]
    return [model.readout.projection.weight, *(h.coef for h in model.readout.heads)]


@pytest.mark.parametrize(("model_id", "selection"), CASES)
def test_deepcopy_and_pickle(berg: Any, vit: Path, stimuli: np.ndarray, model_id: str, selection: dict[str, Any]) -> None:
    model = berg.get_encoding_model(model_id, subject=1, selection=selection, device="cpu")
    expected = berg.encode(model, stimuli, show_progress=False)

    clone = copy.deepcopy(model)
    assert not any(a is b for a, b in zip(_weights(clone), _weights(model), strict=True))
    np.testing.assert_array_equal(berg.encode(clone, stimuli, show_progress=False).values, expected.values)
    for w in _weights(clone):
        w.data.zero_()
    clone.cleanup()

    data = pickle.dumps(model)
    assert len(data) < 4096
    back = pickle.loads(data)
    assert back.selection == model.selection
    for m in (model, back):
        again = berg.encode(m, stimuli, show_progress=False)
        np.testing.assert_array_equal(again.values, expected.values)
        assert again.coords.to_dataset().identical(expected.coords.to_dataset())
