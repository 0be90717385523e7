"""Core's own hook implementations: defer to the model's methods.

Registered last, so any plugin's implementation of the same hook answers
first (``firstresult``), for example to swap in a faster kernel.
"""

from __future__ import annotations

from typing import Any

from berg_core.models.base import EncodingModel
from berg_core.registry.hookspecs import hookimpl


@hookimpl(trylast=True)
def berg_preprocess(model: Any, stimuli: Any) -> Any:
    if isinstance(model, EncodingModel):
        return model.preprocess(stimuli)
    return None


@hookimpl(trylast=True)
def berg_encode_batch(model: Any, batch: Any, stimulus_ids: list[Any]) -> Any:
    if isinstance(model, EncodingModel):
        return model.encode_batch(batch, stimulus_ids)
    return None
