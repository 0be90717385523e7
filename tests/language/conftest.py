"""Fixtures of the language backbone tests: tiny random GPT-2 / OPT folders with real layer counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random GPT-2 of GPT-2 XL's 48 layers, 16 wide, with a real byte-level BPE tokenizer."""
    from berg_language_backbones.tiny import write_tiny_gpt2

    folder = tmp_path_factory.mktemp("gpt2") / "gpt2-xl"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        write_tiny_gpt2(folder, n_layer=48, n_embd=16, n_head=2, n_positions=128)
    return folder


@pytest.fixture(scope="session")
def opt_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random OPT of OPT-1.3B's 24 layers, 16 wide."""
    from berg_language_backbones.tiny import write_tiny_opt

    folder = tmp_path_factory.mktemp("opt") / "opt-1.3b"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        write_tiny_opt(folder, num_hidden_layers=24, hidden_size=16, num_attention_heads=2, ffn_dim=32,
                       max_position_embeddings=128)
    return folder
