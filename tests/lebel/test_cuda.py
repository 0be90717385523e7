"""fmri-lebel2023-opt_1_3b on a CUDA device gives the CPU values (skipped where no CUDA device is present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from berg_fmri_lebel.layout import MODEL_ID

from berg_core import BERG

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_cuda_gives_the_cpu_values(store: Path, opt_folder: Path) -> None:
    words = "the old house by the river was quiet when we came home late".split()
    stories = [{"word": words, "onset": 0.4 * np.arange(len(words))}, {"word": words[:3], "onset": [5.0, 5.2, 6.0]}]
    berg = BERG(store)
    out = {}
    for device in ("cpu", "cuda"):
        model = berg.get_encoding_model(MODEL_ID, subject="UTS01", selection={"roi": ["A1", "AC"]}, device=device,
                                        backbone_weights=str(opt_folder))
        assert model.device.type == device
        out[device] = berg.encode(model, stories, batch_size=2, show_progress=False)
    assert out["cuda"].dtype == np.float32
    np.testing.assert_array_equal(out["cuda"]["time"].values, out["cpu"]["time"].values)
    scale = float(np.abs(out["cpu"].values).max())
    np.testing.assert_allclose(out["cuda"].values, out["cpu"].values, rtol=1e-4, atol=1e-4 * scale)
