"""torchvision S3D as the feature extractor of fmri-bmd-s3d.

The forward pass runs ``features`` module by module and keeps the outputs of
BERG 2.0's nodes (see :mod:`berg_fmri_bmd.backbone`): a block's output is its
``cat`` node, so ``features.5.cat`` is the output of ``features[5]``. The
classifier is never computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from berg_core.plugin import IntegrityError

from .backbone import S3D_N_FEATURES, S3D_NODE_SHAPES

__all__ = ["S3DFeatures", "build_s3d"]

#: Indices into ``features`` whose outputs are kept (then ``avgpool``).
_KEPT = (2, 5, 7, 9, 11, 13)


class S3DFeatures(nn.Module):
    """``(B, 3, 14, 224, 224)`` normalised clips -> ``(B, 4084096)`` S3D node outputs, concatenated."""

    n_features = S3D_N_FEATURES

    def __init__(self, s3d: nn.Module) -> None:
        super().__init__()
        self.s3d = s3d

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s3d: Any = self.s3d
        if x.ndim != 5 or tuple(x.shape[1:]) != (3, 14, 224, 224):
            raise ValueError(f"S3D features need (B, 3, 14, 224, 224) clips, got {tuple(x.shape)}")
        out = torch.empty((x.shape[0], S3D_N_FEATURES), dtype=x.dtype, device=x.device)
        h, start, kept = x, 0, iter(S3D_NODE_SHAPES)
        for i, layer in enumerate(s3d.features):
            h = layer(h)
            if i in _KEPT:
                start = _put(out, h, start, next(kept))
        _put(out, s3d.avgpool(h), start, next(kept))
        return out


def _put(out: torch.Tensor, h: torch.Tensor, start: int, shape: tuple[int, ...]) -> int:
    # the node shapes are fixed by the input size; a mismatch would misplace every later feature
    assert tuple(h.shape[1:]) == shape, (tuple(h.shape), shape)
    n = h[0].numel()
    out[:, start : start + n] = h.flatten(1)
    return start + n


def build_s3d(state_dict: Mapping[str, torch.Tensor], source: str = "<state dict>") -> S3DFeatures:
    """The extractor from a torchvision ``s3d`` state dict (e.g. ``s3d-d76dad2f.pth``).

    Raises
    ------
    IntegrityError
        The state dict is not torchvision's S3D (missing, extra or misshapen weights).
    """
    from torchvision.models.video import s3d

    model = s3d(weights=None)
    try:
        model.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:
        raise IntegrityError(f"{source} does not hold torchvision s3d weights: {str(exc)[:400]}") from None
    model.classifier = nn.Identity()  # never used: saves memory
    return S3DFeatures(model).eval()
