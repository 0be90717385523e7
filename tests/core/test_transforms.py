"""Image preparation: fitting-time square crop, and BERG 2.0's transforms reproduced."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.models import ViT_B_32_Weights
from torchvision.transforms import functional as F

from berg_core.stimuli.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    berg2_imagenet_transform,
    berg2_squash_resize,
    square_crop_resize,
)


def _img(h, w, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, size=(3, h, w), dtype=np.uint8))


def test_square_crop_takes_the_centre_of_wide_and_tall_images():
    wide = _img(20, 40)
    out = square_crop_resize([wide], 20)
    np.testing.assert_allclose(out[0].numpy(), wide[:, :, 10:30].float().numpy() / 255, atol=0)
    tall = _img(41, 21)
    out = square_crop_resize([tall], 21)
    np.testing.assert_allclose(out[0].numpy(), tall[:, 10:31, :].float().numpy() / 255, atol=0)


def test_square_crop_resize_mixed_sizes_keeps_order_and_normalises():
    imgs = [_img(30, 50, 0), _img(64, 64, 1), _img(90, 40, 2)]
    out = square_crop_resize(imgs, 32, IMAGENET_MEAN, IMAGENET_STD)
    assert out.shape == (3, 3, 32, 32) and out.dtype == torch.float32
    for i, im in enumerate(imgs):
        side = min(im.shape[-2:])
        ref = F.resize(F.center_crop(im, [side, side]), [32, 32], antialias=True).float() / 255
        ref = F.normalize(ref, list(IMAGENET_MEAN), list(IMAGENET_STD))
        torch.testing.assert_close(out[i], ref)


def test_float_images_are_resized_as_floats():
    im = _img(16, 16).float() / 255
    out = square_crop_resize([im], 8)
    ref = F.resize(im[None], [8, 8], antialias=True)
    torch.testing.assert_close(out, ref)


def test_berg2_transform_is_torchvisions_imagenet1k_v1_preset():
    batch = torch.stack([_img(300, 400, s) for s in range(3)])
    ours = berg2_imagenet_transform(batch)
    theirs = ViT_B_32_Weights.IMAGENET1K_V1.transforms()(batch)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    per_image = berg2_imagenet_transform(list(batch))
    torch.testing.assert_close(per_image, theirs, rtol=0, atol=0)


def test_berg2_squash_resize_squashes_and_rounds_uint8_first():
    im = _img(100, 300)
    out = berg2_squash_resize([im], 227)
    ref = F.resize(im[None], [227, 227], antialias=True)
    assert ref.dtype == torch.uint8  # resized in uint8, as BERG 2.0 does
    torch.testing.assert_close(out, ref.float() / 255)
