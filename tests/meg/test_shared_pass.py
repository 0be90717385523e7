"""MEG and EEG models encoded together run the ViT-B/32 forward once per batch, and equal their lone encodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .meg_reference import MODEL_ID, N_COMPONENTS


def test_eeg_and_meg_share_one_backbone_pass(meg_store, tmp_path, hub_weights: Path, shared_backbone, images,
                                             full_all, full_single):
    from berg_core import BERG
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    eeg_id = "eeg-things_eeg_2-vit_b_32"
    if eeg_id not in [r.card.id for r in pm.registry]:  # pragma: no cover - the EEG plugin is installed with berg
        return
    reg = pm.registry.get(eeg_id)
    eeg_root = tmp_path / "eeg"
    pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)(
        card=reg.card, root=str(eeg_root), subjects=[1], seed=1, options={"n_components": N_COMPONENTS})
    calls = []
    handle = shared_backbone.register_forward_hook(lambda _m, _i, _o: calls.append(1))
    try:
        meg_berg, eeg_berg = BERG(meg_store), BERG(eeg_root)
        kw = {"device": "cpu", "backbone_weights": str(hub_weights)}
        with eeg_berg.get_encoding_model(eeg_id, subject=1, **kw) as eeg, \
                meg_berg.get_encoding_model(MODEL_ID, subject=1, **kw) as meg, \
                meg_berg.get_encoding_model(MODEL_ID, subject=1, train_splits="single", **kw) as single:
            assert eeg.feature_extractor is meg.feature_extractor is shared_backbone
            calls.clear()
            out = meg_berg.encode([eeg, meg, single], images, batch_size=2, show_progress=False)
            assert len(calls) == 2  # 3 images in batches of 2: two forward passes for the three models
            calls.clear()
            alone = eeg_berg.encode(eeg, images, batch_size=2, show_progress=False)
            assert len(calls) == 2
    finally:
        handle.remove()
    results = list(out.values()) if isinstance(out, dict) else list(out)
    by_model = {(r.attrs["model_id"], r.attrs.get("train_splits")): r for r in results}
    np.testing.assert_array_equal(by_model[(eeg_id, None)].values, alone.values)
    np.testing.assert_allclose(by_model[(MODEL_ID, "all")].values, full_all.values, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(by_model[(MODEL_ID, "single")].values, full_single.values, rtol=1e-5, atol=1e-5)
