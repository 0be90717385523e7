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

from berg_core.backbones.spec import BackboneSpec
from berg_core.cards.enforce import did_you_mean
from berg_core.cards.model_card import ModelCard
from berg_core.errors import ModelLoadError, ModelNotFoundError, PluginError
from berg_core.registry import hookspecs

__all__ = [
    "BERGPluginWarning",
    "PluginManager",
    "RegisteredBackbone",
    "RegisteredModel",
    "Registry",
    "get_plugin_manager",
    "manager_of",
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


@dataclass(frozen=True)
class RegisteredBackbone:
    """A backbone spec and the name of the plugin that contributed it."""

    spec: BackboneSpec
    plugin_name: str


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with berg's loading rules and a card registry."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self._registry: Registry | None = None
        self._model_hooks: dict[tuple[str, str], Any] = {}
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
        self._forget()
        return result

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        result = super().unregister(plugin, name)
        self._forget()
        return result

    def _forget(self) -> None:
        self._registry = None
        self._model_hooks = {}

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

    def model_hook(self, hook_name: str, model: Any) -> Any:
        """A caller for a model-bound ``hook_name``: the plugin owning ``model``, then core's defaults.

        The owner is the plugin that loaded the model (``model.plugin_name``), else the one
        whose card has the model's id; a model no registered plugin owns gets core's defaults.
        """
        owner = getattr(model, "plugin_name", None)
        if owner is None or not self.has_plugin(owner):
            model_id = getattr(getattr(model, "card", None), "id", None)
            owner = self.registry.get(model_id).plugin_name if isinstance(model_id, str) and model_id in self.registry else CORE_PLUGIN_NAME
        key = (hook_name, owner)
        caller = self._model_hooks.get(key)
        if caller is None:
            keep = {owner, CORE_PLUGIN_NAME}
            others = [p for name, p in self.list_name_plugin() if name not in keep]
            caller = self._model_hooks[key] = self.subset_hook_caller(hook_name, remove_plugins=others)
        return caller


class Registry:
    """Model id -> card and owning plugin; backbone name -> spec and contributing plugin."""

    def __init__(self, models: dict[str, RegisteredModel], backbones: dict[str, RegisteredBackbone] | None = None) -> None:
        self._models = dict(sorted(models.items()))
        self._backbones = dict(sorted((backbones or {}).items()))

    @classmethod
    def from_plugin_manager(cls, pm: PluginManager) -> Registry:
        cards = _contributions(pm, "berg_model_cards", ModelCard, "models", "model id {!r} is provided")
        backbones = _contributions(pm, "berg_backbones", BackboneSpec, "backbones", "backbone {!r} is contributed")
        return cls(
            {card.id: RegisteredModel(card, plugin) for card, plugin in cards.values()},
            {spec.name: RegisteredBackbone(spec, plugin) for spec, plugin in backbones.values()},
        )

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
            hint = did_you_mean([model_id], self.ids())
            available = ", ".join(self.ids()) or "none (is a berg plugin installed?)"
            raise ModelNotFoundError(f"unknown model {model_id!r}.{hint} Available models: {available}") from None


    def backbone_names(self) -> list[str]:
        return list(self._backbones)

    def backbone(self, name: str) -> RegisteredBackbone:
        """The contributed backbone ``name``, or :class:`ModelLoadError` listing the installed ones."""
        try:
            return self._backbones[name]
        except (KeyError, TypeError):
            hint = did_you_mean([str(name)], self.backbone_names())
            raise ModelLoadError(
                f"no installed plugin contributes the backbone {name!r}.{hint} Installed backbones: "
                f"{', '.join(self.backbone_names()) or 'none'} (install the plugin that provides it)"
            ) from None

    def backbone_of(self, card: ModelCard) -> BackboneSpec | None:
        """The spec of the backbone ``card`` names, ``None`` when it names none or one nobody contributes."""
        reg = self._backbones.get(card.backbone or "")
        return None if reg is None else reg.spec


def _contributions(pm: PluginManager, hook: str, kind: type, what: str, twice: str) -> dict[str, tuple[Any, str]]:
    """What every plugin's ``hook`` lists (cards, backbones), by name, with the plugin that gave it.

    A plugin whose hook fails or answers with something else is skipped with a warning naming it
    (an error under ``BERG_STRICT_PLUGINS=1``); one name from two plugins is an error naming both.
    """
    found: dict[str, tuple[Any, str]] = {}
    for impl in getattr(pm.hook, hook).get_hookimpls():
        try:
            answer: Any = impl.function()
            items = list(answer or [])
            bad = [item for item in items if not isinstance(item, kind)]
            if bad:
                raise TypeError(f"{hook} returned {type(bad[0]).__name__}, expected {kind.__name__}")
        except Exception as exc:
            _plugin_failure(f"berg plugin {impl.plugin_name!r} could not list its {what}: {exc}")
            continue
        for item in items:
            name = item.id if isinstance(item, ModelCard) else item.name
            other = found.get(name)
            if other is not None:
                raise PluginError(
                    f"{twice.format(name)} by two plugins: {other[1]!r} and {impl.plugin_name!r}; uninstall one of them"
                )
            found[name] = (item, impl.plugin_name)
    return found


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


def manager_of(given: Any = None) -> PluginManager:
    """The plugin manager of ``given`` (a ``BERG`` or a plugin manager), the process-wide one only for ``None``."""
    if given is None:
        return get_plugin_manager()
    pm = getattr(given, "plugin_manager", given)
    if not isinstance(pm, PluginManager):
        from berg_core.errors import InvalidParameterError

        raise InvalidParameterError(f"plugin_manager must be a BERG or a berg plugin manager, got {type(given).__name__}")
    return pm


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests, or after installing a plugin)."""
    global _PM
    _PM = None
