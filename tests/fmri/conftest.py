"""Fixtures of the NSD fMRI plugin tests: seeded synthetic stores in the real formats.

Stores are written once per session by the plugin's own ``berg_write_synthetic_store``
hook. Tests read them back with plain NumPy / torch as independent references.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SEED = 7
N_COMPONENTS = 8
#: fwRF ROIs written for the tests; FFA-2 has a single voxel (rank tests), V1 overlaps early.
FWRF_TEST_ROIS = ["V1", "V2", "V3", "early", "FFA-1", "FFA-2", "lateral", "ventral"]
FWRF_VOLUME = (11, 13, 9)
FWRF_VOXELS = {**dict.fromkeys(FWRF_TEST_ROIS, 24), "FFA-2": 1, "early": 90, "lateral": 31}


@pytest.fixture(scope="session")
def plugin_manager() -> Any:
    """A plugin manager holding only this plugin (other plugins' state cannot affect these tests)."""
    from berg_fmri_nsd import plugin

    from berg_core.registry.manager import PluginManager

    pm = PluginManager()
    pm.register(plugin, name="fmri_nsd")
    return pm


@pytest.fixture(scope="session")
def fsaverage_card(plugin_manager: Any) -> Any:
    return plugin_manager.registry.get("fmri-nsd_fsaverage-vit_b_32").card


@pytest.fixture(scope="session")
def fwrf_card(plugin_manager: Any) -> Any:
    return plugin_manager.registry.get("fmri-nsd-fwrf").card


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory, plugin_manager: Any, fsaverage_card: Any, fwrf_card: Any) -> Path:
    """One local store with both models: fsaverage subjects 1-2 (8 components), fwRF subject 1 (small volume)."""
    root = tmp_path_factory.mktemp("berg_store")
    write = plugin_manager.owner_hook("berg_write_synthetic_store", "fmri_nsd")
    write(card=fsaverage_card, root=str(root), subjects=[1, 2], seed=SEED, options={"n_components": N_COMPONENTS})
    write(card=fwrf_card, root=str(root), subjects=[1], seed=SEED,
          options={"rois": FWRF_TEST_ROIS, "volume_shape": FWRF_VOLUME, "n_voxels": FWRF_VOXELS})
    return root


@pytest.fixture(scope="session")
def make_berg(store_root: Path, plugin_manager: Any) -> Callable[..., Any]:
    from berg_core import BERG

    def make(root: Path | None = None) -> Any:
        return BERG(berg_dir=str(root or store_root), plugin_manager=plugin_manager)

    return make


@pytest.fixture(scope="session")
def berg(make_berg: Callable[..., Any]) -> Any:
    return make_berg()


@pytest.fixture(scope="session")
def shared_backbone(torch_home: Path) -> Any:
    """Keep the seeded ViT-B/32 of the hub cache alive for the session, so models reuse it."""
    from berg_core.backbones import VIT_B_32_FILENAME, get_vit_b_32

    return get_vit_b_32("cpu", weights=torch_home / "hub" / "checkpoints" / VIT_B_32_FILENAME)


@pytest.fixture
def vit(vit_hub: Path, shared_backbone: Any) -> Path:
    """The seeded ViT-B/32 weights, found through the torch hub cache (``vit_hub``)."""
    return vit_hub


@pytest.fixture(scope="session")
def reference_features(vit_weights_file: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Independent ViT-B/32 features: torchvision's ``create_feature_extractor`` on the 12 ``add_1`` nodes."""
    import torch
    from torchvision.models import vit_b_32
    from torchvision.models.feature_extraction import create_feature_extractor

    vit = vit_b_32(weights=None)
    vit.load_state_dict(torch.load(vit_weights_file, weights_only=True))
    nodes = [f"encoder.layers.encoder_layer_{i}.add_1" for i in range(12)]
    extractor = create_feature_extractor(vit.eval(), return_nodes=nodes)

    def features(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = extractor(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return np.concatenate([out[n].flatten(1).numpy() for n in nodes], axis=1).astype(np.float64)

    return features


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """Three seeded uint8 images, 224 x 224 (no resize needed by the fitting-time preparation)."""
    return np.random.default_rng(11).integers(0, 256, (3, 3, 224, 224), dtype=np.uint8)
