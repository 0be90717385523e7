"""What a contributed backbone declares (the ``berg_backbones`` hook); no torch needed to read it.

Core and plugins contribute named feature extractors as :class:`BackboneSpec`
objects. Everything generic (finding the weights, building one shared instance
per weights file and device, writing a seeded synthetic copy, fetching and
converting the weights file with a model) is done by core from the spec, so a
new backbone is one spec and one builder function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BackboneSpec"]


@dataclass(frozen=True)
class BackboneSpec:
    """A named feature extractor that models share.

    Attributes
    ----------
    name
        The name cards use in their ``backbone`` field (e.g. ``"vit_b_32"``).
    build
        ``build(state_dict, source) -> torch.nn.Module``: the extractor, in eval mode, from a
        state dict read from the weights file (``source`` names that file, for errors). Its
        output for a batch is what models of this backbone read out. Either the function or
        its ``"module:function"`` name, imported when first needed (so the spec itself can be
        read without importing torch).
    layers
        The layers or graph nodes whose outputs the extractor gives, in order.
    n_features
        Number of feature values per stimulus.
    filename
        File name of the weights: in the torch hub cache (``<hub>/checkpoints/FILENAME``) and,
        by default, in the store's ``backbones/`` folder.
    random_state_dict
        ``random_state_dict() -> dict``: a state dict of the real architecture with weights drawn
        from torch's random generator (core seeds it and keeps the caller's random state) for
        synthetic stores.
    store_path
        Where the weights live in a store; default ``backbones/<filename>``.
    weights_option
        The ``get_encoding_model`` option giving an explicit weights path.
    how_to_get
        Text telling a user how to fetch the weights once (a URL, a command).
    title
        The name people know it by, for messages (default: ``name``).
    """

    name: str
    build: Callable[[Mapping[str, Any], str], Any] | str
    layers: tuple[str, ...]
    n_features: int
    filename: str
    random_state_dict: Callable[[], Mapping[str, Any]]
    store_path: str = ""
    weights_option: str = "backbone_weights"
    how_to_get: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        if not self.store_path:
            object.__setattr__(self, "store_path", f"backbones/{self.filename}")
        if not self.title:
            object.__setattr__(self, "title", self.name)

    def builder(self) -> Callable[[Mapping[str, Any], str], Any]:
        """The ``build`` function, imported from its ``"module:function"`` name if given as one."""
        if callable(self.build):
            return self.build
        import importlib

        module, _, attr = self.build.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        """Backbones with equal keys compute the same features: models naming them share a forward pass."""
        return (self.name, self.layers)
