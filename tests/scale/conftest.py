"""Fixtures of the scale tests: a seeded fsaverage store written by the plugin's own hook."""

from __future__ import annotations

import pytest

MODEL = "fmri-nsd_fsaverage-vit_b_32"


@pytest.fixture(scope="session")
def fmri_store(tmp_path_factory):
    from berg_core import BERG

    root = tmp_path_factory.mktemp("store")
    berg = BERG(root)
    reg = berg.plugin_manager.registry.get(MODEL)
    berg.plugin_manager.owner_hook("berg_write_synthetic_store", reg.plugin_name)(
        card=reg.card, root=str(root), subjects=[1, 2], seed=3, options={"n_components": 8}
    )
    return root


EEG = "eeg-things_eeg_2-vit_b_32"


@pytest.fixture(scope="session")
def mixed_store(tmp_path_factory):
    """EEG (subjects 1-2) and fsaverage (subjects 1-2) models in one store, small PCA."""
    from berg_core import BERG

    root = tmp_path_factory.mktemp("mixed")
    berg = BERG(root)
    for model_id in (EEG, MODEL):
        reg = berg.plugin_manager.registry.get(model_id)
        berg.plugin_manager.owner_hook("berg_write_synthetic_store", reg.plugin_name)(
            card=reg.card, root=str(root), subjects=[1, 2], seed=5, options={"n_components": 8}
        )
    return root


@pytest.fixture
def toy_plugin_dir(tmp_path, monkeypatch):
    """The third-party toy plugin of ``tests/core/conftest.py``, importable from a folder on sys.path."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "core" / "conftest.py"
    spec = importlib.util.spec_from_file_location("berg_scale_toy_source", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = module.write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    for name in [m for m in sys.modules if m == "berg_toy" or m.startswith("berg_toy.")]:
        del sys.modules[name]
