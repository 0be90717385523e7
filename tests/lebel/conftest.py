"""Fixtures of the LeBel 2023 tests: a tiny random OPT (24 layers, 16 wide) and seeded stores in the real formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from berg_fmri_lebel.layout import MODEL_ID

WIDTH = 16
N_VOXELS = 120


@pytest.fixture(scope="session")
def opt_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_language_backbones.tiny import write_tiny_opt

    folder = tmp_path_factory.mktemp("lebel_opt") / "opt-1.3b"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        write_tiny_opt(folder, num_hidden_layers=24, hidden_size=WIDTH, num_attention_heads=2, ffn_dim=32,
                       max_position_embeddings=1024)
    return folder


def write_store(root: Path, subjects: tuple[str, ...] = ("UTS01", "UTS03"), seed: int = 0, n_features: int = WIDTH,
                geometry: bool = False, n_voxels: int = N_VOXELS) -> Path:
    from berg_core.plugin import write_synthetic_store

    write_synthetic_store(root, models=[MODEL_ID], subjects=list(subjects), seed=seed, backbone=False,
                          options={MODEL_ID: {"n_features": n_features, "n_voxels": n_voxels, "geometry": geometry}})
    return root


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("lebel_store"))


@pytest.fixture(scope="session")
def geo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("lebel_geo_store"), subjects=("UTS02",), geometry=True)
