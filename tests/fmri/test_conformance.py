"""The NSD fMRI plugin passes berg's conformance kit (``berg_core.testing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berg_core.testing import PluginConformance

from .conftest import FWRF_VOLUME, N_COMPONENTS

FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"
ALEXNET_IDS = ("fmri-nsd_fsaverage-alexnet", "fmri-nsd_fsaverage-alexnet_untrained")


class TestFMRIConformance(PluginConformance):
    plugin = "fmri_nsd"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, torch_home: Path, alexnet_weights_file: Path) -> dict[str, Any]:
        from berg_core.backbones import VIT_B_32_FILENAME

        hub = str(torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME)
        rois = ["V1", "V2"]  # the kit compares V1 alone with the union of the card's first two ROIs
        return {
            "options": {
                FSAVERAGE: {"n_components": N_COMPONENTS},
                **{m: {"n_components": N_COMPONENTS} for m in ALEXNET_IDS},
                FWRF: {"rois": rois, "volume_shape": FWRF_VOLUME, "n_voxels": dict.fromkeys(rois, 24)},
            },
            # the untrained AlexNet needs no weights: it is built from its seed
            "load_options": {FSAVERAGE: {"backbone_weights": hub}, ALEXNET_IDS[0]: {"backbone_weights": str(alexnet_weights_file)}},
            "backbone": False,
        }
