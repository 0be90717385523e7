"""Fixtures of the reliability tests.

* ``store_root``: subject 1 of the three bundled models, seeded synthetic weights in the real
  formats (small PCA, a small fwRF volume), written by each plugin's own hook;
* ``toy_berg``: the third-party toy plugin of ``tests/core/conftest.py`` (a real torch model,
  fastest to run), registered by hand on its own plugin manager, with its store;
* ``plugin_site``: the same toy plugin installed in a folder (package and dist-info with its entry
  point), so ``berg`` subprocesses find it on PYTHONPATH (it can slow and log their batches, see helpers);
* ``s3_server`` / ``s3``: the moto S3 server of ``tests/store/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from .helpers import TESTS, TOY, load_module

_store_fixtures = load_module(TESTS / "store" / "conftest.py", "berg_reliability_store_fixtures")
s3_server = _store_fixtures.s3_server
s3 = _store_fixtures.s3
FAKE_AWS = _store_fixtures.FAKE_AWS

EEG = "eeg-things_eeg_2-vit_b_32"
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"
SEED = 21
SMALL = {
    EEG: {"n_components": 4},
    FSAVERAGE: {"n_components": 4},
    FWRF: {"rois": ["V1", "FFA-1"], "volume_shape": [9, 11, 8], "n_voxels": {"V1": 40, "FFA-1": 12}},
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Remote stores cache into the test's own folder, with fake AWS credentials: nothing reaches AWS."""
    cache = tmp_path / "berg-cache"
    monkeypatch.setenv("BERG_CACHE_DIR", str(cache))
    monkeypatch.delenv("BERG_DIR", raising=False)
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # refused unless a test points it elsewhere
    return cache


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_core.workflows.synthetic import write_synthetic_store

    root = tmp_path_factory.mktemp("reliability_store")
    write_synthetic_store(root, models=list(SMALL), subjects=[1], seed=SEED, options=SMALL, backbone=False)
    return root


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    core = load_module(TESTS / "core" / "conftest.py", "berg_reliability_core_fixtures")
    return Path(core.write_plugin(tmp_path_factory.mktemp("site")))


@pytest.fixture(scope="session")
def toy_pm(plugin_site: Path) -> Any:
    from berg_core.registry.manager import PluginManager

    toy = load_module(plugin_site / "berg_toy" / "plugin.py", "berg_reliability_toy_plugin")
    pm = PluginManager()
    pm.register(toy, name="toy")
    return pm


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory: pytest.TempPathFactory, toy_pm: Any) -> Path:
    root = tmp_path_factory.mktemp("toy_store")
    card = toy_pm.registry.get(TOY).card
    toy_pm.owner_hook("berg_write_synthetic_store", "toy")(card=card, root=str(root), subjects=[1, 2], seed=0, options={})
    return root


@pytest.fixture
def toy_berg(toy_root: Path, toy_pm: Any) -> Any:
    from berg_core import BERG

    return BERG(toy_root, plugin_manager=toy_pm)


def write_images(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` seeded PNG files of odd sizes, named ``img00.png``..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (9 + i % 4, 12, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("images"), 6)
