"""Many models, one pass: EEG and fsaverage models of several subjects share one ViT-B/32 pass per batch."""

from __future__ import annotations

import numpy as np

EEG = "eeg-things_eeg_2-vit_b_32"
FMRI = "fmri-nsd_fsaverage-vit_b_32"


def test_models_of_two_plugins_share_the_backbone_and_match_single_runs(mixed_store, vit_weights_file):
    from berg_core import BERG

    berg = BERG(mixed_store)
    kw = {"device": "cpu", "backbone_weights": str(vit_weights_file)}
    models = [
        berg.get_encoding_model(EEG, subject=1, selection={"channels": ["Oz", "O1"]}, **kw),
        berg.get_encoding_model(EEG, subject=2, **kw),
        berg.get_encoding_model(FMRI, subject=1, selection={"roi": "V1"}, **kw),
        berg.get_encoding_model(FMRI, subject=2, selection={"roi": "FFA-1"}, **kw),
    ]
    backbone = models[0].feature_extractor
    assert all(m.feature_extractor is backbone for m in models)  # one instance per weights file and device
    calls = []
    handle = backbone.register_forward_hook(lambda *a: calls.append(1))
    try:
        images = np.random.default_rng(0).integers(0, 256, size=(5, 3, 50, 40), dtype=np.uint8)
        together = berg.encode(models, images, batch_size=2, show_progress=False)
        assert len(calls) == 3  # 3 batches, one backbone pass each, for 4 models
        calls.clear()
        alone = [berg.encode(m, images, batch_size=2, show_progress=False) for m in models]
        assert len(calls) == 12
    finally:
        handle.remove()
    for (label, da), ref in zip(together.items(), alone, strict=True):
        assert da.dims == ref.dims and da.shape == ref.shape, label
        np.testing.assert_allclose(da.values, ref.values, rtol=1e-5, atol=1e-5)
    assert together[f"{EEG}/subject-01"].shape == (5, 4, 2, 140)
