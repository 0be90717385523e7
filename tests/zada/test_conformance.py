"""The Zada plugin passes berg's conformance kit (``berg_core.testing``), with the plugin contributing
its GPT-2 XL backbone (``language_backbones``) installed beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from berg_ecog_zada.layout import MODEL_ID

from berg_core.testing import PluginConformance

from .conftest import N_ELECTRODES, WIDTH


class TestZadaConformance(PluginConformance):
    plugin = "ecog_zada"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, gpt2_folder: Path) -> dict[str, Any]:
        # the tiny GPT-2 stands in for GPT-2 XL; the read-out is written as wide
        return {
            "with_plugins": ["language_backbones"],
            "options": {MODEL_ID: {"n_features": WIDTH, "n_electrodes": N_ELECTRODES}},
            "load_options": {MODEL_ID: {"backbone_weights": str(gpt2_folder)}},
            "backbone": False,
        }
