"""Two plugins from outside berg, registered by hand: one writes synthetic stores, one does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berg_core import hookimpl

CARD = """
id: thirdparty-toy-model
modality: toy
training_dataset: retina
species: simulated
stimuli: images
architecture: none
creator: A third party
description: A toy model.
input:
  description: images
  dims: [{name: stimulus}]
output:
  description: units
  dims: [{name: stimulus}, {name: unit, size: 2}]
subjects: [1, 2, 3]
parameters:
  - {name: subject, function: get_encoding_model, type: int, required: true, valid_values: [1, 2, 3], description: subject}
store_path: encoding_models/modality-toy/model-toy
units: a.u.
template_space: none
license: MIT
"""


class ThirdParty:
    """A plugin outside berg: its cards, and a synthetic store writer."""

    def __init__(self, cards_dir: Path) -> None:
        self.cards_dir = cards_dir
        self.calls: list[tuple[str, list[int], int, dict]] = []

    @hookimpl
    def berg_model_cards(self):
        from berg_core.cards.model_card import cards_in

        return cards_in(self.cards_dir)

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):
        self.calls.append((card.id, subjects, seed, options))
        rel = f"{card.store_path}/weights.json"
        (Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path(root) / rel).write_text(json.dumps({"seed": seed}))
        return [rel]


class NoWriter:
    """A plugin whose model cannot be written synthetically."""

    def __init__(self, cards_dir: Path) -> None:
        self.cards_dir = cards_dir

    @hookimpl
    def berg_model_cards(self):
        from berg_core.cards.model_card import cards_in

        return cards_in(self.cards_dir)



def third_party_manager(tmp_path: Path) -> tuple[Any, ThirdParty]:
    """A plugin manager holding only the two plugins (models ``thirdparty-toy-model``, ``thirdparty-unwritable``)."""
    from berg_core.registry.manager import PluginManager

    cards, other = tmp_path / "cards", tmp_path / "other"
    cards.mkdir()
    other.mkdir()
    (cards / "toy.yaml").write_text(CARD)
    (other / "toy2.yaml").write_text(CARD.replace("thirdparty-toy-model", "thirdparty-unwritable"))
    pm = PluginManager()
    plugin = ThirdParty(cards)
    pm.register(plugin, name="thirdparty")
    pm.register(NoWriter(other), name="nowriter")
    return pm, plugin
