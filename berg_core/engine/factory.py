"""Loading a model through its plugin, and the one object that loads it again anywhere.

:func:`load_model` asks the plugin that owns the card (``berg_load_model``,
given a :class:`~berg_core.registry.request.LoadRequest`) and attaches a
:class:`ModelFactory` to the model. The factory carries everything needed to
load the same model in another process: the plugin manager (by reference, see
:mod:`berg_core.engine.pickling`), the store settings (URL, fsspec options,
cache folder) and the request's arguments. Pickled models and distributed
workers both rebuild models from it, so a plugin registered by hand and a
store with its own cache folder work the same everywhere.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.backbones.loading import get_backbone
from berg_core.backbones.seeded import get_seeded_backbone, is_seeded
from berg_core.engine.pickling import PluginManagerRef
from berg_core.errors import PluginError
from berg_core.models.base import EncodingModel
from berg_core.registry.request import LoadRequest
from berg_core.store.model_store import Store

if TYPE_CHECKING:
    from berg_core.registry.manager import PluginManager

__all__ = ["ModelFactory", "StoreSettings", "load_model"]


@dataclass(frozen=True)
class StoreSettings:
    """How to open a store again in another process."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | bool | None = None

    @classmethod
    def of(cls, store: Store) -> StoreSettings:
        # what the store itself pickles as: its URL, fsspec options and cache setting
        _, (url, storage_options, cache_dir) = store.__reduce__()
        return cls(url, dict(storage_options or {}), os.fspath(cache_dir) if isinstance(cache_dir, os.PathLike) else cache_dir)

    def open(self) -> Store:
        return Store(self.url, self.storage_options or None, self.cache_dir)


@dataclass(frozen=True)
class ModelFactory:
    """Everything needed to load a model again: plugins, store settings and the load request's arguments."""

    plugins: PluginManagerRef
    store: StoreSettings
    model_id: str
    subject: int | str | None
    selection: dict[str, Any] | None = None
    device: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Equal for factories that build the same model (the per-process cache of :meth:`shared` uses it)."""
        return json.dumps(
            [self.plugins.plugins, self.plugins.process_wide, self.store.url, self.store.storage_options,
             self.store.cache_dir, self.model_id, self.subject, self.selection, self.device, self.options],
            sort_keys=True,
            default=lambda o: o.tolist() if isinstance(o, np.ndarray) else repr(o),
        )

    def build(self) -> EncodingModel:
        """A new model, loaded from the store by its plugin."""
        return load_model(self.plugins.resolve(), self.store.open(), self.model_id, self.subject, self.selection,
                          self.device, self.options)

    def shared(self) -> EncodingModel:
        """The model, built once per process and then reused (distributed workers)."""
        with _LOCK:
            model = _MODELS.get(self.key)
            if model is None or model.closed:
                model = _MODELS[self.key] = self.build()
            return model


_MODELS: dict[str, EncodingModel] = {}
_LOCK = threading.Lock()


def _backbone_source(pm: PluginManager) -> Any:
    def find(name: str, request: LoadRequest, weights: Any) -> Any:
        spec = pm.registry.backbone(name).spec
        if is_seeded(spec):  # built from its seed (e.g. BERG 2.0's untrained AlexNet): no file to find
            return get_seeded_backbone(spec, request.device)
        explicit = weights if weights is not None else request.options.get(spec.weights_option)
        return get_backbone(spec, request.device, explicit, request.store)

    return find


def load_model(
    pm: PluginManager,
    store: Store,
    model_id: str,
    subject: int | str | None,
    selection: dict[str, Any] | None,
    device: Any,
    options: dict[str, Any],
) -> EncodingModel:
    """Load ``model_id`` through the plugin owning its card; the model carries its :class:`ModelFactory`.

    ``subject`` and ``selection`` are the caller's, checked against the card already;
    ``device`` is a resolved torch device (or its name).
    """
    import torch

    reg = pm.registry.get(model_id)
    dev = device if isinstance(device, torch.device) else torch.device(device)
    request = LoadRequest(card=reg.card, subject=subject, selection=selection, store=store, device=dev,
                          options=dict(options), backbone_source=_backbone_source(pm))
    model = pm.owner_hook("berg_load_model", reg.plugin_name)(request=request)
    if not isinstance(model, EncodingModel):
        raise PluginError(f"plugin {reg.plugin_name!r} did not return a model for {model_id!r} (got {type(model).__name__})")
    model.plugin_name = reg.plugin_name
    model._plugin_manager = pm
    model.factory = ModelFactory(
        plugins=PluginManagerRef.of(pm), store=StoreSettings.of(store), model_id=model_id, subject=subject,
        selection=selection, device=str(dev), options=dict(options),
    )
    return model
