"""Core's AlexNet backbones (``berg_core.backbones.alexnet``): trained and untrained.

Features are compared with torchvision's own ``create_feature_extractor`` on the
graph nodes BERG 2.0 names; the trained weights are seeded, in torchvision's
exact format (``tests/conftest.py``); the untrained network is compared with
BERG 2.0's own recipe (``torch.manual_seed(20200220)`` then ``alexnet()``).
Image preparation is compared with an independent PIL + NumPy float64
reference ("train") and with torchvision's preset on the uint8 batch, as BERG
2.0's inference calls it ("berg-2.0").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from berg_core.backbones.catalog import (
    ALEXNET,
    ALEXNET_FILENAME,
    ALEXNET_LAYERS,
    ALEXNET_N_FEATURES,
    ALEXNET_STORE_PATH,
    ALEXNET_UNTRAINED,
    ALEXNET_UNTRAINED_SEED,
    VIT_B_32,
)
from berg_core.backbones.loading import get_backbone, resolve_weights
from berg_core.backbones.seeded import get_seeded_backbone, is_seeded
from berg_core.errors import IntegrityError, ModelLoadError
from berg_core.stimuli.inputs import as_stimuli
from berg_core.store.model_store import Store

NODES = ["features.2", "features.5", "features.7", "features.9", "features.12", "classifier.2", "classifier.5",
         "classifier.6"]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def _reference_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    from torchvision.models.feature_extraction import create_feature_extractor

    extractor = create_feature_extractor(model.eval(), return_nodes=NODES)
    with torch.no_grad():
        out = extractor(x)
    return torch.hstack([torch.flatten(out[n], start_dim=1) for n in NODES])


@pytest.fixture
def own_weights(tmp_path: Path, alexnet_weights_file: Path) -> Path:
    """A copy under a path no other test uses, so its extractor is this test's alone."""
    path = tmp_path / "own" / ALEXNET_FILENAME
    path.parent.mkdir()
    shutil.copyfile(alexnet_weights_file, path)
    return path


def test_catalog_declares_two_backbones_with_different_keys() -> None:
    assert ALEXNET.layers == ALEXNET_UNTRAINED.layers == tuple(NODES) == ALEXNET_LAYERS
    assert ALEXNET.key != ALEXNET_UNTRAINED.key  # trained and untrained never share a forward pass
    assert ALEXNET.filename == "alexnet-owt-7be5be79.pth" and ALEXNET.store_path == ALEXNET_STORE_PATH
    assert is_seeded(ALEXNET_UNTRAINED) and not is_seeded(ALEXNET)
    assert ALEXNET_UNTRAINED.seed == ALEXNET_UNTRAINED_SEED == 20200220
    sizes = [64 * 27 * 27, 192 * 13 * 13, 384 * 13 * 13, 256 * 13 * 13, 256 * 6 * 6, 4096, 4096, 1000]
    assert ALEXNET_N_FEATURES == sum(sizes) == 205_672


def test_features_equal_torchvision_feature_extractor(own_weights: Path) -> None:
    from torchvision.models import alexnet

    net = alexnet(weights=None)
    net.load_state_dict(torch.load(own_weights, weights_only=True))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    want = _reference_features(net, x)
    got = get_backbone(ALEXNET, "cpu", own_weights)(x)
    assert got.shape == (2, ALEXNET_N_FEATURES) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_untrained_is_bergs_seeded_initialisation() -> None:
    from torchvision.models import alexnet

    before = torch.random.get_rng_state()
    extractor = get_seeded_backbone(ALEXNET_UNTRAINED, "cpu")
    assert torch.equal(torch.random.get_rng_state(), before), "building it must not move the caller's generator"
    # BERG 2.0's _load_feature_extractor, verbatim in spirit: seed, then build with weights=None
    torch.manual_seed(20200220)
    upstream = alexnet(weights=None).eval()
    torch.random.set_rng_state(before)
    for name, tensor in upstream.state_dict().items():
        assert torch.equal(extractor.alexnet.state_dict()[name], tensor), name
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(extractor(x), _reference_features(upstream, x), rtol=1e-5, atol=1e-5)
    # one shared instance per device, tagged with its own key
    assert get_seeded_backbone(ALEXNET_UNTRAINED, "cpu") is extractor
    assert extractor.berg_backbone_key == ALEXNET_UNTRAINED.key


def test_trained_weights_resolve_explicit_store_then_hub(tmp_path: Path, own_weights: Path, empty_torch_home: Path) -> None:
    assert resolve_weights(ALEXNET, own_weights).path == str(own_weights)
    store_root = tmp_path / "store"
    (store_root / "backbones").mkdir(parents=True)
    shutil.copyfile(own_weights, store_root / ALEXNET_STORE_PATH)
    source = resolve_weights(ALEXNET, None, Store(store_root))
    assert source.relpath == ALEXNET_STORE_PATH
    hub = empty_torch_home / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copyfile(own_weights, hub / ALEXNET_FILENAME)
    assert resolve_weights(ALEXNET, None, Store(tmp_path / "elsewhere")).path == str(hub / ALEXNET_FILENAME)


def test_missing_trained_weights_say_how_to_get_them(tmp_path: Path, empty_torch_home: Path) -> None:
    with pytest.raises(ModelLoadError) as err:
        resolve_weights(ALEXNET, None, Store(tmp_path))
    message = str(err.value)
    for part in ("AlexNet", "backbone_weights=", ALEXNET_STORE_PATH, "torch hub cache", "alexnet(weights='IMAGENET1K_V1')",
                 "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"):
        assert part in message, part
    with pytest.raises(ModelLoadError, match="is not a file; expected the path of alexnet-owt-7be5be79.pth"):
        resolve_weights(ALEXNET, tmp_path / "nope.pth")


def test_other_networks_weights_are_refused(vit_weights_file: Path) -> None:
    with pytest.raises(IntegrityError, match="does not hold torchvision alexnet weights"):
        get_backbone(ALEXNET, "cpu", vit_weights_file)
    assert VIT_B_32.key != ALEXNET.key


# ---- image preparation ----------------------------------------------------------------------------
def _pil_reference(image: np.ndarray) -> np.ndarray:
    """IMAGENET1K_V1's preset as the trainers ran it, from PIL and NumPy only (float64)."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)))
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(256 * long / short)
    size = (256, new_long) if w <= h else (new_long, 256)
    pil = pil.resize(size, Image.BILINEAR)
    w, h = pil.size
    top, left = round((h - 224) / 2.0), round((w - 224) / 2.0)
    arr = np.asarray(pil, dtype=np.float64)[top : top + 224, left : left + 224] / 255.0
    return ((arr - MEAN) / STD).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def odd_images() -> np.ndarray:
    """Non-square uint8 images (landscape): the short-side resize and the crop both matter."""
    return np.random.default_rng(3).integers(0, 256, size=(2, 3, 240, 300), dtype=np.uint8)


def test_train_preparation_is_the_trainers_pil_path(odd_images: np.ndarray) -> None:
    from berg_core.backbones.alexnet import alexnet_input

    got = alexnet_input(as_stimuli(odd_images), "train", "cpu")
    assert got.shape == (2, 3, 224, 224) and got.dtype == torch.float32
    want = np.stack([_pil_reference(im) for im in odd_images])
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-5)
    # portrait images and the default (None) mode take the same path
    portrait = np.ascontiguousarray(odd_images.transpose(0, 1, 3, 2))
    np.testing.assert_allclose(alexnet_input(as_stimuli(portrait), None, "cpu").numpy(),
                               np.stack([_pil_reference(im) for im in portrait]), rtol=0, atol=1e-5)


def test_float_images_are_rounded_to_8_bits_for_training_preparation(odd_images: np.ndarray) -> None:
    from berg_core.backbones.alexnet import alexnet_input

    floats = odd_images.astype(np.float32) / 255.0
    a = alexnet_input(as_stimuli(floats), "train", "cpu")
    b = alexnet_input(as_stimuli(odd_images), "train", "cpu")
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_berg2_preparation_is_the_preset_on_the_uint8_batch(odd_images: np.ndarray) -> None:
    from torchvision.models import AlexNet_Weights

    from berg_core.backbones.alexnet import alexnet_input

    want = AlexNet_Weights.IMAGENET1K_V1.transforms()(torch.from_numpy(odd_images))  # BERG 2.0's inference call
    got = alexnet_input(as_stimuli(odd_images), "berg-2.0", "cpu")
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    # the two modes differ (PIL's and torch's resizes), but only a little
    train = alexnet_input(as_stimuli(odd_images), "train", "cpu")
    assert not torch.equal(train, got) and float((train - got).abs().mean()) < 0.05
