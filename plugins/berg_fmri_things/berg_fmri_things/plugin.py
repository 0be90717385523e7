"""Hook implementations of the THINGS-fMRI1 plugin.

Importing this module stays cheap (no torch): the model module is imported
only when a model is loaded. Core asks this plugin only about its own cards
and results; the ``card.id`` checks keep each hook honest if a card is added.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from berg_core import hookimpl
from berg_core.plugin import ConvertPlan, DemoSettings, LoadRequest, ModelCard, cards_in

from .layout import MODEL_ID

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
    from .model import ThingsFmriModel  # torch and xarray only when a model is loaded

    return ThingsFmriModel(request)


@hookimpl
def berg_model_metadata(card: ModelCard, subject: Any, store: Store, options: dict[str, Any]) -> dict[str, Any] | None:
    if card.id != MODEL_ID or subject is None:
        return None
    from .metadata import load_metadata

    return load_metadata(store, int(subject))[0]


@hookimpl
def berg_write_synthetic_store(
    card: ModelCard, root: str, subjects: list[Any], seed: int, options: dict[str, Any]
) -> list[str] | None:
    if card.id != MODEL_ID:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(root, subjects, seed, options, card.store_path)


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    # 16 components instead of 250: the demo store stays small and quick to build
    return DemoSettings(store_options={"n_components": 16}) if card.id == MODEL_ID else None


@hookimpl
def berg_convert_plan(card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan | None:
    if card.id != MODEL_ID:
        return None
    from .convert_plan import things_fmri_convert_plan

    return things_fmri_convert_plan(weights, metadata, source)


def _own(result: Any) -> bool:
    return getattr(result, "attrs", {}).get("model_id") == MODEL_ID


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    if not _own(result):
        return None
    from .nifti_export import export_result

    return export_result(result, fmt, path, options)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    if not _own(result):
        return None
    from .plots import plot_things_fmri

    return plot_things_fmri(result, path, options)
