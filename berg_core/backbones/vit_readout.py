"""Base class of models that read out the shared ViT-B/32 features.

Every such model prepares images the same way for a given preprocessing mode,
so models of different plugins and subjects share one preprocessing and one
backbone pass per batch when encoded together (see ``feature_key``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berg_core.models.base import EncodingModel
from berg_core.stimuli.transforms import IMAGENET_MEAN, IMAGENET_STD, berg2_imagenet_transform, square_crop_resize

if TYPE_CHECKING:
    import torch

    from berg_core.stimuli.inputs import Stimuli

__all__ = ["ViTB32Readout", "vit_b_32_input"]

INPUT_SIZE = 224


def vit_b_32_input(stimuli: Stimuli, preprocessing: str | None, device: Any) -> torch.Tensor:
    """``(B, 3, 224, 224)`` network input: ``"train"`` (fitting-time square crop) or ``"berg-2.0"``."""
    stacked = stimuli.stacked()
    images = stacked if stacked is not None else stimuli.tensors()
    if preprocessing == "berg-2.0":
        x = berg2_imagenet_transform(images)
    else:
        x = square_crop_resize(images, INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD)
    return x.to(device)


class ViTB32Readout(EncodingModel):
    """An :class:`EncodingModel` whose ``feature_extractor`` is the shared ViT-B/32.

    Subclasses set ``self.feature_extractor = get_vit_b_32(...)`` when loading and
    implement :meth:`encode_features`.
    """

    def preprocess(self, stimuli: Stimuli) -> torch.Tensor:
        return vit_b_32_input(stimuli, self.preprocessing, self.device)

    @property
    def feature_key(self) -> Any:
        if self.feature_extractor is None:
            return None
        return ("vit_b_32", id(self.feature_extractor), self.preprocessing, str(self.device))
