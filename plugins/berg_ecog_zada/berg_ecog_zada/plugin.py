"""Hook implementations of the Zada 2025 Podcast ECoG plugin (no torch imported here)."""

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
    if request.card.id != MODEL_ID or request.subject is None:
        return None
    from .model import ZadaModel

    return ZadaModel(request)


@hookimpl
def berg_model_metadata(card: ModelCard, subject: Any, store: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    if card.id != MODEL_ID or subject is None:
        return None
    from .readout import read_labels

    return read_labels(store, str(subject))[0]


@hookimpl
def berg_write_synthetic_store(card: ModelCard, root: str, subjects: Any, seed: int, options: dict[str, Any]) -> list[str] | None:
    if card.id != MODEL_ID:
        return None
    from .synthetic import write_synthetic_store

    return write_synthetic_store(card, root, [str(s) for s in subjects], seed, options)


@hookimpl
def berg_encode_batch(model: Any, batch: Any, stimulus_ids: list[Any], features: Any) -> Any:
    # the rows need the stories (words, onsets) as well as the shared word features
    from .model import ZadaModel

    if not isinstance(model, ZadaModel):
        return None
    return model.encode_batch(batch, stimulus_ids, features)


@hookimpl
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    # 12 electrodes keep the demo store small; the read-out's width follows the synthetic GPT-2 XL
    return DemoSettings(store_options={"n_electrodes": 12}) if card.id == MODEL_ID else None


@hookimpl
def berg_export_result(result: Any, fmt: str, path: str | None, options: dict[str, Any]) -> Any:
    if fmt != "mne":
        raise InvalidParameterError(f"{MODEL_ID} results export to ['mne'] (result.berg.to_mne()), not {fmt!r}")
    if path is not None:
        raise InvalidParameterError(
            "the 'mne' export returns an MNE object and writes no file; save it with MNE, e.g. "
            "result.berg.to_mne().save('words-epo.fif')"
        )
    check_options(options, ("kind",), f"{MODEL_ID} results", what="to_mne option")
    from .mne_export import to_mne

    return to_mne(result, **options)


@hookimpl
def berg_plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Any:
    from .plots import plot_result

    return plot_result(result, path, options)
