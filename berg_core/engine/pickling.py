"""Copying and pickling of models and of the ``BERG`` facade.

A pickled model holds how to load it again, not its weights: the store
(URL, fsspec options, cache setting), the plugins that provided it and the
arguments of ``BERG.get_encoding_model``. Unpickling loads it again from the
store (from the local cache for a remote store), so a pickle is about a
kilobyte whatever the model's size, and ``multiprocessing`` / joblib workers
over subjects send specs, not gigabytes. ``copy.deepcopy`` copies in memory
instead: every read-out tensor is copied, and only what is shared by design
stays shared (the store handle, the plugin manager, the process-wide backbone
that every ViT-B/32 model already shares).

Plugins travel by reference: a plugin module by its import name (it must be
importable where the pickle is loaded), a plugin object by pickling it.
"""

from __future__ import annotations

import copy
import importlib
import threading
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from berg_core.errors import InvalidParameterError, PluginError

if TYPE_CHECKING:
    from berg_core.models.base import EncodingModel
    from berg_core.registry.manager import PluginManager
    from berg_core.store.model_store import Store

__all__ = ["PluginManagerRef", "check_copyable", "deepcopy_sharing", "model_reduce", "rebuild_model"]


@dataclass(frozen=True)
class PluginManagerRef:
    """A picklable stand-in for a :class:`~berg_core.registry.manager.PluginManager`.

    ``process_wide``: the manager was the process-wide one, so the receiving
    process uses its own (entry points load there), plus any plugin registered
    by hand that it lacks. Otherwise a manager holding exactly ``plugins`` is
    built once per process and reused.
    """

    process_wide: bool
    plugins: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, pm: PluginManager) -> PluginManagerRef:
        from berg_core.registry import manager as plugins_mod

        refs = tuple(
            (name, _plugin_ref(name, plugin))
            for name, plugin in pm.list_name_plugin()
            if name != plugins_mod.CORE_PLUGIN_NAME and plugin is not None
        )
        return cls(process_wide=pm is plugins_mod._PM, plugins=refs)

    def resolve(self) -> PluginManager:
        from berg_core.registry.manager import PluginManager, get_plugin_manager

        if self.process_wide:
            pm = get_plugin_manager()
            for name, ref in self.plugins:
                if not pm.has_plugin(name) and not pm.is_blocked(name):
                    pm.register(_load_ref(name, ref), name=name)
            return pm
        loaded = [(name, _load_ref(name, ref)) for name, ref in self.plugins]
        # keyed by the plugin objects themselves: a module imported again after being dropped is a new plugin
        key = tuple((name, id(plugin)) for name, plugin in loaded)
        with _LOCK:
            built = _BUILT.get(key)
            if built is None:
                built = PluginManager()
                for name, plugin in loaded:
                    built.register(plugin, name=name)
                _BUILT[key] = built
            return built


_BUILT: dict[tuple[Any, ...], PluginManager] = {}
_LOCK = threading.Lock()


def _plugin_ref(name: str, plugin: Any) -> Any:
    # modules do not pickle; their import name does, and importing it again gives the same hooks
    return plugin.__name__ if isinstance(plugin, types.ModuleType) else plugin


def _load_ref(name: str, ref: Any) -> Any:
    if not isinstance(ref, str):
        return ref
    try:
        return importlib.import_module(ref)
    except ImportError as exc:
        raise PluginError(
            f"cannot restore berg plugin {name!r}: its module {ref!r} does not import in this process ({exc}); "
            "install the plugin (or put it on sys.path) where the pickle is loaded"
        ) from None


def deepcopy_sharing(obj: Any, memo: dict[int, Any], shared: list[Any]) -> Any:
    """``copy.deepcopy`` of ``obj``'s attributes, keeping the objects of ``shared`` as they are."""
    for item in shared:
        if item is not None:
            memo[id(item)] = item
    new = object.__new__(type(obj))
    memo[id(obj)] = new
    new.__dict__.update(copy.deepcopy(obj.__dict__, memo))
    return new


def model_reduce(model: EncodingModel) -> tuple[Any, tuple[Any, ...]]:
    """``__reduce__`` of a model: reload from the store on unpickling."""
    check_copyable(model, "pickle")
    spec = model.spec
    pm = getattr(model, "_plugin_manager", None)
    if spec is None or pm is None:
        raise InvalidParameterError(
            f"cannot pickle {model!r}: only models made by BERG.get_encoding_model can be pickled "
            "(they carry how to load them again); copy.deepcopy works for any model"
        )
    return rebuild_model, (model.store, PluginManagerRef.of(pm), spec)


def rebuild_model(store: Store, pm_ref: PluginManagerRef, spec: Any) -> EncodingModel:
    """Load a pickled model again from its store (the other half of :func:`model_reduce`)."""
    from berg_core.api import BERG

    berg = BERG(store, plugin_manager=pm_ref.resolve())
    return berg.get_encoding_model(
        spec.model_id, subject=spec.subject, selection=spec.selection, device=spec.device, **spec.options
    )


def check_copyable(model: EncodingModel, action: str) -> None:
    """Refuse to ``action`` ("copy" or "pickle") a cleaned-up model: it has no weights left to copy."""
    if model.closed:
        raise InvalidParameterError(
            f"cannot {action} {model.model_id} (subject {model.subject}): it was cleaned up and holds no weights; "
            f"{action} it before cleanup(), or load it again with BERG.get_encoding_model"
        )
