"""What a contributed backbone declares (the ``berg_backbones`` hook); no torch needed to read it.

Core and plugins contribute named feature extractors as :class:`BackboneSpec`
objects. Everything generic (finding the weights, building one shared instance
per weights file and device, writing a seeded synthetic copy, fetching and
converting the weights file with a model) is done by core from the spec, so a
new backbone is one spec and one builder function.

A backbone's weights are one file (a torch state dict, the default) or a folder
of files (``folder=True``: e.g. a Hugging Face model folder with its config,
weights and tokenizer), built from the local folder's path.
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
        read without importing torch). For a folder backbone: ``build(folder, source)`` with
        the path of a local folder holding the weights.
    layers
        The layers or graph nodes whose outputs the extractor gives, in order.
    n_features
        Number of feature values per stimulus.
    filename
        File name of the weights: in the torch hub cache (``<hub>/checkpoints/FILENAME``) and,
        by default, in the store's ``backbones/`` folder. For a folder backbone, the folder's name.
    random_state_dict
        ``random_state_dict() -> dict``: a state dict of the real architecture with weights drawn
        from torch's random generator (core seeds it and keeps the caller's random state) for
        synthetic stores. File backbones only.
    store_path
        Where the weights live in a store; default ``backbones/<filename>``.
    weights_option
        The ``get_encoding_model`` option giving an explicit weights path.
    how_to_get
        Text telling a user how to fetch the weights once (a URL, a command).
    title
        The name people know it by, for messages (default: ``name``).
    folder
        The weights are a folder of files rather than one file.
    find_local
        ``find_local() -> str | None``: a local folder or file holding the weights outside berg's
        store (e.g. the Hugging Face cache), or ``None``; looked at after the store, instead of the
        torch hub cache. Function or ``"module:function"`` name. Must never download.
    local_description
        What ``find_local`` looks at, for the message when the weights are nowhere.
    write_random
        Folder backbones: ``write_random(folder)`` writes a seeded random copy (the real
        architecture, possibly tiny widths) into the empty ``folder`` for synthetic stores; core
        seeds torch's generator and keeps the caller's random state. Function or ``"module:function"``.
    synthetic_n_features
        Feature count of the seeded copy (``write_random`` may write tiny widths); default
        ``n_features``. Synthetic read-outs of models on this backbone are written this wide.
    """

    name: str
    build: Callable[[Mapping[str, Any], str], Any] | str
    layers: tuple[str, ...]
    n_features: int
    filename: str
    random_state_dict: Callable[[], Mapping[str, Any]] | None = None
    store_path: str = ""
    weights_option: str = "backbone_weights"
    how_to_get: str = ""
    title: str = ""
    folder: bool = False
    find_local: Callable[[], str | None] | str | None = None
    local_description: str = ""
    write_random: Callable[[str], None] | str | None = None
    synthetic_n_features: int = 0

    def __post_init__(self) -> None:
        if not self.store_path:
            object.__setattr__(self, "store_path", f"backbones/{self.filename}")
        if not self.title:
            object.__setattr__(self, "title", self.name)
        if not self.synthetic_n_features:
            object.__setattr__(self, "synthetic_n_features", self.n_features)
        # a synthetic copy must be writable: a state dict for a file, a writer for a folder
        if self.folder and self.write_random is None:
            raise TypeError(f"backbone {self.name!r}: a folder backbone needs write_random")
        if not self.folder and self.random_state_dict is None:
            raise TypeError(f"backbone {self.name!r}: a file backbone needs random_state_dict")

    def builder(self) -> Callable[[Any, str], Any]:
        """The ``build`` function, imported from its ``"module:function"`` name if given as one."""
        return _resolve(self.build)

    def local_finder(self) -> Callable[[], str | None] | None:
        """``find_local``, imported if named; ``None`` when the spec gives none."""
        return None if self.find_local is None else _resolve(self.find_local)

    def random_writer(self) -> Callable[[str], None]:
        """``write_random``, imported if named (folder backbones)."""
        assert self.write_random is not None
        return _resolve(self.write_random)

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        """Backbones with equal keys compute the same features: models naming them share a forward pass."""
        return (self.name, self.layers)


def _resolve(target: Any) -> Any:
    """A callable given as itself or as its ``"module:function"`` name."""
    if callable(target):
        return target
    import importlib

    module, _, attr = str(target).partition(":")
    return getattr(importlib.import_module(module), attr)
