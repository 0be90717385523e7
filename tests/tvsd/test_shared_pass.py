"""TVSD and THINGS-fMRI1 models encoded together run the ViT-B/32 forward once per batch, and equal their lone encodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .reference import MODEL_ID

THINGS_FMRI = "fmri-things_fmri_1-vit_b_32"


def test_tvsd_and_things_fmri_share_one_backbone_pass(store_root, tmp_path, hub_weights: Path, shared_backbone, images):
    from berg_core import BERG
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry.get(THINGS_FMRI)  # both plugins are installed with berg (requirements.txt)
    fmri_root = tmp_path / "things_fmri"
    pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)(
        card=reg.card, root=str(fmri_root), subjects=[1], seed=1, options={"n_components": 3})
    calls = []
    handle = shared_backbone.register_forward_hook(lambda _m, _i, _o: calls.append(1))
    try:
        tvsd_berg, fmri_berg = BERG(store_root), BERG(fmri_root)
        kw = {"device": "cpu", "backbone_weights": str(hub_weights)}
        with tvsd_berg.get_encoding_model(MODEL_ID, subject="N", selection={"roi": "V1"}, **kw) as n, \
                tvsd_berg.get_encoding_model(MODEL_ID, subject="N", train_splits="single",
                                             selection={"roi": "IT", "timepoints": [0.1]}, **kw) as single, \
                fmri_berg.get_encoding_model(THINGS_FMRI, subject=1, selection={"roi": ["lFFA"]}, **kw) as fmri:
            assert n.feature_extractor is single.feature_extractor is fmri.feature_extractor is shared_backbone
            calls.clear()
            out = tvsd_berg.encode([n, single, fmri], images, batch_size=2, show_progress=False)
            assert len(calls) == 2  # 3 images in batches of 2: two forward passes for the three models
            alone = [tvsd_berg.encode(m, images, batch_size=2, show_progress=False) for m in (n, single, fmri)]
    finally:
        handle.remove()
    together = list(out.values()) if isinstance(out, dict) else list(out)
    assert len(together) == 3
    for lone in alone:
        match = [r for r in together if r.attrs["model_id"] == lone.attrs["model_id"] and r.dims == lone.dims
                 and r.attrs.get("train_splits") == lone.attrs.get("train_splits")]
        assert len(match) == 1
        np.testing.assert_array_equal(match[0].values, lone.values)
