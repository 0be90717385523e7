"""Hook implementations of the LeBel 2023 story fMRI plugin (no torch imported here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berg_core import hookimpl
from berg_core.plugin import ConvertPlan, DemoSettings, LoadRequest, ModelCard, cards_in

from .layout import MODEL_ID

CARDS_DIR = Path(__file__).parent / "cards"


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)


@hookimpl
def berg_load_model(request: LoadRequest) -> Any:
    if request.card.id != MODEL_ID or request.subject is None:
        return None
    from .model import LebelModel

    return LebelModel(request)


@hookimpl
def berg_model_metadata(card: ModelCard, subject: Any, store: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    if card.id != MODEL_ID or subject is None:
        return None
    from .metadata import load_metadata

    return load_metadata(store, str(subject))[0]


@hookimpl
def berg_write_synthetic_store(card: ModelCard, root: str, subjects: Any, seed: int, options: dict[str, Any]) -> list[str] | None:
    if card.id != MODEL_ID:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(card, root, [str(s) for s in subjects], seed, options)


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    # 300 voxels keep the demo store small; the ridge's width follows the synthetic OPT-1.3B
    return DemoSettings(store_options={"n_voxels": 300}) if card.id == MODEL_ID else None


@hookimpl
def berg_convert_plan(card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan | None:
    if card.id != MODEL_ID:
        return None
    # ridge_weights is a top-level (features x voxels) array, not a regression group: core's default chunks
    # (about 16 MiB of feature rows each) suit the model, which reads it a block of feature rows at a time
    return ConvertPlan()


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
    from .plots import plot_result

    return plot_result(result, path, options)
