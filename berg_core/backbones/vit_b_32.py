"""torchvision ViT-B/32 as BERG's feature extractor.

Features are the outputs of the 12 encoder blocks (graph nodes
``encoder.layers.encoder_layer_{i}.add_1``), each 50 tokens x 768, flattened
per block and concatenated in block order: 460,800 values per image.

Core contributes it through its own ``berg_backbones`` hook (its spec is
:data:`berg_core.backbones.catalog.VIT_B_32`); weights resolve and extractors
are shared as for any backbone (:mod:`berg_core.backbones.loading`).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from berg_core.backbones.catalog import (
    N_BLOCKS,
    N_TOKENS,
    VIT_B_32,
    VIT_B_32_FILENAME,
    VIT_B_32_N_FEATURES,
    VIT_B_32_STORE_PATH,
    VIT_B_32_URL,
    WIDTH,
)
from berg_core.backbones.loading import WeightsSource, cached_count, get_backbone, resolve_weights
from berg_core.errors import IntegrityError
from berg_core.models.onednn import PackedLinear, enabled_for, pack_all

if TYPE_CHECKING:
    from berg_core.store.model_store import Store

__all__ = [
    "VIT_B_32_FILENAME",
    "VIT_B_32_N_FEATURES",
    "VIT_B_32_STORE_PATH",
    "VIT_B_32_URL",
    "ViTB32Features",
    "WeightsSource",
    "get_vit_b_32",
    "resolve_vit_b_32_weights",
]


class ViTB32Features(nn.Module):
    """Concatenated encoder-block outputs of torchvision's ``vit_b_32``.

    The forward pass stops after the last block: the final layer norm and
    classification head are never computed.

    The blocks run as torchvision's ``EncoderBlock`` computes them (layer norm, attention,
    residual, layer norm, MLP, residual), written out so that each block's output is
    computed straight into its slot of the feature array (no copy of 460,800 values per
    image), attention runs as one ``scaled_dot_product_attention`` on the fused query, key and
    value projection, and reshapes are views. Values equal torchvision's graph within float32
    rounding (tests compare them with ``create_feature_extractor``'s).
    """

    n_features = VIT_B_32_N_FEATURES

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` normalised images -> ``(B, 460800)`` features."""
        vit: Any = self.vit
        b = x.shape[0]
        tokens = vit._process_input(x)
        cls = vit.class_token.expand(b, -1, -1)
        h = torch.cat([cls, tokens], dim=1) + vit.encoder.pos_embedding
        out = torch.empty((b, N_BLOCKS, N_TOKENS, WIDTH), dtype=h.dtype, device=h.device)
        packed = self._packed(h)
        for i, layer in enumerate(vit.encoder.layers):
            if packed is None:
                h = _encoder_block(layer, h, out[:, i])
            else:
                h = _packed_encoder_block(layer, packed[i], h, out[:, i])
        return out.reshape(b, -1)

    def _packed(self, h: torch.Tensor) -> list[tuple[PackedLinear, ...]] | None:
        """The blocks' products in oneDNN's layout (packed at the first CPU float32 forward), or ``None``."""
        if not enabled_for(h):
            return None
        packs = self.__dict__.get("_packs", _UNPACKED)
        if packs is _UNPACKED:
            with _PACK_LOCK:
                packs = self.__dict__.get("_packs", _UNPACKED)
                if packs is _UNPACKED:
                    packs = _pack_blocks(self.vit)
                    self.__dict__["_packs"] = packs  # not a module attribute: never in state_dict or .to()
        return packs  # type: ignore[return-value]


_UNPACKED = object()
_PACK_LOCK = threading.Lock()


def _pack_blocks(vit: Any) -> list[tuple[PackedLinear, ...]] | None:
    """Each block's four products packed for oneDNN (``None`` if one can't be: the plain path is used)."""
    blocks = []
    for i, layer in enumerate(vit.encoder.layers):
        attn, mlp = layer.self_attention, layer.mlp
        packed = pack_all(
            [
                (f"block {i} qkv", attn.in_proj_weight, attn.in_proj_bias),
                (f"block {i} out_proj", attn.out_proj.weight, attn.out_proj.bias),
                (f"block {i} mlp.0", mlp[0].weight, mlp[0].bias),
                (f"block {i} mlp.3", mlp[3].weight, mlp[3].bias),
            ],
            rows_hint=8 * N_TOKENS,
        )
        if packed is None:
            return None
        blocks.append(tuple(packed.values()))
    return blocks


def _encoder_block(layer: Any, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """torchvision's ``EncoderBlock`` (eval mode) on ``h`` ``(B, T, D)``, its result written into ``out``."""
    b, t, d = h.shape
    attn = layer.self_attention
    heads = attn.num_heads
    y = F.layer_norm(h, (d,), layer.ln_1.weight, layer.ln_1.bias, layer.ln_1.eps)
    # one product for query, key and value, then attention over (B, heads, T, D / heads) views
    qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, t, d)
    h = h + F.linear(a, attn.out_proj.weight, attn.out_proj.bias)
    mlp = layer.mlp  # Linear, GELU, Dropout, Linear, Dropout
    y = F.layer_norm(h, (d,), layer.ln_2.weight, layer.ln_2.bias, layer.ln_2.eps)
    z = F.linear(F.gelu(F.linear(y, mlp[0].weight, mlp[0].bias)), mlp[3].weight, mlp[3].bias)
    return torch.add(h, z, out=out)


def _packed_encoder_block(layer: Any, packed: tuple[PackedLinear, ...], h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """:func:`_encoder_block` with oneDNN's packed products, GELU and the first residual sum fused into them."""
    b, t, d = h.shape
    heads = layer.self_attention.num_heads
    qkv_p, out_p, fc1, fc2 = packed
    y = F.layer_norm(h, (d,), layer.ln_1.weight, layer.ln_1.bias, layer.ln_1.eps)
    qkv = qkv_p(y).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, t, d)
    h = out_p.add(a, h)
    y = F.layer_norm(h, (d,), layer.ln_2.weight, layer.ln_2.bias, layer.ln_2.eps)
    return torch.add(h, fc2(fc1(y, "gelu")), out=out)


def build_vit_b_32(state_dict: dict[str, torch.Tensor], source: str = "<state dict>") -> ViTB32Features:
    """Build the extractor from a torchvision ``vit_b_32`` state dict."""
    from torchvision.models import vit_b_32

    # built without memory (the meta device) and given the file's tensors as they are: no random
    # initialisation of 88 M weights to overwrite (about 2 s) and no second copy of them
    with torch.device("meta"):
        vit = vit_b_32(weights=None)
    try:
        vit.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as exc:
        raise IntegrityError(f"{source} does not hold torchvision vit_b_32 weights: {exc}") from None
    # the head is never used; dropping it saves memory
    vit.heads = nn.Identity()
    return ViTB32Features(vit).eval()


def resolve_vit_b_32_weights(explicit: str | os.PathLike[str] | None = None, store: Store | None = None) -> WeightsSource:
    """Find the ViT-B/32 weights (explicit path, then store, then torch hub cache); see :func:`resolve_weights`."""
    return resolve_weights(VIT_B_32, explicit, store)


def get_vit_b_32(
    device: torch.device | str = "cpu",
    weights: str | os.PathLike[str] | None = None,
    store: Store | None = None,
) -> ViTB32Features:
    """The shared ViT-B/32 extractor for ``device`` (built once, then reused)."""
    return get_backbone(VIT_B_32, device, weights, store)  # type: ignore[no-any-return]


def _cached_count() -> int:
    """Number of live shared extractors (used by tests to prove they are freed)."""
    return cached_count()
