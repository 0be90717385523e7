"""Hook implementations of the NSD fMRI plugin.

Importing this module stays cheap (no torch): the model modules are imported
only when a model is loaded or a store is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berg_core import hookimpl
from berg_core.plugin import ConvertPlan, DemoSettings, LoadRequest, ModelCard, cards_in

from .layout import FSAVERAGE_MODEL_IDS, FWRF_MODEL_ID

CARDS_DIR = Path(__file__).parent / "cards"
_MODELS = (*FSAVERAGE_MODEL_IDS, FWRF_MODEL_ID)


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)


@hookimpl
def berg_load_model(request: LoadRequest) -> Any:
    r = request
    if r.card.id in FSAVERAGE_MODEL_IDS:
        from .fsaverage_model import load_fsaverage_model

        return load_fsaverage_model(r)
    if r.card.id == FWRF_MODEL_ID:
        from .fwrf_model import FwrfModel

        return FwrfModel(r)
    return None


@hookimpl
def berg_model_metadata(card: ModelCard, subject: int | None, store: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    from berg_core.plugin import InvalidParameterError

    # core checked the options against the cards' get_model_metadata parameters
    if card.id in FSAVERAGE_MODEL_IDS:
        from .metadata import fsaverage_metadata

        return fsaverage_metadata(store, subject, card.id)[0]  # type: ignore[arg-type]
    if card.id == FWRF_MODEL_ID:
        from .fwrf_model import fwrf_metadata_for
        from .layout import FWRF_ROIS

        if options.get("roi") is None:
            raise InvalidParameterError(f"{card.id} metadata is per ROI: pass roi=..., one of {list(FWRF_ROIS)}")
        return fwrf_metadata_for(store, subject, options["roi"])  # type: ignore[arg-type]
    return None


@hookimpl
def berg_write_synthetic_store(
    card: ModelCard, root: str, subjects: list[int], seed: int, options: dict[str, Any]
) -> list[str] | None:
    if card.id not in _MODELS:
        return None
    from .synthetic import write_synthetic

    return write_synthetic(card.id, root, subjects, seed, options)


#: Small sizes for ``berg demo`` (a store of a few MB, built in seconds) and the selection it holds.
_DEMO = {
    **{model_id: DemoSettings(store_options={"n_components": 16}) for model_id in FSAVERAGE_MODEL_IDS},
    FWRF_MODEL_ID: DemoSettings(store_options={"rois": ["V1"], "volume_shape": [22, 26, 20], "n_voxels": {"V1": 1350}},
                                selection={"roi": "V1"}),
}


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    return _DEMO.get(card.id)


@hookimpl
def berg_convert_plan(card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan | None:
    if card.id not in FSAVERAGE_MODEL_IDS:
        return None  # the fwRF weights are per-ROI checkpoints, copied as they are
    from .convert_plan import fsaverage_convert_plan

    return fsaverage_convert_plan(weights, metadata, source)


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    from .result_export import export_result

    return export_result(result, fmt, path, options)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    from .plots import plot_result

    return plot_result(result, path, options)
