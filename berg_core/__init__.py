"""berg: in silico neural responses from pretrained encoding models.

``from berg_core import BERG`` gives BERG 2.0's API; models come from plugins
registered under the entry-point group ``berg.plugins``.
"""

from berg_core._version import __version__
from berg_core.errors import (
    BERGError,
    CardError,
    IntegrityError,
    InvalidParameterError,
    ModelLoadError,
    ModelNotFoundError,
    PluginError,
    StimulusError,
    StoreError,
)
from berg_core.registry.hookspecs import hookimpl, hookspec

try:  # the .berg accessor on xarray objects (xarray is a dependency; guarded for card-only tools)
    from berg_core.results import accessor as _accessor  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "BERG",
    "BERGError",
    "CardError",
    "EncodingModel",
    "IntegrityError",
    "InvalidParameterError",
    "ModelCard",
    "ModelLoadError",
    "ModelNotFoundError",
    "PluginError",
    "StimulusError",
    "StoreError",
    "__version__",
    "hookimpl",
    "hookspec",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Lazy: importing berg_core (e.g. for hookimpl in a plugin) must stay cheap.
    if name == "BERG":
        from berg_core.api import BERG

        return BERG
    if name == "EncodingModel":
        from berg_core.models.base import EncodingModel

        return EncodingModel
    if name == "ModelCard":
        from berg_core.cards.model_card import ModelCard

        return ModelCard
    raise AttributeError(f"module 'berg_core' has no attribute {name!r}")
