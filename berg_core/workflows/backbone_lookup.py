"""Which backbone a name means, for plugins that must know a contributed backbone's declaration.

A plugin writing a synthetic store for a model on another plugin's backbone
writes its read-out as wide as that backbone's seeded copy
(:attr:`~berg_core.backbones.spec.BackboneSpec.synthetic_n_features`); it learns
the width here, through the registry, instead of importing the other plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from berg_core.backbones.spec import BackboneSpec
    from berg_core.registry.manager import PluginManager

__all__ = ["backbone_spec"]


def backbone_spec(name: str, plugin_manager: PluginManager | None = None) -> BackboneSpec:
    """The spec of the installed backbone ``name`` (contributed by any plugin, or by core).

    Raises
    ------
    ModelLoadError
        No installed plugin contributes ``name``; the message lists the installed backbones.
    """
    from berg_core.registry.manager import manager_of

    return manager_of(plugin_manager).registry.backbone(name).spec
