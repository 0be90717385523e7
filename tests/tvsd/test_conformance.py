"""The TVSD plugin passes berg's conformance kit (``berg_core.testing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berg_core.testing import PluginConformance

from .reference import MODEL_ID


class TestTvsdConformance(PluginConformance):
    plugin = "utah_tvsd"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, torch_home: Path) -> dict[str, Any]:
        from berg_core.backbones import VIT_B_32_FILENAME

        # the seeded hub weights stand in for the backbone, so no 350 MB copy is written per run
        return {
            "subjects": ["N", "F"],
            "options": {MODEL_ID: {"n_components": 4}},
            "load_options": {MODEL_ID: {"backbone_weights": str(torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME)}},
            "backbone": False,
        }
