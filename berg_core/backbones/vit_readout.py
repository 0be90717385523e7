"""Base classes of models that read out a shared backbone's features.

Every such model prepares images with its backbone's own input transform for a
given preprocessing mode, so models of different plugins and subjects share one
preprocessing and one backbone pass per batch when encoded together (see
``feature_key``). Models whose read-out is BERG 2.0's scaler + PCA + linear
regressions load it with :meth:`BackboneReadout.load_readout` (one PCA) or
:meth:`BackboneReadout.load_readouts` (one PCA per head group, e.g. BERG 2.0's
per-repetition PCAs) and compute it with :meth:`BackboneReadout.read_out`.

:class:`ViTB32Readout` reads ViT-B/32 block features, :class:`AlexNetReadout`
AlexNet's (trained or untrained: the card's ``backbone`` says which).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from berg_core.models.base import EncodingModel
from berg_core.models.device import to_device
from berg_core.stimuli.transforms import IMAGENET_MEAN, IMAGENET_STD, berg2_imagenet_transform, square_crop_resize

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from berg_core.models.folded_heads import FoldedHeads, ReadHeads
    from berg_core.stimuli.inputs import Stimuli

__all__ = ["AlexNetReadout", "BackboneReadout", "InputTransform", "ViTB32Readout", "alexnet_input", "vit_b_32_input"]

INPUT_SIZE = 224

#: ``transform(stimuli, preprocessing, device) -> (B, 3, H, W)`` network input on ``device``.
InputTransform = Callable[["Stimuli", "str | None", Any], "torch.Tensor"]


def vit_b_32_input(stimuli: Stimuli, preprocessing: str | None, device: Any) -> torch.Tensor:
    """``(B, 3, 224, 224)`` network input: ``"train"`` (fitting-time square crop) or ``"berg-2.0"``."""
    stacked = stimuli.stacked()
    images = stacked if stacked is not None else stimuli.tensors()
    if preprocessing == "berg-2.0":
        x = berg2_imagenet_transform(images)
    else:
        x = square_crop_resize(images, INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD)
    return to_device(x, device)


def alexnet_input(stimuli: Stimuli, preprocessing: str | None, device: Any) -> torch.Tensor:
    """AlexNet's input (see :func:`berg_core.backbones.alexnet.alexnet_input`)."""
    from berg_core.backbones.alexnet import alexnet_input as _alexnet_input

    return _alexnet_input(stimuli, preprocessing, device)


class BackboneReadout(EncodingModel):
    """An :class:`EncodingModel` whose ``feature_extractor`` is a shared backbone.

    Subclasses set :attr:`input_transform` (the backbone's own image preparation) and
    :attr:`features_name`, call :meth:`load_readout` or :meth:`load_readouts` with
    ``request.backbone()`` when loading, and implement :meth:`encode_features`.

    Attributes
    ----------
    readout : FoldedHeads or list of FoldedHeads or None
        What :meth:`load_readout` / :meth:`load_readouts` read; ``None`` before that and
        after ``cleanup()``.
    """

    #: the backbone's image preparation: ``(stimuli, preprocessing, device) -> input tensor``
    input_transform: ClassVar[InputTransform | None] = None
    #: names the features in errors (e.g. a PCA of the wrong width)
    features_name: ClassVar[str] = "backbone features"

    readout: FoldedHeads | list[FoldedHeads] | None = None

    def _n_features(self, feature_extractor: Any) -> int:
        n = getattr(feature_extractor, "n_features", None)
        if not isinstance(n, int):
            raise TypeError(f"{type(feature_extractor).__name__} does not say its n_features")
        return n

    def load_readout(self, weights_relpath: str, read_heads: ReadHeads, feature_extractor: Any) -> None:
        """Attach the shared backbone and read the folded scaler + PCA and linear heads of a weight file.

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
        from berg_core.models.folded_heads import load_folded_heads

        self.feature_extractor = feature_extractor
        self.readout = load_folded_heads(
            self.store, weights_relpath, self._n_features(feature_extractor), read_heads, self.device, self.features_name
        )

    def load_readouts(
        self,
        weights_relpath: str,
        pca_keys: Sequence[str],
        read_heads: Callable[[Any, int, int], Sequence[Any]],
        feature_extractor: Any,
    ) -> None:
        """Like :meth:`load_readout` with one PCA per group of heads (one shared scaler).

        Parameters
        ----------
        weights_relpath
            The weight file in ``self.store``.
        pca_keys
            Where each PCA is in the file (e.g. ``"pca_param/rep-1"``); each may be stored as
            sklearn's fitted attributes (a dict) or as a pickled sklearn ``PCA`` (read by the
            restricted reader as its attribute dict).
        read_heads
            ``read_heads(weight_file, i, n_components)``: the heads read out of PCA ``i``.
        feature_extractor
            The shared backbone (``request.backbone()``).
        """
        from berg_core.errors import IntegrityError
        from berg_core.models.folded_heads import FoldedHeads
        from berg_core.models.readout import FoldedProjection, RegressionHeads
        from berg_core.models.weights import open_weight_file, read_folded_projection

        self.feature_extractor = feature_extractor
        n_features = self._n_features(feature_extractor)
        wf = open_weight_file(self.store, weights_relpath)
        readouts = []
        try:
            for i, key in enumerate(pca_keys):
                W, c = read_folded_projection(wf, pca_key=key)
                if W.shape[1] != n_features:
                    raise IntegrityError(
                        f"{wf.source}: {key} components_ have {W.shape[1]} features, expected {n_features} "
                        f"({self.features_name})"
                    )
                parts = list(read_heads(wf, i, W.shape[0]))
                projection = FoldedProjection.from_numpy(W, c, self.device)
                del W
                heads = [RegressionHeads.from_numpy(list(co), list(ic), self.device) for co, ic in parts]
                del parts
                readouts.append(FoldedHeads(projection, heads))
        finally:
            wf.close()
        self.readout = readouts

    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        self.check_open()  # a cleaned-up model says so, rather than that it has no feature extractor
        return super().encode_batch(batch, stimulus_ids)

    def read_out(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, n_features)`` backbone features -> ``(B, outputs)`` float32: every head, side by side.

        With one PCA per head group (:meth:`load_readouts`), the groups' outputs are
        concatenated in the order of their PCAs.
        """
        import torch

        self.check_open()
        assert self.readout is not None, "load_readout() was not called"
        with torch.inference_mode():
            if isinstance(self.readout, list):
                return torch.cat([r(features) for r in self.readout], dim=1)
            return self.readout(features)

    def _release(self) -> None:
        self.feature_extractor = None
        self.readout = None

    def preprocess(self, stimuli: Stimuli) -> torch.Tensor:
        transform = type(self).input_transform
        if transform is None:
            raise NotImplementedError(f"{type(self).__name__} sets no input_transform")
        return transform(stimuli, self.preprocessing, self.device)

    @property
    def feature_key(self) -> Any:
        # models of any plugin with the same backbone instance and image preparation share a pass
        if self.feature_extractor is None:
            return None
        transform = type(self).input_transform
        name = getattr(self.feature_extractor, "berg_backbone_key", None)
        return (name, id(self.feature_extractor), getattr(transform, "__qualname__", None), self.preprocessing,
                str(self.device))


class ViTB32Readout(BackboneReadout):
    """A :class:`BackboneReadout` of the shared ViT-B/32 (460,800 block features)."""

    input_transform = staticmethod(vit_b_32_input)  # type: ignore[assignment]
    features_name = "ViT-B/32 block features"


class AlexNetReadout(BackboneReadout):
    """A :class:`BackboneReadout` of the shared AlexNet, trained or untrained (205,672 node features)."""

    input_transform = staticmethod(alexnet_input)  # type: ignore[assignment]
    features_name = "AlexNet node features"
