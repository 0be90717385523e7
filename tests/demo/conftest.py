"""Fixtures of the demo and plotting tests: one small synthetic store, one multi-model encode.

The store is written by core's :func:`berg_core.workflows.synthetic.write_synthetic_store`,
which asks each model's plugin (its ``berg_write_synthetic_store`` hook) for
seeded files in the real formats, with small sizes. The three models then
encode three images in one pass into a Zarr store; the tests draw and export
what they read back from it, as a user of ``berg plot`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

EEG = "eeg-things_eeg_2-vit_b_32"
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"
SEED = 11
SMALL_OPTIONS = {
    EEG: {"n_components": 4},
    FSAVERAGE: {"n_components": 4},
    FWRF: {"rois": ["V1"], "volume_shape": [9, 11, 8], "n_voxels": {"V1": 60}},
}


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Subject 1 of every bundled model, small sizes; no backbone (tests pass the seeded hub file)."""
    from berg_core.workflows.synthetic import write_synthetic_store

    root = tmp_path_factory.mktemp("demo_store")
    write_synthetic_store(root, models=list(SMALL_OPTIONS), subjects=[1], seed=SEED, options=SMALL_OPTIONS, backbone=False)
    return root


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """Three seeded uint8 images of an odd size and aspect."""
    return np.random.default_rng(5).integers(0, 256, (3, 3, 150, 170), dtype=np.uint8)


@pytest.fixture(scope="session")
def encoded(store_root: Path, images: np.ndarray, vit_weights_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Zarr store of one multi-model encode (EEG, whole-brain fsaverage, fwRF V1) of ``images``."""
    from berg_core import BERG

    berg = BERG(store_root)
    vit = {"backbone_weights": str(vit_weights_file)}
    models = [
        berg.get_encoding_model(EEG, subject=1, device="cpu", **vit),
        berg.get_encoding_model(FSAVERAGE, subject=1, device="cpu", **vit),
        berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu"),
    ]
    target = tmp_path_factory.mktemp("encoded") / "run.zarr"
    berg.encode(models, images, store=str(target), show_progress=False)
    for m in models:
        m.cleanup()
    return target


@pytest.fixture(scope="session")
def results(encoded: Path) -> dict[str, Any]:
    """The encoded results read back from Zarr, by model id."""
    from berg_core.results.groups import open_results

    return {label.split("/")[0]: da for label, da in open_results(encoded).items()}
