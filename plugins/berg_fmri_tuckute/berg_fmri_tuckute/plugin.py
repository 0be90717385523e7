"""Hook implementations of the Tuckute 2024 plugin (no torch imported here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berg_core import hookimpl
from berg_core.plugin import DemoSettings, InvalidParameterError, LoadRequest, ModelCard, cards_in, check_options

from .layout import MODEL_ID

CARDS_DIR = Path(__file__).parent / "cards"


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)


@hookimpl
def berg_load_model(request: LoadRequest) -> Any:
    if request.card.id != MODEL_ID:
        return None
    from .model import TuckuteModel

    return TuckuteModel(request)


@hookimpl
def berg_model_metadata(card: ModelCard, subject: Any, store: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    if card.id != MODEL_ID:
        return None
    from .weights import read_labels

    return read_labels(store)[0]


@hookimpl
def berg_write_synthetic_store(card: ModelCard, root: str, subjects: Any, seed: int, options: dict[str, Any]) -> list[str] | None:
    if card.id != MODEL_ID:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(card, root, seed, options)  # participant-averaged: one set of files


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    return DemoSettings() if card.id == MODEL_ID else None


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    if fmt != "dataframe":
        raise InvalidParameterError(f"{MODEL_ID} results export to ['dataframe'] (a table, or a CSV file), not {fmt!r}")
    check_options(options, (), f"{MODEL_ID} results", what="dataframe option")
    table = result.to_pandas()  # sentences x ROIs
    if path is None:
        return table
    table.to_csv(path)
    return path


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    from .plots import plot_result

    return plot_result(result, path, options)
