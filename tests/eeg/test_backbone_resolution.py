"""The backbone weights come from the explicit option, else the store, else the torch hub cache."""

from __future__ import annotations

import torch
from torchvision.models import vit_b_32

from berg_core import BERG

from .eeg_reference import MODEL_ID, write_store


def _same_weights(module, state):
    vit_state = module.vit.state_dict()
    return all(torch.equal(vit_state[k], v) for k, v in state.items() if k in vit_state)


def test_hub_cache_when_nothing_else(berg, vit_weights_file):
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu") as model:
        assert _same_weights(model.feature_extractor, torch.load(vit_weights_file, weights_only=True))


def test_store_before_hub_and_explicit_before_store(tmp_path, vit_hub, hub_weights, shared_backbone):
    root = tmp_path / "store"
    paths = write_store(root, [1], seed=5, n_components=2, backbone=True)
    assert paths[-1] == "backbones/vit_b_32-d86f8d99.pth"
    store_state = torch.load(root / paths[-1], weights_only=True)
    vit_b_32(weights=None).load_state_dict(store_state, strict=True)  # torchvision's exact format
    hub_state = torch.load(hub_weights, weights_only=True)
    assert not torch.equal(store_state["conv_proj.weight"], hub_state["conv_proj.weight"])
    berg = BERG(root)
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu") as model:
        assert _same_weights(model.feature_extractor, store_state)
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights)) as model:
        assert model.feature_extractor is shared_backbone
