"""Hook implementations: the language backbones this plugin contributes (no torch, no transformers here)."""

from __future__ import annotations

from berg_core import hookimpl
from berg_core.plugin import BackboneSpec

from .specs import LANGUAGE_BACKBONES


@hookimpl
def berg_backbones() -> list[BackboneSpec]:
    return list(LANGUAGE_BACKBONES)
