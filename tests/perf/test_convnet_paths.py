"""The convnet fast paths of issue 16 keep behaviour: AlexNet and S3D equal the plain torchvision graphs.

The plain path is what BERG 2.0 runs: torchvision's ``create_feature_extractor`` on the unmodified network, node
outputs flattened and concatenated, and each image prepared on its own by ``IMAGENET1K_V1.transforms()`` (``"train"``)
or by :func:`berg_core.stimuli.transforms.berg2_imagenet_transform` (``"berg-2.0"``). No timing here (benchmarks/
measures). The real architectures at their real input size (the node shapes depend on it), seeded weights; the
batch norms of S3D get non-trivial statistics so that folding them is tested, not a no-op.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

ALEXNET_NODES = ["features.2", "features.5", "features.7", "features.9", "features.12", "classifier.2",
                 "classifier.5", "classifier.6"]


def _plain_features(net: torch.nn.Module, nodes: list[str], x: torch.Tensor) -> torch.Tensor:
    from torchvision.models.feature_extraction import create_feature_extractor

    fx = create_feature_extractor(net.eval(), return_nodes=nodes)
    with torch.no_grad():
        return torch.cat([v.flatten(1) for v in fx(x).values()], dim=1)


def _images(seed: int, dtype: str) -> list[np.ndarray]:
    """Images of several sizes and aspect ratios, uint8 or float in [0, 1] (with exact half steps to round)."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in [(300, 411), (224, 224), (257, 199)]:
        a = rng.integers(0, 256, size=(3, h, w), dtype=np.uint8)
        if dtype != "uint8":
            f = (a / 255.0 + rng.uniform(-0.003, 0.003, a.shape)).clip(0, 1).astype(dtype)
            f[0, 0, :4] = np.array([0.5, 1.5, 2.5, 255.0]) / 255.0  # ties: rounded half to even as torch.round
            a = f
        out.append(a)
    return out


# ---- AlexNet ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def alexnet_state() -> dict[str, torch.Tensor]:
    from berg_core.backbones.alexnet import untrained_alexnet_state_dict

    return untrained_alexnet_state_dict(7)


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_alexnet_train_preparation_equals_the_per_image_transform(dtype: str, threads: int) -> None:
    from PIL import Image
    from torchvision.models import AlexNet_Weights

    from berg_core.backbones.alexnet import alexnet_input
    from berg_core.stimuli.inputs import as_stimuli

    stimuli = as_stimuli(_images(1, dtype))
    transform = AlexNet_Weights.IMAGENET1K_V1.transforms()
    expected = []
    for t in stimuli.tensors():  # as given to the models: uint8, or float32 whatever the array's float type
        u8 = t if t.dtype == torch.uint8 else t.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        expected.append(transform(Image.fromarray(u8.permute(1, 2, 0).contiguous().numpy(), mode="RGB")))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # 1: PIL in this thread; 2: a thread pool, same values
    try:
        got = alexnet_input(stimuli, "train", "cpu")
    finally:
        torch.set_num_threads(before)
    assert got.dtype == torch.float32 and got.is_contiguous()
    assert torch.equal(got, torch.stack(expected))  # bit for bit


@pytest.mark.parametrize("preprocessing", ["train", "berg-2.0"])
def test_alexnet_features_equal_the_plain_graph(alexnet_state: dict[str, torch.Tensor], preprocessing: str) -> None:
    from torchvision.models import alexnet

    from berg_core.backbones.alexnet import alexnet_input, build_alexnet
    from berg_core.stimuli.inputs import as_stimuli

    x = alexnet_input(as_stimuli(_images(2, "uint8")[:2]), preprocessing, "cpu")
    fast = build_alexnet(alexnet_state)(x)
    net = alexnet(weights=None)
    net.load_state_dict(alexnet_state)
    plain = _plain_features(net, ALEXNET_NODES, x)
    assert fast.shape == plain.shape == (2, 205_672)
    # channels-last convolutions: float32 rounding apart (the max pools are exact in any layout)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6 * float(plain.abs().max()))


def test_alexnet_features_do_not_alias_the_input_or_each_other(alexnet_state: dict[str, torch.Tensor]) -> None:
    from berg_core.backbones.alexnet import build_alexnet

    model = build_alexnet(alexnet_state)
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    a = model(x)
    b = model(x.clone())
    assert a.is_contiguous() and a.data_ptr() != b.data_ptr()
    assert torch.equal(a, b)
    # one image alone gives its row of the batch (no state kept between calls)
    torch.testing.assert_close(model(x[1:2])[0], a[1], rtol=1e-5, atol=1e-6 * float(a.abs().max()))


# ---- S3D ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3d_state() -> dict[str, torch.Tensor]:
    from torchvision.models.video import s3d

    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    state = s3d(weights=None).state_dict()
    for k, v in state.items():  # trained-like batch-norm statistics and affine parameters
        if k.endswith("running_mean") or k.endswith(".bias"):
            state[k] = torch.randn(v.shape, generator=g) * 0.1
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith(".weight") and v.ndim == 1:
            state[k] = torch.rand(v.shape, generator=g) + 0.5
    return state


def test_s3d_features_equal_the_plain_graph(s3d_state: dict[str, torch.Tensor]) -> None:
    from berg_fmri_bmd.backbone import S3D_N_FEATURES, S3D_NODES
    from berg_fmri_bmd.s3d_features import build_s3d
    from torchvision.models.video import s3d

    x = torch.randn(1, 3, 14, 224, 224, generator=torch.Generator().manual_seed(4))
    fast = build_s3d(s3d_state)(x)
    net = s3d(weights=None)
    net.load_state_dict(s3d_state)
    plain = _plain_features(net, list(S3D_NODES), x)
    assert fast.shape == plain.shape == (1, S3D_N_FEATURES)
    assert fast.is_contiguous()
    # folded batch norms and channels-last convolutions: float32 rounding apart
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5 * float(plain.abs().max()))


def test_s3d_folding_leaves_the_given_state_dict_alone(s3d_state: dict[str, torch.Tensor]) -> None:
    from berg_fmri_bmd.s3d_features import build_s3d

    before = {k: v.clone() for k, v in s3d_state.items()}
    model = build_s3d(s3d_state)
    assert all(torch.equal(before[k], v) for k, v in s3d_state.items())
    # no batch norm is left to run, and every convolution now carries the folded shift as its bias
    mods = list(model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in mods)
    convs = [m for m in mods if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(m.bias is not None for m in convs)
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last_3d) for m in convs)
