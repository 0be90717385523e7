"""Feature extractors shared by several encoding models."""

from berg_core.backbones.vit_b_32 import (
    VIT_B_32_FILENAME,
    VIT_B_32_N_FEATURES,
    VIT_B_32_STORE_PATH,
    ViTB32Features,
    get_vit_b_32,
    resolve_vit_b_32_weights,
)

__all__ = [
    "VIT_B_32_FILENAME",
    "VIT_B_32_N_FEATURES",
    "VIT_B_32_STORE_PATH",
    "ViTB32Features",
    "get_vit_b_32",
    "resolve_vit_b_32_weights",
]
