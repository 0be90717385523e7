"""Feature extractors shared by several encoding models, contributed through the ``berg_backbones`` hook.

:mod:`~berg_core.backbones.spec` says what a backbone declares, :mod:`~berg_core.backbones.loading`
finds, builds and shares any of them, :mod:`~berg_core.backbones.catalog` holds core's own
(ViT-B/32, built in :mod:`~berg_core.backbones.vit_b_32`; AlexNet trained and untrained, built
in :mod:`~berg_core.backbones.alexnet`). Importing this package imports no torch; the names
below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ALEXNET_N_FEATURES",
    "ALEXNET_STORE_PATH",
    "VIT_B_32_FILENAME",
    "VIT_B_32_N_FEATURES",
    "VIT_B_32_STORE_PATH",
    "ViTB32Features",
    "get_vit_b_32",
    "resolve_vit_b_32_weights",
]

_LAZY = {
    **dict.fromkeys(
        ["ALEXNET_N_FEATURES", "ALEXNET_STORE_PATH", "VIT_B_32_FILENAME", "VIT_B_32_N_FEATURES", "VIT_B_32_STORE_PATH"],
        "catalog",
    ),
    **dict.fromkeys(["ViTB32Features", "get_vit_b_32", "resolve_vit_b_32_weights"], "vit_b_32"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'berg_core.backbones' has no attribute {name!r}")
    return getattr(importlib.import_module(f"berg_core.backbones.{module}"), name)
