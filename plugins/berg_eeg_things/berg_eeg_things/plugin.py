"""Hook implementations of the THINGS EEG2 plugin."""

from __future__ import annotations

from pathlib import Path

from berg_core import hookimpl
from berg_core.cards import ModelCard, cards_in

CARDS_DIR = Path(__file__).parent / "cards"


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)
