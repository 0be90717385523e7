"""torchvision AlexNet as BERG's feature extractor (trained and untrained).

Features are the outputs of eight graph nodes of torchvision's ``alexnet``, in
the order BERG 2.0's models and trainers read them (``create_feature_extractor``
with ``return_nodes``), each flattened channel-major and concatenated:

==============  ==========================  ===========
node            layer                       values
==============  ==========================  ===========
features.2      max-pool 1                  64 x 27 x 27
features.5      max-pool 2                  192 x 13 x 13
features.7      ReLU of conv 3              384 x 13 x 13
features.9      ReLU of conv 4              256 x 13 x 13
features.12     max-pool 5                  256 x 6 x 6
classifier.2    ReLU of fc 6                4,096
classifier.5    ReLU of fc 7                4,096
classifier.6    fc 8 (logits)               1,000
==============  ==========================  ===========

205,672 values per 224 x 224 image. Two backbones use it: ``alexnet`` (the
ImageNet weights ``IMAGENET1K_V1``, file ``alexnet-owt-7be5be79.pth``, resolved
like ViT-B/32's) and ``alexnet_untrained`` (torch's default initialisation right
after ``torch.manual_seed(20200220)``, exactly as BERG 2.0 builds it: no file).

Images are prepared by :func:`alexnet_input`: ``"train"`` (the default) is how
the models were fit -- torchvision's ``AlexNet_Weights.IMAGENET1K_V1.transforms()``
applied to each image as a PIL image; ``"berg-2.0"`` is BERG 2.0's inference --
the same transform applied to the uint8 tensor batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from berg_core.backbones.catalog import ALEXNET_LAYERS, ALEXNET_N_FEATURES
from berg_core.errors import IntegrityError
from berg_core.models.device import to_device

if TYPE_CHECKING:
    from berg_core.stimuli.inputs import Stimuli

__all__ = ["AlexNetFeatures", "alexnet_input", "build_alexnet", "untrained_alexnet_state_dict"]

INPUT_SIZE = 224
RESIZE_SIZE = 256
#: per-node output shapes for a 224 x 224 input (checked when the extractor is built)
NODE_SHAPES = {
    "features.2": (64, 27, 27),
    "features.5": (192, 13, 13),
    "features.7": (384, 13, 13),
    "features.9": (256, 13, 13),
    "features.12": (256, 6, 6),
    "classifier.2": (4096,),
    "classifier.5": (4096,),
    "classifier.6": (1000,),
}


class AlexNetFeatures(nn.Module):
    """The eight node outputs of torchvision's ``alexnet``, flattened and concatenated in node order.

    The same graph ``create_feature_extractor(model, return_nodes=[...])`` traces, run
    module by module (eval mode: dropout is the identity). Each node output is copied once, as
    soon as it is computed, into its slice of a preallocated output (no list of node outputs
    and no ``cat``: one copy less of every value), so later in-place ReLUs cannot touch it.

    Weights and activations are channels-last (``torch.channels_last``): torch's NCHW 2-D max
    pool on CPU is several times slower than its channels-last kernel (the first pool took a third
    of the convolutions' time), and oneDNN's convolutions are a little faster channels-last too
    (together about 10 % of the pass at batch 32). The values equal the NCHW pass to float32
    rounding (``tests/perf/test_convnet_paths.py``).
    """

    n_features = ALEXNET_N_FEATURES
    layers = ALEXNET_LAYERS

    def __init__(self, alexnet: nn.Module) -> None:
        super().__init__()
        self.alexnet = alexnet

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` normalised images -> ``(B, 205672)`` features."""
        net: Any = self.alexnet
        f, c = net.features, net.classifier
        out = torch.empty((x.shape[0], self.n_features), dtype=x.dtype, device=x.device)
        start = 0
        h = x.contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(f):
            h = layer(h)
            if i in (2, 5, 7, 9, 12):
                start = _put(out, h, start)
        h = torch.flatten(net.avgpool(h), 1)
        for i, layer in enumerate(c):
            h = layer(h)
            if i in (2, 5, 6):
                start = _put(out, h, start)
        assert start == out.shape[1], (start, out.shape)
        return out


def _put(out: torch.Tensor, h: torch.Tensor, start: int) -> int:
    """Copy node output ``h`` into ``out[:, start:]``, flattened channel-major; the next start."""
    n = h[0].numel()
    # a view of the slice in the node's logical shape: one strided copy, whatever the node's memory layout
    out[:, start : start + n].view(h.shape).copy_(h)
    return start + n


def build_alexnet(state_dict: Mapping[str, torch.Tensor], source: str = "<state dict>") -> AlexNetFeatures:
    """Build the extractor from a torchvision ``alexnet`` state dict (trained or seeded)."""
    from torchvision.models import alexnet

    # built on the meta device: no random initialisation drawn (the caller's generator stays put), then
    # the weights are assigned
    with torch.device("meta"):
        net = alexnet(weights=None)
    try:
        # float32 whatever the file stored: assigned tensors keep their dtype
        state = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise IntegrityError(f"{source} does not hold torchvision alexnet weights: {exc}") from None
    # channels-last convolution weights, as the activations (see AlexNetFeatures)
    return AlexNetFeatures(net.to(memory_format=torch.channels_last)).eval()


def untrained_alexnet_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """BERG 2.0's untrained AlexNet: ``torch.manual_seed(seed)`` then ``alexnet(weights=None)``.

    torchvision draws the default initialisation from torch's global CPU generator, so
    seeding it right before building gives BERG 2.0's weights (for the same torch
    initialisation code). The caller's random state is left alone.
    """
    from torchvision.models import alexnet

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)  # BERG 2.0 also seeds CUDA; the initialisation draws on the CPU only
        return alexnet(weights=None).state_dict()


def _pil_crop(image: torch.Tensor) -> np.ndarray:
    """One image resized and centre-cropped as a PIL image, as the trainers' transform did: ``(224, 224, 3)`` uint8.

    The resize and crop of ``AlexNet_Weights.IMAGENET1K_V1.transforms()`` on the PIL image, in NumPy and PIL only:
    torch operations on one small image pay the intra-op thread pool's start-up on every call (five times the
    work itself on a busy 2-core machine), so the scaling to floats and the normalisation run once per batch
    (:func:`_to_normalised`), with the same element-wise operations as the transform.
    """
    from PIL import Image
    from torchvision.models import AlexNet_Weights
    from torchvision.transforms import functional as F

    a = image.numpy()
    if a.dtype != np.uint8:
        # the training images were 8-bit files: float images in [0, 1] are rounded to 8 bits first (half to even,
        # like torch.round, in the image's own precision)
        a = np.clip(np.rint(a * a.dtype.type(255.0)), 0, 255).astype(np.uint8)
    pil = Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)), mode="RGB")
    t = AlexNet_Weights.IMAGENET1K_V1.transforms()
    pil = F.center_crop(F.resize(pil, t.resize_size, interpolation=t.interpolation, antialias=t.antialias), t.crop_size)
    return np.asarray(pil)


def _to_normalised(crops: np.ndarray) -> torch.Tensor:
    """``(B, 224, 224, 3)`` uint8 -> ``(B, 3, 224, 224)`` float32: ``convert_image_dtype`` then ``normalize``.

    The same element-wise float32 operations as the per-image transform (``x.to(float32) / 255``, then
    ``x.sub_(mean).div_(std)`` per channel), so the values are bit for bit the same.
    """
    from berg_core.stimuli.transforms import IMAGENET_MEAN, IMAGENET_STD

    x = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous().to(torch.float32) / 255.0
    mean = torch.as_tensor(IMAGENET_MEAN, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(IMAGENET_STD, dtype=torch.float32).view(-1, 1, 1)
    return x.sub_(mean).div_(std)


def _pil_batch(images: list[torch.Tensor]) -> torch.Tensor:
    """The ``"train"`` preparation of a batch: PIL per image (on a thread per core), floats once per batch."""
    n_workers = min(len(images), max(1, torch.get_num_threads()))
    if n_workers > 1:
        # PIL's resize releases the GIL: the images of a batch are resized side by side (same values)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_workers) as pool:
            crops = list(pool.map(_pil_crop, images))
    else:
        crops = [_pil_crop(t) for t in images]
    return _to_normalised(np.stack(crops))


def alexnet_input(stimuli: Stimuli, preprocessing: str | None, device: Any) -> torch.Tensor:
    """``(B, 3, 224, 224)`` AlexNet input: ``"train"`` (fitting time, default) or ``"berg-2.0"``.

    Both resize the short side to 256 (bilinear), centre-crop 224, scale to [0, 1] and
    normalise with ImageNet statistics. ``"train"`` does it per image with PIL, as the
    models' training scripts did (``Image`` -> ``AlexNet_Weights.IMAGENET1K_V1.transforms()``);
    ``"berg-2.0"`` does it on the uint8 tensor (torch's antialiased resize), as BERG 2.0's
    inference does.
    """
    from berg_core.stimuli.transforms import berg2_imagenet_transform

    if preprocessing == "berg-2.0":
        stacked = stimuli.stacked()
        x = berg2_imagenet_transform(stacked if stacked is not None else stimuli.tensors())
    else:
        x = _pil_batch(list(stimuli.tensors()))
    return to_device(x, device)
