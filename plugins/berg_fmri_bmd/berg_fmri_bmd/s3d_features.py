"""torchvision S3D as the feature extractor of fmri-bmd-s3d.

The forward pass runs ``features`` module by module and keeps the outputs of
BERG 2.0's nodes (see :mod:`berg_fmri_bmd.backbone`): a block's output is its
``cat`` node, so ``features.5.cat`` is the output of ``features[5]``. The
classifier is never computed.

Two things make the pass about twice as fast on CPU without changing what it computes beyond float32 rounding
(``tests/perf/test_convnet_paths.py`` checks it against the plain torchvision graph):

* each eval-mode batch norm is folded into the convolution before it (scale and shift computed in float64, once,
  when the extractor is built), which removes a full read and write of every activation;
* weights and activations are channels-last (``torch.channels_last_3d``): oneDNN's 3-D convolutions and, above
  all, the 3-D max pools (13 of them; the NCDHW max pool was over a quarter of the pass) run several times faster;
* every convolution runs on oneDNN on CPU (:class:`_OneDNNConv3d`): for a single clip torch's heuristic sends the
  temporal ``(k, 1, 1)`` and the late small convolutions to its native ``slow_conv3d``, which also returns NCDHW
  outputs and so slows the pools after them (one clip: about 1.5x clips/s; two or more: unchanged, same values).

Node outputs are copied once, straight into their slice of the preallocated output, in the C-major order BERG 2.0
flattens them (a strided copy: the channels-last layout is never flattened through an intermediate).
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
        h, start, kept = x.contiguous(memory_format=torch.channels_last_3d), 0, iter(S3D_NODE_SHAPES)
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
    # a view of the slice in the node's logical shape: one strided copy, whatever the node's memory layout
    out[:, start : start + n].view(h.shape).copy_(h)
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
    model.eval()
    _fold_batch_norms(model)
    for conv in model.modules():
        if type(conv) is nn.Conv3d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str):
            conv.__class__ = _OneDNNConv3d  # same parameters and attributes; only where it runs changes
    return S3DFeatures(model.to(memory_format=torch.channels_last_3d)).eval()


def _fold_batch_norms(model: nn.Module) -> None:
    """Fold every eval-mode ``Conv3d`` -> ``BatchNorm3d`` pair of torchvision's S3D into the convolution.

    ``bn(conv(x)) = conv(x) * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``: the convolution's
    weight is scaled per output channel and given that bias. Scale and shift are computed in float64 and rounded
    once, so the folded pass differs from the unfolded one by float32 rounding only.
    """
    from torchvision.ops.misc import Conv3dNormActivation

    for block in model.modules():
        if not isinstance(block, Conv3dNormActivation):
            continue
        conv, bn = block[0], block[1]
        if not (isinstance(conv, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d)) or bn.running_var is None:
            continue  # not the conv -> norm pair S3D builds: left as it is
        w = conv.weight.detach().double()
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        shift = bn.bias.detach().double() - bn.running_mean.double() * scale
        if conv.bias is not None:
            shift = shift + conv.bias.detach().double() * scale
        dtype = conv.weight.dtype
        conv.weight = nn.Parameter((w * scale.view(-1, 1, 1, 1, 1)).to(dtype), requires_grad=False)
        conv.bias = nn.Parameter(shift.to(dtype), requires_grad=False)
        block[1] = nn.Identity()


class _OneDNNConv3d(nn.Conv3d):
    """A ``Conv3d`` that runs on oneDNN for float32 CPU input, whatever the batch size (else as ``Conv3d``)."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if input.device.type == "cpu" and input.dtype == torch.float32 and torch.backends.mkldnn.is_available():
            return torch.mkldnn_convolution(input, weight, bias, self.padding, self.stride, self.dilation, self.groups)
        return super()._conv_forward(input, weight, bias)
