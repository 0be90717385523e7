"""The THINGS EEG2 plugin passes berg's conformance kit (``berg_core.testing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berg_core.testing import PluginConformance

from .eeg_reference import MODEL_ID, N_COMPONENTS

ALEXNET_IDS = ("eeg-things_eeg_2-alexnet", "eeg-things_eeg_2-alexnet_untrained")


class TestEEGConformance(PluginConformance):
    plugin = "eeg_things"

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls, torch_home: Path, alexnet_weights_file: Path) -> dict[str, Any]:
        from berg_core.backbones import VIT_B_32_FILENAME

        # the seeded hub weights stand in for the backbones, so no 350 MB copy is written per run;
        # the untrained AlexNet needs none (it is built from its seed)
        return {
            "subjects": [1, 2],
            "options": {m: {"n_components": N_COMPONENTS} for m in (MODEL_ID, *ALEXNET_IDS)},
            "load_options": {
                MODEL_ID: {"backbone_weights": str(torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME)},
                ALEXNET_IDS[0]: {"backbone_weights": str(alexnet_weights_file)},
            },
            "backbone": False,
        }
