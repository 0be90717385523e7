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
from collections.abc import Callable
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
from berg_core.models.onednn import enabled_for, pack_all, packed_once

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
        # oneDNN's packed products on the CPU in float32 (packed at the first such forward), else torch's
        packed = packed_once(self, lambda: _pack_blocks(vit)) if enabled_for(h) else None
        for i, layer in enumerate(vit.encoder.layers):
            h = _encoder_block(layer, packed[i] if packed is not None else _plain_products(layer), h, out[:, i])
        return out.reshape(b, -1)


#: A block's four products: query-key-value, attention output plus the residual ``(a, h)``, first MLP product
#: with its GELU, second MLP product.
BlockProducts = tuple[Callable[..., torch.Tensor], ...]


def _plain_products(layer: Any) -> BlockProducts:
    """torch's products of a torchvision ``EncoderBlock`` (eval mode)."""
    attn, mlp = layer.self_attention, layer.mlp  # mlp: Linear, GELU, Dropout, Linear, Dropout
    return (
        lambda y: F.linear(y, attn.in_proj_weight, attn.in_proj_bias),
        lambda a, h: h + F.linear(a, attn.out_proj.weight, attn.out_proj.bias),
        lambda y: F.gelu(F.linear(y, mlp[0].weight, mlp[0].bias)),
        lambda z: F.linear(z, mlp[3].weight, mlp[3].bias),
    )


def _pack_blocks(vit: Any) -> list[BlockProducts] | None:
    """Each block's products on oneDNN's packed weights, GELU and the residual sum fused (``None`` if one can't be)."""
    blocks: list[BlockProducts] = []
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
        qkv, out_proj, fc1, fc2 = packed
        products: BlockProducts = (qkv, lambda a, h, p=out_proj: p.add(a, h), lambda y, p=fc1: p(y, "gelu"), fc2)
        blocks.append(products)
    return blocks


def _encoder_block(layer: Any, products: BlockProducts, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """torchvision's ``EncoderBlock`` (eval mode) on ``h`` ``(B, T, D)`` with ``products``, its result written into ``out``."""
    b, t, d = h.shape
    heads = layer.self_attention.num_heads
    qkv_product, attention_out_plus, mlp_first, mlp_second = products
    y = F.layer_norm(h, (d,), layer.ln_1.weight, layer.ln_1.bias, layer.ln_1.eps)
    # one product for query, key and value, then attention over (B, heads, T, D / heads) views
    qkv = qkv_product(y).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, t, d)
    h = attention_out_plus(a, h)
    y = F.layer_norm(h, (d,), layer.ln_2.weight, layer.ln_2.bias, layer.ln_2.eps)
    return torch.add(h, mlp_second(mlp_first(y)), out=out)


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
