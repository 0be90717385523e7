"""The CUDA data path of issue 16: placement, pinned non-blocking copies, autocast, batch size from free memory.

Skipped where no CUDA device is present (CI, these 2-core machines); run where one is lent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

EEG = "eeg-things_eeg_2-vit_b_32"


@pytest.fixture(scope="module")
def eeg_model(tmp_path_factory: pytest.TempPathFactory, vit_weights_file: Path) -> Any:
    from berg_core import BERG
    from berg_core.plugin import write_synthetic_store

    root = tmp_path_factory.mktemp("cuda_paths")
    write_synthetic_store(root, models=[EEG], subjects=[1], seed=4, options={EEG: {"n_components": 8}}, backbone=False)
    berg = BERG(str(root))
    model = berg.get_encoding_model(EEG, subject=1, device="cuda", backbone_weights=str(vit_weights_file))
    yield berg, model
    model.cleanup()


def test_every_weight_lives_on_the_device(eeg_model: Any) -> None:
    _, model = eeg_model
    assert model.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in model.feature_extractor.parameters())
    ro = model.readout
    assert ro.projection.weight.is_cuda and ro.projection.bias.is_cuda
    assert all(h.coef.is_cuda and h.intercept.is_cuda for h in ro.heads)


def test_pinned_non_blocking_copy_gives_the_same_values() -> None:
    from berg_core.models.device import to_device

    x = torch.randn(4, 3, 224, 224)
    y = to_device(x, "cuda")
    assert y.is_cuda
    torch.cuda.current_stream().synchronize()
    torch.testing.assert_close(y.cpu(), x, rtol=0, atol=0)
    assert x.pin_memory().is_pinned() and not x.is_pinned()  # the caller's tensor is left as it was
    z = to_device(y, "cuda")
    assert z.data_ptr() == y.data_ptr()  # already there: no copy


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_backbone_under_autocast_runs_in_reduced_precision(eeg_model: Any, dtype: Any) -> None:
    _, model = eeg_model
    x = torch.randn(2, 3, 224, 224, device="cuda")
    exact = model.feature_extractor(x)
    with torch.autocast(device_type="cuda", dtype=dtype):
        low = model.feature_extractor(x)
    assert exact.dtype == torch.float32
    err = (low.float() - exact).abs().max() / exact.abs().max()
    assert float(err) < {torch.bfloat16: 5e-2, torch.float16: 5e-3}[dtype]


def test_batch_size_follows_free_memory() -> None:
    from berg_core.models.device import batch_size_for

    free, _ = torch.cuda.mem_get_info()
    small = batch_size_for("cuda", bytes_per_item=free // 4, default=32, fraction=1.0)
    assert small in (3, 4)  # free memory may move a little between the two readings
    assert batch_size_for("cuda", bytes_per_item=1, default=32, cap=64) == 64
    assert batch_size_for("cuda", bytes_per_item=10 * free, default=32) == 1  # never 0


def test_encode_on_the_device_equals_one_batch_per_image(eeg_model: Any) -> None:
    berg, model = eeg_model
    images = np.random.default_rng(3).integers(0, 256, (5, 3, 64, 80), dtype=np.uint8)
    together = berg.encode(model, images, batch_size=4, show_progress=False)
    alone = np.concatenate([berg.encode(model, images[i : i + 1], show_progress=False).values for i in range(5)])
    np.testing.assert_allclose(together.values, alone, rtol=0, atol=1e-4 * float(np.abs(alone).max()))
