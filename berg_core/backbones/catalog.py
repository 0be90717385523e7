"""The backbones core contributes itself (through its own ``berg_backbones`` hook): ViT-B/32.

Reading this module imports no torch: the builder is named, and imported from
:mod:`berg_core.backbones.vit_b_32` when an extractor is first built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berg_core.backbones.spec import BackboneSpec

__all__ = ["CORE_BACKBONES", "VIT_B_32", "VIT_B_32_FILENAME", "VIT_B_32_N_FEATURES", "VIT_B_32_STORE_PATH", "VIT_B_32_URL"]

VIT_B_32_FILENAME = "vit_b_32-d86f8d99.pth"
VIT_B_32_STORE_PATH = f"backbones/{VIT_B_32_FILENAME}"
VIT_B_32_URL = f"https://download.pytorch.org/models/{VIT_B_32_FILENAME}"
N_BLOCKS, N_TOKENS, WIDTH = 12, 50, 768
VIT_B_32_N_FEATURES = N_BLOCKS * N_TOKENS * WIDTH  # 460,800


def _random_state_dict() -> Mapping[str, Any]:
    from torchvision.models import vit_b_32

    return vit_b_32(weights=None).state_dict()  # type: ignore[no-any-return]


VIT_B_32 = BackboneSpec(
    name="vit_b_32",
    title="ViT-B/32",
    build="berg_core.backbones.vit_b_32:build_vit_b_32",
    layers=tuple(f"encoder.layers.encoder_layer_{i}.add_1" for i in range(N_BLOCKS)),
    n_features=VIT_B_32_N_FEATURES,
    filename=VIT_B_32_FILENAME,
    store_path=VIT_B_32_STORE_PATH,
    random_state_dict=_random_state_dict,
    how_to_get=(
        "on a machine with internet access run:\n"
        "    python -c \"import torchvision; torchvision.models.vit_b_32(weights='IMAGENET1K_V1')\"\n"
        f"or download {VIT_B_32_URL}."
    ),
)

#: What core's own ``berg_backbones`` hook contributes.
CORE_BACKBONES = (VIT_B_32,)
