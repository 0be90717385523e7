"""Hook implementations of the BOLD Moments plugin.

Importing this module stays cheap (no torch): the model, the S3D extractor and
nibabel are imported only when a model is loaded, a store written or a result exported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berg_core import hookimpl
from berg_core.plugin import BackboneSpec, ConvertPlan, DemoSettings, LoadRequest, ModelCard, cards_in

from .layout import MODEL_ID

CARDS_DIR = Path(__file__).parent / "cards"


@hookimpl
def berg_model_cards() -> list[ModelCard]:
    return cards_in(CARDS_DIR)


@hookimpl
def berg_backbones() -> list[BackboneSpec]:
    from .backbone import S3D

    return [S3D]


@hookimpl
def berg_load_model(request: LoadRequest) -> Any:
    if request.card.id != MODEL_ID:
        return None
    from .model import BmdS3DModel

    return BmdS3DModel(request)


@hookimpl
def berg_model_metadata(card: ModelCard, subject: Any, store: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    if card.id != MODEL_ID:
        return None
    from .metadata import load_metadata

    return load_metadata(store, int(subject))[0]


@hookimpl
def berg_write_synthetic_store(card: ModelCard, root: str, subjects: list[Any], seed: int,
                               options: dict[str, Any]) -> list[str] | None:
    if card.id != MODEL_ID:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(card, root, [int(s) for s in subjects], seed, options)


#: ``berg demo``: 2 components, float32 and a small volume keep the store small (the S3D features stay
#: 4,084,096 per clip: the SVD file is still ~70 MB); the S3D weights are seeded random numbers.
_DEMO = DemoSettings(store_options={"n_components": 2, "dtype": "float32", "volume_shape": [20, 24, 20],
                                    "n_voxels": 1500})


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    return _DEMO if card.id == MODEL_ID else None


@hookimpl
def berg_convert_plan(card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None, source: str) -> ConvertPlan | None:
    # the regression is a flat dict (coef_ at the top of the file): core's default chunking applies
    return None


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    from .volume_export import export_result

    return export_result(result, fmt, path, options)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    from .plots import plot_result

    return plot_result(result, path, options)
