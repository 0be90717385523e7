"""Image preparation shared by the image models.

Two families, because BERG 2.0's inference differs from how its models were fit:

* :func:`square_crop_resize` -- the fitting-time preparation (centre-crop to
  the largest square, bilinear resize, scale to [0, 1]); berg's default.
* :func:`berg2_imagenet_transform` / :func:`berg2_squash_resize` -- BERG 2.0's
  inference transforms reproduced exactly, for matching published outputs.

uint8 images are resized as uint8 (antialiased, rounded back to uint8) and
then scaled, which is the order both descriptions give; float images in
[0, 1] are resized as floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "berg2_imagenet_transform",
    "berg2_squash_resize",
    "square_crop_resize",
    "to_unit_float",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_BILINEAR = InterpolationMode.BILINEAR


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 0-255 -> float32 0-1; float input is returned as float32."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x.to(torch.float32)


def _as_groups(images: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """Group images into stacked tensors of equal size and dtype, preserving order.

    Stacking a uint8 image with a float one would promote 0-255 to floats above 1, and each
    image must be prepared by its own dtype's rule whatever its batch holds.
    """
    if isinstance(images, torch.Tensor):
        return [images]
    kinds = {(tuple(t.shape), t.dtype) for t in images}
    if len(kinds) == 1:
        return [torch.stack(list(images))]
    return [t.unsqueeze(0) for t in images]


def _normalize(x: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    if mean is None or std is None:
        return x
    return F.normalize(x, list(mean), list(std))


def square_crop_resize(
    images: Sequence[torch.Tensor] | torch.Tensor,
    size: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """Fitting-time preparation: centre-crop to the largest square, resize, scale, normalise.

    Parameters
    ----------
    images
        ``(3, H, W)`` tensors (uint8, or float32 in [0, 1]) of any sizes, or one
        ``(B, 3, H, W)`` tensor.
    size
        Output side in pixels.
    mean, std
        Per-channel normalisation applied after scaling to [0, 1]; none if omitted.

    Returns
    -------
    torch.Tensor
        ``(B, 3, size, size)`` float32.
    """
    out = []
    for group in _as_groups(images):
        h, w = group.shape[-2:]
        side = min(h, w)
        x = F.center_crop(group, [side, side])
        if side != size:
            x = F.resize(x, [size, size], interpolation=_BILINEAR, antialias=True)
        out.append(_normalize(to_unit_float(x), mean, std))
    return torch.cat(out, 0)


def berg2_imagenet_transform(images: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """BERG 2.0's ViT-B/32 inference transform (torchvision ``IMAGENET1K_V1``).

    Resize the short side to 256 (antialiased bilinear, on the uint8 tensor),
    centre-crop 224, scale to [0, 1], normalise with ImageNet statistics.
    """
    from torchvision.transforms._presets import ImageClassification

    tf = ImageClassification(crop_size=224, resize_size=256)
    return torch.cat([tf(g) for g in _as_groups(images)], 0)


def berg2_squash_resize(images: Sequence[torch.Tensor] | torch.Tensor, size: int) -> torch.Tensor:
    """BERG 2.0's fwRF input: resize to ``size`` x ``size`` without cropping, then scale to [0, 1].

    Non-square images are squashed, as BERG 2.0 does.
    """
    out = [
        to_unit_float(F.resize(g, [size, size], interpolation=_BILINEAR, antialias=True))
        for g in _as_groups(images)
    ]
    return torch.cat(out, 0)


def describe_stack(x: Any) -> str:
    """Short text for messages about a batch tensor."""
    return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
