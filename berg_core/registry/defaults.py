"""Core's own hook implementations: the ViT-B/32 backbone, and models' own methods for preprocess and encode.

Registered under ``berg_core.defaults``. For preprocess and encode, core asks the
plugin owning the model first and these implementations answer only when it gives
``None`` (``trylast``), so an owning plugin can swap in a faster kernel.
"""

from __future__ import annotations

from typing import Any

from berg_core.backbones.catalog import CORE_BACKBONES
from berg_core.models.base import EncodingModel
from berg_core.registry.hookspecs import hookimpl


@hookimpl
def berg_backbones() -> list[Any]:
    return list(CORE_BACKBONES)


@hookimpl(trylast=True)
def berg_preprocess(model: Any, stimuli: Any) -> Any:
    if isinstance(model, EncodingModel):
        return model.preprocess(stimuli)
    return None


@hookimpl(trylast=True)
def berg_encode_batch(model: Any, batch: Any, stimulus_ids: list[Any], features: Any) -> Any:
    if not isinstance(model, EncodingModel):
        return None
    if features is not None:
        return model.encode_features(features, stimulus_ids)
    return model.encode_batch(batch, stimulus_ids)
