"""Hook implementations of the TVSD plugin.

Importing this module stays cheap (no torch): the model module is imported
only when a model is loaded. Core asks this plugin only about its own cards
and results; the ``card.id`` checks keep each hook honest if a card is added.
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
    from .model import TvsdModel  # torch and xarray only when a model is loaded

    return TvsdModel(request)


@hookimpl
def berg_model_metadata(card: ModelCard, subject: Any, store: Store, options: dict[str, Any]) -> dict[str, Any] | None:
    if card.id != MODEL_ID or subject is None:
        return None
    from .metadata import load_metadata

    return load_metadata(store, str(subject), card.store_path)[0]


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
    from .convert_plan import tvsd_convert_plan

    return tvsd_convert_plan(weights, metadata, source)


def _own(result: Any) -> bool:
    return getattr(result, "attrs", {}).get("model_id") == MODEL_ID


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    if not _own(result):
        return None
    if fmt != "array":
        raise InvalidParameterError(
            f"{MODEL_ID} results cannot be exported as {fmt!r}; formats: ['array'] (BERG 2.0's NumPy array). "
            "Save a result with result.to_netcdf(...) or result.to_zarr(...)"
        )
    check_options(options, (), f"{MODEL_ID} export('array')")
    if path is not None:
        raise InvalidParameterError("export('array') returns a NumPy array and writes no file")
    import numpy as np

    return np.asarray(result.values, dtype=np.float32)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    if not _own(result):
        return None
    from .plots import plot_tvsd

    return plot_tvsd(result, path, options)
