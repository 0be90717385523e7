"""The bundled models on a CUDA device: same values as on the CPU, reduced precision within its bounds.

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
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"
SMALL = {
    EEG: {"n_components": 8},
    FSAVERAGE: {"n_components": 8},
    FWRF: {"rois": ["V1"], "volume_shape": [9, 11, 8], "n_voxels": {"V1": 40}},
}
SELECTION = {EEG: None, FSAVERAGE: {"roi": "V1"}, FWRF: {"roi": "V1"}}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_core.plugin import write_synthetic_store

    root = tmp_path_factory.mktemp("cuda_store")
    write_synthetic_store(root, models=list(SMALL), subjects=[1], seed=3, options=SMALL, backbone=False)
    return root


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 3, 120, 150), dtype=np.uint8)


def _load(berg: Any, model_id: str, device: str, weights: Path) -> Any:
    options = {} if model_id == FWRF else {"backbone_weights": str(weights)}
    return berg.get_encoding_model(model_id, subject=1, selection=SELECTION[model_id], device=device, **options)


def _scale(values: np.ndarray) -> float:
    return float(np.abs(values).max())


@pytest.mark.parametrize("model_id", list(SMALL))
def test_cuda_gives_the_cpu_values(store: Path, vit_weights_file: Path, model_id: str) -> None:
    from berg_core import BERG

    berg = BERG(str(store))
    images = _images(5)
    cpu = berg.encode(_load(berg, model_id, "cpu", vit_weights_file), images, show_progress=False, batch_size=2)
    model = _load(berg, model_id, "cuda", vit_weights_file)
    assert model.device.type == "cuda"
    gpu = berg.encode(model, images, show_progress=False, batch_size=2)
    assert gpu.dims == cpu.dims and gpu.shape == cpu.shape
    # TF32 is off by default for float32 matmuls in PyTorch: float32 sums in another order only
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=0, atol=1e-4 * _scale(cpu.values))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_stays_within_its_bound(store: Path, vit_weights_file: Path, precision: str) -> None:
    from berg_core import BERG

    berg = BERG(str(store))
    images = _images(6)
    models = [_load(berg, m, "cuda", vit_weights_file) for m in (EEG, FSAVERAGE)]
    exact = berg.encode(models, images, show_progress=False)
    low = berg.encode(models, images, show_progress=False, precision=precision)
    bound = {"bf16": 5e-2, "fp16": 5e-3}[precision]  # README: about 1e-2 (bf16) / 1e-3 (fp16) relative
    for label, da in exact.items():
        assert low[label].dtype == np.float32  # read-outs stay float32
        err = np.abs(low[label].values - da.values).max() / _scale(da.values)
        assert err < bound, (label, precision, err)


def test_results_stream_to_zarr_from_the_gpu(store: Path, vit_weights_file: Path, tmp_path: Path) -> None:
    import xarray as xr

    from berg_core import BERG

    berg = BERG(str(store))
    models = [_load(berg, m, "cuda", vit_weights_file) for m in SMALL]
    images = _images(7)
    memory = berg.encode(models, images, show_progress=False, batch_size=3)
    berg.encode(models, images, show_progress=False, batch_size=3, store=tmp_path / "run.zarr")
    tree = xr.open_datatree(tmp_path / "run.zarr", engine="zarr")
    for label, da in memory.items():
        ds = tree[label].to_dataset()
        np.testing.assert_array_equal(ds[ds.attrs["berg_variable"]].values, da.values)
