"""Plugin discovery and the model registry.

Plugins come from the entry-point group ``berg.plugins``. Loading follows
xarray's backends: a plugin that fails to import (or whose cards are invalid)
gives a :class:`BERGPluginWarning` naming it, and the others keep working.
``BERG_STRICT_PLUGINS=1`` turns such failures into :class:`PluginError`
(CI uses it) and ``BERG_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points
entirely (register plugins by hand with :func:`get_plugin_manager`).

Duplicate model ids are always an error naming both plugins: silently
preferring one would change results depending on install order.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from berg_core.cards.model_card import ModelCard
from berg_core.errors import ModelNotFoundError, PluginError
from berg_core.registry import hookspecs

__all__ = [
    "BERGPluginWarning",
    "PluginManager",
    "RegisteredModel",
    "Registry",
    "get_plugin_manager",
    "reset_plugin_manager",
]

STRICT_ENV = "BERG_STRICT_PLUGINS"
DISABLE_AUTOLOAD_ENV = "BERG_DISABLE_PLUGIN_AUTOLOAD"
CORE_PLUGIN_NAME = "berg_core.defaults"


class BERGPluginWarning(UserWarning):
    """A plugin could not be used; the others keep working."""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _plugin_failure(message: str) -> None:
    if _env_flag(STRICT_ENV):
        raise PluginError(message)
    warnings.warn(message, BERGPluginWarning, stacklevel=3)


@dataclass(frozen=True)
class RegisteredModel:
    """A card and the name of the plugin that provided it."""

    card: ModelCard
    plugin_name: str


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with berg's loading rules and a card registry."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self._registry: Registry | None = None
        #: entry-point name -> distribution that provided it
        self.plugin_distributions: dict[str, str] = {}
        from berg_core.registry import defaults as _defaults

        self.register(_defaults, name=CORE_PLUGIN_NAME)

    def load_entrypoint_plugins(self) -> None:
        """Load every ``berg.plugins`` entry point, one at a time.

        Entry points are loaded in name order so the outcome does not depend on
        the order of installation; a second entry point under a name already
        loaded is skipped with a warning.
        """
        seen: dict[str, str] = {}
        eps = sorted(entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
        for ep in eps:
            if ep.name in seen:
                _plugin_failure(
                    f"berg plugin {ep.name!r} ({ep.value}) ignored: the name is already used by {seen[ep.name]}"
                )
                continue
            seen[ep.name] = ep.value
            if self.is_blocked(ep.name) or self.has_plugin(ep.name):
                continue
            try:
                # not pluggy's load_setuptools_entrypoints(name=...): it takes whichever entry point of
                # that name comes first on sys.path, and the choice must not depend on install order
                self.register(ep.load(), name=ep.name)
                self.plugin_distributions[ep.name] = ep.dist.name if ep.dist is not None else "?"
            except Exception as exc:
                _plugin_failure(f"berg plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}")
        self.check_pending()

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        self._registry = None
        return result

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        result = super().unregister(plugin, name)
        self._registry = None
        return result

    @property
    def registry(self) -> Registry:
        """Cards of every registered plugin, built on first use."""
        if self._registry is None:
            self._registry = Registry.from_plugin_manager(self)
        return self._registry

    def owner_hook(self, hook_name: str, plugin_name: str) -> Any:
        """A caller for ``hook_name`` restricted to the plugin ``plugin_name``."""
        others = [p for name, p in self.list_name_plugin() if name != plugin_name]
        return self.subset_hook_caller(hook_name, remove_plugins=others)


class Registry:
    """Model id -> card and owning plugin."""

    def __init__(self, models: dict[str, RegisteredModel]) -> None:
        self._models = dict(sorted(models.items()))

    @classmethod
    def from_plugin_manager(cls, pm: PluginManager) -> Registry:
        models: dict[str, RegisteredModel] = {}
        for impl in pm.hook.berg_model_cards.get_hookimpls():
            try:
                answer: Any = impl.function()
                cards = list(answer or [])
                bad = [c for c in cards if not isinstance(c, ModelCard)]
                if bad:
                    raise TypeError(f"berg_model_cards returned {type(bad[0]).__name__}, expected ModelCard")
            except Exception as exc:
                _plugin_failure(f"berg plugin {impl.plugin_name!r} could not list its models: {exc}")
                continue
            for card in cards:
                other = models.get(card.id)
                if other is not None:
                    raise PluginError(
                        f"model id {card.id!r} is provided by two plugins: "
                        f"{other.plugin_name!r} and {impl.plugin_name!r}; uninstall one of them"
                    )
                models[card.id] = RegisteredModel(card, impl.plugin_name)
        return cls(models)

    def ids(self) -> list[str]:
        return list(self._models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def get(self, model_id: str) -> RegisteredModel:
        """Return the registered model, or raise :class:`ModelNotFoundError` listing the ids."""
        if not isinstance(model_id, str):
            raise ModelNotFoundError(f"model_id must be a string such as {self.ids()[:3]}, got {type(model_id).__name__}")
        try:
            return self._models[model_id]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(model_id, self.ids(), n=3)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            available = ", ".join(self.ids()) or "none (is a berg plugin installed?)"
            raise ModelNotFoundError(f"unknown model {model_id!r}.{hint} Available models: {available}") from None


_PM: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, autoloading entry points on first use."""
    global _PM
    if _PM is None:
        pm = PluginManager()
        if not _env_flag(DISABLE_AUTOLOAD_ENV):
            pm.load_entrypoint_plugins()
        _PM = pm
    return _PM


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests, or after installing a plugin)."""
    global _PM
    _PM = None
