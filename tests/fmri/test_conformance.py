"""The NSD fMRI plugin passes berg's conformance kit (``berg_core.testing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berg_core.testing import PluginConformance

from .conftest import FWRF_VOLUME, N_COMPONENTS

FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"


class TestFMRIConformance(PluginConformance):
    plugin = "fmri_nsd"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, torch_home: Path) -> dict[str, Any]:
        from berg_core.backbones import VIT_B_32_FILENAME

        hub = str(torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME)
        rois = ["V1", "V2"]  # the kit compares V1 alone with the union of the card's first two ROIs
        return {
            "options": {
                FSAVERAGE: {"n_components": N_COMPONENTS},
                FWRF: {"rois": rois, "volume_shape": FWRF_VOLUME, "n_voxels": dict.fromkeys(rois, 24)},
            },
            "load_options": {FSAVERAGE: {"backbone_weights": hub}},
            "backbone": False,
        }
