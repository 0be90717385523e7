"""Plugin managers travel between processes by reference.

A pickled model holds how to load it again, not its weights: its
:class:`~berg_core.engine.factory.ModelFactory` (the store settings, the
plugins that provided it and the arguments of ``BERG.get_encoding_model``).
Unpickling loads it again from the store (from the local cache for a remote
store), so a pickle is about a kilobyte whatever the model's size, and
``multiprocessing`` / joblib / Dask workers over subjects send factories, not
gigabytes. The plugins in it are a :class:`PluginManagerRef`: a plugin module
by its import name (it must be importable where the pickle is loaded), a
plugin object by pickling it.
"""

from __future__ import annotations

import importlib
import threading
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from berg_core.errors import PluginError

if TYPE_CHECKING:
    from berg_core.registry.manager import PluginManager

__all__ = ["PluginManagerRef"]


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
