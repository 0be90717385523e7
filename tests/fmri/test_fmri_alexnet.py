"""NSD fsaverage AlexNet models (``fmri-nsd_fsaverage-alexnet``, ``-alexnet_untrained``).

Stores are written by the plugin's own ``berg_write_synthetic_store`` hook (8
components, float32 PCA and regressions as sklearn fitted them). The reference
is independent: torchvision's ``create_feature_extractor`` on BERG 2.0's eight
AlexNet nodes, images prepared by torchvision's preset (on the uint8 batch, as
BERG 2.0's inference; per PIL image, as its trainers), then the reference
document's math in NumPy float64 (``helpers.fsaverage_reference``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from berg_core import BERG
from berg_core.errors import ModelLoadError

from .helpers import fsaverage_reference, load_npy_dict

TRAINED, UNTRAINED = "fmri-nsd_fsaverage-alexnet", "fmri-nsd_fsaverage-alexnet_untrained"
EEG_TRAINED, EEG_UNTRAINED = "eeg-things_eeg_2-alexnet", "eeg-things_eeg_2-alexnet_untrained"
N_COMPONENTS = 8
NODES = ["features.2", "features.5", "features.7", "features.9", "features.12", "classifier.2", "classifier.5",
         "classifier.6"]


def _folder(model_id: str) -> str:
    return f"encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-{model_id.rsplit('-', 1)[-1]}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both fsaverage AlexNet models and both THINGS EEG2 AlexNet models, subject 1, written by their plugins."""
    from berg_core.plugin import write_synthetic_store

    root = tmp_path_factory.mktemp("fsaverage_alexnet")
    ids = [TRAINED, UNTRAINED, EEG_TRAINED, EEG_UNTRAINED]
    written = write_synthetic_store(root, ids, seed=9, options={m: {"n_components": N_COMPONENTS} for m in ids})
    # the trained AlexNet's seeded weights come with the store; the untrained one has no file
    assert "backbones/alexnet-owt-7be5be79.pth" in written
    assert not any("untrained" in p for p in written if p.startswith("backbones/"))
    return root


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, size=(3, 3, 260, 230), dtype=np.uint8)


def _reference_features(weights_file: Path | None, images: np.ndarray, mode: str) -> np.ndarray:
    from PIL import Image
    from torchvision.models import AlexNet_Weights, alexnet
    from torchvision.models.feature_extraction import create_feature_extractor

    if weights_file is None:  # BERG 2.0's untrained AlexNet
        state = torch.random.get_rng_state()
        torch.manual_seed(20200220)
        net = alexnet(weights=None)
        torch.random.set_rng_state(state)
    else:
        net = alexnet(weights=None)
        net.load_state_dict(torch.load(weights_file, weights_only=True))
    tf = AlexNet_Weights.IMAGENET1K_V1.transforms()
    if mode == "berg-2.0":
        x = tf(torch.from_numpy(images))
    else:
        x = torch.stack([tf(Image.fromarray(np.ascontiguousarray(im.transpose(1, 2, 0)))) for im in images])
    extractor = create_feature_extractor(net.eval(), return_nodes=NODES)
    with torch.no_grad():
        out = extractor(x)
    return torch.hstack([torch.flatten(out[n], start_dim=1) for n in NODES]).double().numpy()


def _weights(root: Path, model_id: str) -> dict[str, Any]:
    return load_npy_dict(root / _folder(model_id) / "encoding_models_weights" / "weights_subject-01.npy")


def _meta(root: Path, model_id: str) -> dict[str, Any]:
    return load_npy_dict(root / _folder(model_id) / "metadata" / "metadata_subject-01.npy")


def _assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5 * float(np.abs(expected).max()))


@pytest.mark.parametrize("mode", ["train", "berg-2.0"])
@pytest.mark.parametrize("model_id", [TRAINED, UNTRAINED])
def test_roi_outputs_equal_reference(store: Path, images: np.ndarray, model_id: str, mode: str) -> None:
    berg = BERG(store)  # the trained AlexNet's weights come from the store's backbones/ folder
    model = berg.get_encoding_model(model_id, subject=1, selection={"roi": "V1"}, preprocessing=mode)
    got = berg.encode(model, images)
    assert got.dims == ("stimulus", "vertex") and got.attrs["model_id"] == model_id
    rois = _meta(store, model_id)["fmri"]
    lh = np.unique(np.concatenate([rois["lh_fsaverage_rois"][r] for r in ("V1v", "V1d")]))
    rh = np.unique(np.concatenate([rois["rh_fsaverage_rois"][r] for r in ("V1v", "V1d")]))
    np.testing.assert_array_equal(got["fsaverage_index"].values, np.concatenate([lh, rh]))
    assert set(got["hemisphere"].values) == {"lh", "rh"} and "ncsnr" in got.coords
    weights_file = store / "backbones" / "alexnet-owt-7be5be79.pth" if model_id == TRAINED else None
    want = fsaverage_reference(_weights(store, model_id), _reference_features(weights_file, images, mode), lh, rh)
    _assert_close(got.values, want)
    lh_out, rh_out = got.berg.export("hemispheres")  # BERG 2.0's (lh, rh) tuple, as for the ViT model
    assert lh_out.shape == (3, lh.size) and rh_out.shape == (3, rh.size)


def test_trained_model_needs_backbone_weights(store: Path, tmp_path: Path, empty_torch_home: Path) -> None:
    import shutil

    root = tmp_path / "no_backbone"
    shutil.copytree(store / _folder(TRAINED), root / _folder(TRAINED))
    with pytest.raises(ModelLoadError, match="alexnet-owt-7be5be79.pth"):
        BERG(root).get_encoding_model(TRAINED, subject=1, selection={"roi": "V1"})
    shutil.copytree(store / _folder(UNTRAINED), root / _folder(UNTRAINED))
    BERG(root).get_encoding_model(UNTRAINED, subject=1, selection={"roi": "V1"})  # built from its seed


def test_four_alexnet_models_of_two_plugins_run_one_forward_per_backbone_and_batch(store: Path, images: np.ndarray) -> None:
    berg = BERG(store)
    models = [berg.get_encoding_model(TRAINED, subject=1, selection={"roi": "V1"}),
              berg.get_encoding_model(UNTRAINED, subject=1, selection={"roi": "V1"}),
              berg.get_encoding_model(EEG_TRAINED, subject=1, selection={"channels": ["Oz"]}),
              berg.get_encoding_model(EEG_UNTRAINED, subject=1, selection={"channels": ["Oz"]})]
    trained, untrained = models[0].feature_extractor, models[1].feature_extractor
    assert models[2].feature_extractor is trained and models[3].feature_extractor is untrained
    calls = {id(trained): 0, id(untrained): 0}
    for fe in (trained, untrained):
        original = fe.forward

        def counting(x: torch.Tensor, _o: Any = original, _k: int = id(fe)) -> torch.Tensor:
            calls[_k] += 1
            return _o(x)

        fe.forward = counting
    try:
        out = berg.encode(models, images, batch_size=2)
    finally:
        for fe in (trained, untrained):
            fe.__dict__.pop("forward", None)
    assert calls == {id(trained): 2, id(untrained): 2}  # 2 batches, trained and untrained are two backbones
    alone = berg.encode(models[0], images, batch_size=2)
    np.testing.assert_array_equal(out[f"{TRAINED}/subject-01"].values, alone.values)
    assert out[f"{EEG_UNTRAINED}/subject-01"].dims == ("stimulus", "repetition", "channel", "time")


def test_download_plans_fetch_the_trained_backbone_and_nothing_for_the_untrained(store: Path) -> None:
    from berg_core.registry.manager import get_plugin_manager
    from berg_core.store.model_store import Store
    from berg_core.workflows.download import plan_download

    pm = get_plugin_manager()
    for model_id, wanted in ((TRAINED, True), (UNTRAINED, False)):
        card = pm.registry.get(model_id).card
        files, notes = plan_download(Store(store), card, [1], None, pm.registry.backbone_of(card))
        assert ("backbones/alexnet-owt-7be5be79.pth" in files) is wanted
        assert any(p.endswith("weights_subject-01.npy") for p in files)
        assert not any("backbones/" in p for p in files if not wanted) and not notes
