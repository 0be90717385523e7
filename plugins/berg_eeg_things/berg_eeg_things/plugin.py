"""Hook implementations of the THINGS EEG2 plugin.

Core asks this plugin only about the cards it contributed and the results of
its models; the checks on ``card.id`` keep each hook honest if a card is
added here later. Preprocessing and encoding go through core's default
hooks, which call the model's own methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from berg_core import hookimpl
from berg_core.plugin import (
    ConvertPlan,
    DemoSettings,
    InvalidParameterError,
    LoadRequest,
    ModelCard,
    cards_in,
    check_options,
    result_model_id,
)

from .layout import MODEL_ID, MODEL_IDS

if TYPE_CHECKING:
    from berg_core.plugin import EncodingModel, Store

CARDS_DIR = Path(__file__).parent / "cards"


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)


@hookimpl
def berg_load_model(request: LoadRequest) -> EncodingModel | None:
    if request.card.id not in MODEL_IDS or request.subject is None:
        return None
    from .model import load_model  # torch and xarray only when a model is loaded

    return load_model(request)


@hookimpl
def berg_model_metadata(
    card: ModelCard, subject: int | None, store: Store, options: dict[str, Any]
) -> dict[str, Any] | None:
    if card.id not in MODEL_IDS or subject is None:
        return None
    from .metadata import load_metadata

    return load_metadata(card, subject, store)[0]


@hookimpl
def berg_write_synthetic_store(
    card: ModelCard, root: str, subjects: list[int], seed: int, options: dict[str, Any]
) -> list[str] | None:
    if card.id not in MODEL_IDS:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(card, root, subjects, seed, options)


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    # 16 components instead of 250: the demo store stays small and quick to build
    return DemoSettings(store_options={"n_components": 16}) if card.id in MODEL_IDS else None


@hookimpl
def berg_convert_plan(card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None) -> ConvertPlan | None:
    if card.id not in MODEL_IDS:
        return None
    from .convert_plan import eeg_convert_plan

    return eeg_convert_plan(metadata)


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    if fmt != "mne":
        owner = result_model_id(result) or MODEL_ID
        raise InvalidParameterError(f"{owner} results export to ['mne'] (result.berg.to_mne()), not {fmt!r}")
    if path is not None:
        raise InvalidParameterError(
            "the 'mne' export returns an MNE object and writes no file; save it with MNE, e.g. "
            "result.berg.to_mne().save('name-epo.fif')"
        )
    check_options(options, ("kind", "average_repetitions"), f"{result_model_id(result) or MODEL_ID} results", what="to_mne option")
    from .mne_export import to_mne

    return to_mne(result, **options)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    from .plots import plot_eeg

    return plot_eeg(result, path, options)
