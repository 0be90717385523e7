"""Base class of models that read out the shared ViT-B/32 features.

Every such model prepares images the same way for a given preprocessing mode,
so models of different plugins and subjects share one preprocessing and one
backbone pass per batch when encoded together (see ``feature_key``). Models
whose read-out is BERG 2.0's scaler + PCA + linear regressions load it with
:meth:`ViTB32Readout.load_readout` and compute it with
:meth:`ViTB32Readout.read_out`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berg_core.models.base import EncodingModel
from berg_core.stimuli.transforms import IMAGENET_MEAN, IMAGENET_STD, berg2_imagenet_transform, square_crop_resize

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from berg_core.models.folded_heads import FoldedHeads, ReadHeads
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

    Subclasses set ``self.feature_extractor = request.backbone()`` when loading (or call
    :meth:`load_readout`, which also reads a BERG 2.0 linear read-out) and implement
    :meth:`encode_features`.

    Attributes
    ----------
    readout : FoldedHeads or None
        The read-out :meth:`load_readout` read; ``None`` before that and after ``cleanup()``.
    """

    readout: FoldedHeads | None = None

    def load_readout(self, weights_relpath: str, read_heads: ReadHeads, feature_extractor: Any) -> None:
        """Attach the shared ViT-B/32 and read the folded scaler + PCA and linear heads of a weight file.

        Parameters
        ----------
        weights_relpath
            The weight file in ``self.store`` (BERG 2.0's pickled ``.npy`` dict or its Zarr twin).
        read_heads
            ``read_heads(weight_file, n_components)``: the selected regression rows, as
            ``[(coefs, intercepts), ...]``, one entry per product computed side by side
            (see :func:`berg_core.models.folded_heads.load_folded_heads`).
        feature_extractor
            The backbone, ``request.backbone()`` of the load request: the instance every model of
            the same weights and device shares, so a multi-model encode runs it once per batch.
        """
        from berg_core.backbones.catalog import VIT_B_32_N_FEATURES
        from berg_core.models.folded_heads import load_folded_heads

        self.feature_extractor = feature_extractor
        self.readout = load_folded_heads(
            self.store, weights_relpath, VIT_B_32_N_FEATURES, read_heads, self.device, "ViT-B/32 block features"
        )

    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        self.check_open()  # a cleaned-up model says so, rather than that it has no feature extractor
        return super().encode_batch(batch, stimulus_ids)

    def read_out(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, 460800)`` ViT-B/32 features -> ``(B, outputs)`` float32: every head, side by side."""
        import torch

        self.check_open()
        assert self.readout is not None, "load_readout() was not called"
        with torch.inference_mode():
            return self.readout(features)

    def _release(self) -> None:
        self.feature_extractor = None
        self.readout = None

    def preprocess(self, stimuli: Stimuli) -> torch.Tensor:
        return vit_b_32_input(stimuli, self.preprocessing, self.device)

    @property
    def feature_key(self) -> Any:
        if self.feature_extractor is None:
            return None
        return ("vit_b_32", id(self.feature_extractor), self.preprocessing, str(self.device))
