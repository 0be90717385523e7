"""Hook implementations of the THINGS-MEG1 plugin.

Core asks this plugin only about the cards it contributed and the results of
its models; the checks on ``card.id`` keep each hook honest if a card is
added here later. Preprocessing and encoding go through core's default
hooks, which call the model's own methods (the ViT-B/32 pass is shared with
every other ViT-B/32 model encoded alongside).
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
)

from .layout import MODEL_ID, N_TIMES

if TYPE_CHECKING:
    from berg_core.plugin import EncodingModel, Store

CARDS_DIR = Path(__file__).parent / "cards"


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)


@hookimpl
def berg_load_model(request: LoadRequest) -> EncodingModel | None:
    if request.card.id != MODEL_ID or request.subject is None:
        return None
    from .model import load_model  # torch and xarray only when a model is loaded

    return load_model(request)


@hookimpl
def berg_model_metadata(
    card: ModelCard, subject: int | None, store: Store, options: dict[str, Any]
) -> dict[str, Any] | None:
    if card.id != MODEL_ID or subject is None:
        return None
    from .metadata import load_metadata

    return load_metadata(card, int(subject), store)[0]


@hookimpl
def berg_write_synthetic_store(
    card: ModelCard, root: str, subjects: list[int], seed: int, options: dict[str, Any]
) -> list[str] | None:
    if card.id != MODEL_ID:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(card, root, subjects, seed, options)


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    # 16 components and the all-splits model only: the demo store stays small and quick to build
    return DemoSettings(store_options={"n_components": 16, "splits": False}) if card.id == MODEL_ID else None


@hookimpl
def berg_convert_plan(card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None) -> ConvertPlan | None:
    if card.id != MODEL_ID:
        return None
    # the regression is sensor-major (row = sensor * n_times + time): one chunk per sensor, so a
    # sensor, region or group selection reads only its own sensors' chunks
    meg = (metadata or {}).get("meg")
    times = meg.get("times") if isinstance(meg, dict) else None
    return ConvertPlan(rows_per_chunk=len(times) if times is not None else N_TIMES)


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    if fmt != "mne":
        raise InvalidParameterError(f"{MODEL_ID} results export to ['mne'] (result.berg.to_mne()), not {fmt!r}")
    if path is not None:
        raise InvalidParameterError(
            "the 'mne' export returns an MNE object and writes no file; save it with MNE, e.g. "
            "result.berg.to_mne().save('name-epo.fif')"
        )
    check_options(options, ("kind", "average_splits"), f"{MODEL_ID} results", what="to_mne option")
    from .mne_export import to_mne

    return to_mne(result, **options)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    from .plots import plot_meg

    return plot_meg(result, path, options)
