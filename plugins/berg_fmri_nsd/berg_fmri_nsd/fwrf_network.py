"""The fwRF image network and voxel read-out, written from the store reference.

Module and parameter names reproduce the checkpoints' state-dict keys
exactly (``mu``, ``pre.conv1.0.weight``, ``enc.bn1.running_mean``,
``enc.conv4a.conv1.weight``... and ``rf0``, ``rf1``, ``rf2``, ``w``, ``b``),
so ``load_state_dict(strict=True)`` checks every key and shape of a file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FMAP_CHANNELS", "FMAP_SIZES", "FwrfImageNet", "FwrfReadout", "INPUT_SIZE", "log_tanh"]

INPUT_SIZE = 227
#: Side of each feature map handed to the read-out, for a 227 x 227 input.
FMAP_SIZES = (27, 25, 13)
FMAP_CHANNELS = 256
TRUNK_WIDTH = 64


def log_tanh(x: torch.Tensor) -> torch.Tensor:
    """The read-out non-linearity ``log(1 + |x|) * tanh(x)``."""
    return torch.log1p(torch.abs(x)) * torch.tanh(x)


def _log_tanh_(x: torch.Tensor) -> torch.Tensor:
    """In-place :func:`log_tanh` for temporaries (fewer passes over large buffers)."""
    t = torch.tanh(x)
    return x.abs_().log1p_().mul_(t)


class _PreFilter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # Sequential containers give the documented keys pre.conv1.0.* and pre.conv2.0.*
        self.conv1 = nn.Sequential(nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1 = self.conv1(x)
        return c1, self.conv2(c1)


class _TrunkBlock(nn.Module):
    """bn (on the input channels) -> dropout -> 3x3 conv, pad 1 -> ReLU."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(channels_in, eps=1e-5)
        self.drop1 = nn.Dropout2d(p=0.5)
        self.conv1 = nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv1(self.drop1(self.bn1(x))))


class _Stage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        tw = TRUNK_WIDTH
        self.bn1 = nn.BatchNorm2d(192, eps=1e-5)
        self.drop1 = nn.Dropout2d(p=0.5)
        self.conv3 = nn.Conv2d(192, 128, kernel_size=3, padding=0)
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv4a = _TrunkBlock(128, 2 * tw)
        self.conv4b = _TrunkBlock(2 * tw, 2 * tw)
        self.conv5a = _TrunkBlock(2 * tw, 2 * tw)
        self.conv5b = _TrunkBlock(2 * tw, 2 * tw)
        self.conv6a = _TrunkBlock(2 * tw, 2 * tw)
        self.conv6b = _TrunkBlock(2 * tw, tw)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tw = TRUNK_WIDTH
        c3 = F.relu(self.conv3(self.drop1(self.bn1(y))))
        c4a = self.conv4a(c3)
        c4b = self.conv4b(c4a)
        c5a = self.conv5a(self.pool1(c4b))
        c5b = self.conv5b(c5a)
        c6a = self.conv6a(c5b)
        c6b = self.conv6b(c6a)
        return (
            torch.cat([c3, c4a[:, :tw], c4b[:, :tw]], dim=1),
            torch.cat([c5a[:, :tw], c5b[:, :tw], c6a[:, :tw], c6b], dim=1),
        )


class FwrfImageNet(nn.Module):
    """Image -> three 256-channel feature maps (27 x 27, 25 x 25, 13 x 13).

    Input: ``(B, 3, 227, 227)`` float32 in [0, 1]; ``mu`` is subtracted first.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(1, 3, 1, 1), requires_grad=False)
        self.pre = _PreFilter()
        self.enc = _Stage()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1, y = self.pre(x - self.mu)
        f1, f2 = self.enc(y)
        return [torch.cat([c1, y], dim=1), f1, f2]


class FwrfReadout(nn.Module):
    """Per-voxel spatial pooling (softmax of ``rf_k``) of the feature maps, then a linear weighting.

    Parameters
    ----------
    n_voxels
        Number of voxels (rows of every parameter).
    voxel_chunk
        Voxels computed at once; bounds the ``(B, 768, voxels)`` intermediate.
    """

    def __init__(self, n_voxels: int, voxel_chunk: int = 2048) -> None:
        super().__init__()
        self.voxel_chunk = voxel_chunk
        for k, s in enumerate(FMAP_SIZES):
            self.register_parameter(f"rf{k}", nn.Parameter(torch.zeros(n_voxels, s, s), requires_grad=False))
        self.w = nn.Parameter(torch.zeros(n_voxels, len(FMAP_SIZES) * FMAP_CHANNELS), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(n_voxels), requires_grad=False)

    @property
    def n_voxels(self) -> int:
        return int(self.b.shape[0])

    def rfs(self) -> list[torch.Tensor]:
        return [getattr(self, f"rf{k}") for k in range(len(FMAP_SIZES))]

    def restricted_to(self, rows: torch.Tensor) -> FwrfReadout:
        """A read-out holding only the voxels ``rows`` (in that order)."""
        out = FwrfReadout(int(rows.numel()), self.voxel_chunk)
        with torch.no_grad():
            for name, p in self.named_parameters():
                getattr(out, name).data = p.data.index_select(0, rows.to(p.device))
        return out

    def forward(self, fmaps: list[torch.Tensor]) -> torch.Tensor:
        """``[(B, 256, s, s)] * 3`` -> ``(B, voxels)``."""
        feats = [log_tanh(f).flatten(2) for f in fmaps]  # (B, C, s*s)
        w_parts = self.w.split(FMAP_CHANNELS, dim=1)  # the 768 weights are the three maps' channels in order
        out = torch.empty(fmaps[0].shape[0], self.n_voxels, dtype=fmaps[0].dtype, device=fmaps[0].device)
        for start in range(0, self.n_voxels, self.voxel_chunk):
            sl = slice(start, start + self.voxel_chunk)
            acc = self.b[sl].expand(out.shape[0], -1).clone()
            for f, rf, w in zip(feats, self.rfs(), w_parts, strict=True):
                # pooled[b, c, v] = sum_space softmax(rf_k[v])[space] * feats_k[b, c, space]
                pooled = f @ torch.softmax(rf[sl].flatten(1), dim=1).T
                # Phi = nl(cat_k pooled_k) is elementwise, so each map's share of the weighted sum is added
                # separately (no concatenated copy); a broadcast product, as einsum would run one bmm per voxel
                acc += (_log_tanh_(pooled) * w[sl].T).sum(dim=1)
            out[:, sl] = acc
        return out
