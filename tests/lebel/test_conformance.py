"""The LeBel plugin passes berg's conformance kit (``berg_core.testing``), with the plugin contributing
its OPT-1.3B backbone (``language_backbones``) installed beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from berg_fmri_lebel.layout import MODEL_ID

from berg_core.testing import PluginConformance

from .conftest import N_VOXELS, WIDTH


class TestLebelConformance(PluginConformance):
    plugin = "fmri_lebel"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, opt_folder: Path) -> dict[str, Any]:
        # the tiny OPT stands in for OPT-1.3B; the ridge is written as wide
        return {
            "with_plugins": ["language_backbones"],
            "options": {MODEL_ID: {"n_features": WIDTH, "n_voxels": N_VOXELS}},
            "load_options": {MODEL_ID: {"backbone_weights": str(opt_folder)}},
            "backbone": False,
        }
