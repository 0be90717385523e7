"""The BOLD Moments plugin passes berg's conformance kit (``berg_core.testing``), fed video clips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berg_core.testing import PluginConformance

from .bmd_reference import MODEL_ID, STORE_OPTIONS


class TestBMDConformance(PluginConformance):
    plugin = "fmri_bmd"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, s3d_file: Path) -> dict[str, Any]:
        # the seeded S3D file stands in for the backbone, so no second copy is written per run
        return {
            "subjects": [1, 2],
            "options": {MODEL_ID: dict(STORE_OPTIONS)},
            "load_options": {MODEL_ID: {"backbone_weights": str(s3d_file)}},
            "backbone": False,
        }
