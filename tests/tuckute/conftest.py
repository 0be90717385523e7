"""Fixtures of the Tuckute 2024 tests: a tiny random GPT-2 (48 layers, 16 wide) and seeded stores in the real formats."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from berg_fmri_tuckute.layout import MODEL_ID, WEIGHTS_RELPATH

WIDTH = 16


@pytest.fixture(scope="session")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_language_backbones.tiny import write_tiny_gpt2

    folder = tmp_path_factory.mktemp("tuckute_gpt2") / "gpt2-xl"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        write_tiny_gpt2(folder, n_layer=48, n_embd=WIDTH, n_head=2, n_positions=128)
    return folder


def write_store(root: Path, seed: int = 0, n_features: int = WIDTH) -> Path:
    """The plugin's synthetic store (hand-written RidgeCV pickle), without a backbone."""
    from berg_core.plugin import write_synthetic_store

    write_synthetic_store(root, models=[MODEL_ID], seed=seed, options={MODEL_ID: {"n_features": n_features}}, backbone=False)
    return root


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("tuckute_store"))


@pytest.fixture(scope="session")
def sklearn_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A store whose weights are ``pickle.dump`` of a RidgeCV really fitted by scikit-learn (as published)."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    root = write_store(tmp_path_factory.mktemp("tuckute_sklearn"))
    rng = np.random.default_rng(3)
    clf = sklearn.RidgeCV(alphas=[10**x for x in range(-30, 30)], alpha_per_target=True)
    clf.fit(rng.normal(size=(40, WIDTH)).astype(np.float32), rng.normal(size=(40, 6)))
    order = ["lang_LH_AntTemp", "lang_LH_IFG", "lang_LH_IFGorb", "lang_LH_MFG", "lang_LH_PostTemp", "lang_LH_netw"]
    with open(root / WEIGHTS_RELPATH, "wb") as fh:
        pickle.dump({"clf": clf, "X_scaler": None, "y_scaler": None, "neuroid_order": order}, fh)
    return root, clf
