"""Fixtures of the Zada 2025 tests: a tiny random GPT-2 (48 layers, 16 wide) and a seeded store in the real formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from berg_ecog_zada.layout import MODEL_ID

WIDTH = 16
N_ELECTRODES = 6


@pytest.fixture(scope="session")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_language_backbones.tiny import write_tiny_gpt2

    folder = tmp_path_factory.mktemp("zada_gpt2") / "gpt2-xl"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        write_tiny_gpt2(folder, n_layer=48, n_embd=WIDTH, n_head=2, n_positions=64)
    return folder


def write_store(root: Path, subjects: tuple[str, ...] = ("01", "03"), seed: int = 0, n_features: int = WIDTH) -> Path:
    from berg_core.plugin import write_synthetic_store

    write_synthetic_store(root, models=[MODEL_ID], subjects=list(subjects), seed=seed, backbone=False,
                          options={MODEL_ID: {"n_features": n_features, "n_electrodes": N_ELECTRODES}})
    return root


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("zada_store"))
