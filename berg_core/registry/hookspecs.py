"""Hook specifications: the whole contract between berg's core and its plugins.

A plugin is a module (or object) registered under the entry-point group
``berg.plugins`` that implements some of these hooks with
``@berg_core.hookimpl``. Core never knows a model by name: it asks the plugins.

The life of a call, and the hook answering each step:

1. discovery   -> :func:`berg_model_cards` and :func:`berg_backbones` (every plugin, results collected)
2. loading     -> :func:`berg_load_model`, given one :class:`~berg_core.plugin.LoadRequest`
3. preprocess  -> :func:`berg_preprocess`
4. encoding    -> :func:`berg_encode_batch`

plus :func:`berg_model_metadata` for metadata without loading weights,
:func:`berg_write_synthetic_store` so tests and ``berg demo`` can build a
small store in the real formats for any plugin's models,
:func:`berg_demo_settings` for how ``berg demo`` runs a model,
:func:`berg_convert_plan` for how ``berg convert`` chunks a model's weights, and
:func:`berg_export_result` / :func:`berg_plot_result`, which the
``result.berg`` xarray accessor calls to hand a result to domain tools
(MNE, NIfTI, GIFTI) and to draw it.

Every model-bound hook (all but the two discovery hooks) is dispatched
through the registry to the plugin that contributed the model's card, and
only to it: two plugins never compete for a model, and a plugin never sees
another plugin's models or results. For preprocess and encode, core's own
implementations (which call the model's methods) answer when the owning
plugin's implementation returns ``None`` or it has none; an owning plugin's
implementation is called in every run, single- or multi-model, at any
precision, with or without a backbone shared between models (models share a
backbone pass only when the same plugins prepare their inputs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # torch and xarray are not imported to read cards
    import torch
    import xarray as xr

    from berg_core.backbones.spec import BackboneSpec
    from berg_core.cards.model_card import ModelCard
    from berg_core.models.base import EncodingModel
    from berg_core.registry.request import ConvertPlan, DemoSettings, LoadRequest
    from berg_core.stimuli.inputs import Stimuli
    from berg_core.store.model_store import Store

PROJECT_NAME = "berg"
ENTRY_POINT_GROUP = "berg.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def berg_model_cards() -> list[ModelCard]:
    """Return the model cards this plugin provides.

    Called once per process, for every plugin. Cards should be read from
    YAML files shipped inside the plugin (see :func:`berg_core.cards.model_card.cards_in`)
    and must not import torch or any heavy dependency.

    Returns
    -------
    list of ModelCard
        Possibly empty. A model id given by two plugins is an error naming both.
    """


@hookspec
def berg_backbones() -> list[BackboneSpec]:
    """Return the shared feature extractors this plugin contributes.

    Called for every plugin, like :func:`berg_model_cards`; core contributes
    ViT-B/32 this way too. Cards name a backbone in their ``backbone`` field;
    core then fetches and converts its weights file with the model's, writes a
    seeded copy into synthetic stores, and builds one shared instance per
    weights file and device (``LoadRequest.backbone()``), so models of any
    plugin that name the same backbone (and layers) share one forward pass
    per batch. Must not import torch (the spec's callables may).

    Returns
    -------
    list of BackboneSpec
        Possibly empty. A backbone name given by two plugins is an error naming both.
    """


@hookspec(firstresult=True)
def berg_load_model(request: LoadRequest) -> EncodingModel | None:
    """Build a ready-to-encode model.

    Only the plugin that contributed ``request.card`` is asked.

    Parameters
    ----------
    request
        A :class:`~berg_core.plugin.LoadRequest`: ``card`` (validated), ``subject``
        (already checked against the card and in its form: an ``int``, a name such as ``"N"`` or
        ``"01"``, or ``None`` for a participant-averaged model; never ``int()`` a named one), ``selection`` (the user's dict, e.g.
        ``{"roi": "V1"}``, already checked by core against the card's ``selection_keys``:
        names, kinds, valid values and conflicts; map it onto the model's data with the SDK's
        selection primitives), ``store`` (where the weights live), ``device`` (resolved)
        and ``options`` (the remaining keyword arguments of ``get_encoding_model``, e.g.
        ``preprocessing="berg-2.0"``, already checked by core against the card's
        ``get_encoding_model`` parameters: names, types and valid values). ``request.backbone()`` gives the
        shared feature extractor the card names.

    Returns
    -------
    EncodingModel or None
    """


@hookspec(firstresult=True)
def berg_model_metadata(
    card: ModelCard,
    subject: int | str | None,
    store: Store,
    options: dict[str, Any],
) -> dict[str, Any] | None:
    """Return the model's metadata, as BERG 2.0's nested metadata dict.

    Only the plugin that contributed ``card`` is asked. Must not load weights.
    ``options`` holds extra keyword arguments (``roi=...`` for per-ROI models).

    Returns
    -------
    dict or None
    """


@hookspec(firstresult=True)
def berg_preprocess(model: EncodingModel, stimuli: Stimuli) -> torch.Tensor | None:
    """Turn one batch of validated stimuli into the model's input tensor.

    Parameters
    ----------
    model
        A model built by this plugin's :func:`berg_load_model` (only the owning plugin
        is asked). Return ``None`` to let core call ``model.preprocess``.
    stimuli
        A batch of validated stimuli of the kind the model's card declares
        (``stimuli:``; see :mod:`berg_core.stimuli.kinds`): images
        (:class:`~berg_core.plugin.Stimuli`: ``tensors()`` uint8 ``(3, H, W)`` or float32
        in [0, 1], of any size; the model decides how to resize or crop), video
        (:class:`~berg_core.plugin.VideoStimuli`: ``clips()`` uint8 ``(T, 3, H, W)`` and
        ``frame_rates()``; the model samples frames), sentences
        (:class:`~berg_core.plugin.SentenceStimuli`: ``texts()``) or timed words
        (:class:`~berg_core.plugin.TimedWordStimuli`: ``stories()``, each words with
        onsets in seconds). ``stimuli.ids`` are the batch's ids.

    Returns
    -------
    torch.Tensor or None
        The batch, ready for :func:`berg_encode_batch`, on ``model.device``.
    """


@hookspec(firstresult=True)
def berg_encode_batch(
    model: EncodingModel, batch: torch.Tensor, stimulus_ids: list[Any], features: torch.Tensor | None
) -> xr.DataArray | None:
    """Encode one preprocessed batch into a labelled response.

    Only the plugin that owns ``model`` is asked; return ``None`` to let core call
    ``model.encode_features(features, ...)`` (or ``model.encode_batch`` for a model
    without a shared feature extractor).

    Parameters
    ----------
    model
        One of this plugin's models.
    batch
        What :func:`berg_preprocess` gave for the batch.
    stimulus_ids
        The ids of the batch's stimuli.
    features
        For a model with a shared ``feature_extractor``: its output for ``batch``, computed
        once per batch for every model sharing it (under autocast for ``precision="bf16"``
        or ``"fp16"``, then float32). ``None`` for other models. An implementation may
        leave this argument out of its signature.

    Returns
    -------
    xarray.DataArray or None
        Dims start with ``stimulus`` (length ``len(stimulus_ids)``, labelled by
        ``stimulus_ids``); the other dims, their coordinates and their sizes
        must not depend on the batch. A ragged model (its card's first output dim
        is not ``stimulus``, e.g. ``tr`` or ``word``) starts with that row dim instead,
        any number of rows per stimulus (none included), and carries a ``stimulus``
        coordinate along it (each row's id from ``stimulus_ids``, rows grouped in their
        order) plus any per-row coordinates (``time``, ``word``...), the same names in
        every batch; core checks this, concatenates the rows in memory and appends them
        in Zarr.
    """


@hookspec(firstresult=True)
def berg_write_synthetic_store(
    card: ModelCard, root: str, subjects: list[int] | list[str] | None, seed: int, options: dict[str, Any]
) -> list[str] | None:
    """Write a small store with seeded random weights in the model's real formats.

    Used by ``berg demo`` and by tests (a third-party plugin's tests work the
    same way). Only the plugin that contributed ``card`` is asked. Core writes
    the weights of the backbone the card names (see :func:`berg_backbones`).

    Parameters
    ----------
    card
        The model whose files to write.
    root
        Local folder of the store (created if needed).
    subjects
        Subjects to write, as the card lists them (numbers or names); ``None`` for a
        participant-averaged model (write its one set of files).
    seed
        Seed of the random weights: the same seed gives the same files.
    options
        Plugin-specific sizes (for example a reduced feature count).

    Returns
    -------
    list of str or None
        Paths written, relative to ``root``.
    """


@hookspec(firstresult=True)
def berg_demo_settings(card: ModelCard) -> DemoSettings | None:
    """Say how ``berg demo`` runs ``card``'s model: synthetic-store sizes and a selection.

    Only the plugin that contributed ``card`` is asked. Without an answer the demo
    uses the plugin's default synthetic sizes and, when the card requires a
    selection, the card's example.

    Returns
    -------
    DemoSettings or None
    """


@hookspec(firstresult=True)
def berg_convert_plan(
    card: ModelCard, weights: dict[str, Any], metadata: dict[str, Any] | None, source: str
) -> ConvertPlan | None:
    """Say how ``berg convert`` chunks the regression rows of one of the model's weights files.

    Only the plugin that contributed ``card`` is asked, once per BERG 2.0 weights file
    (``encoding_models_weights/*.npy``) converted to the Zarr layout. Without an answer the
    regression arrays get core's default chunks (4,096 rows, in their own order).

    Parameters
    ----------
    card
        The model whose store folder is being converted.
    weights
        The file's dict as BERG 2.0 pickled it (scaler, PCA and regression groups).
    metadata
        The matching metadata file's dict (``metadata/metadata_<same name>.npy``), or
        ``None`` when the store has none.
    source
        Where the weights file lives, for messages.

    Returns
    -------
    ConvertPlan or None
        Row groups of the regression groups (rows of a group are stored next to each other)
        and rows per chunk. A plan naming an array the weights do not hold, or giving a
        group number per row for a different number of rows, is a :class:`~berg_core.PluginError`.
    """


@hookspec(firstresult=True)
def berg_export_result(result: xr.DataArray, fmt: str, path: str | None, options: dict[str, Any]) -> Any | None:
    """Convert a result to a domain format, or write it to a file.

    Called by the accessor (``result.berg.to_mne()``, ``.to_nifti(path)``,
    ``.to_gifti(folder)``, ``.to_mgh(folder)``, ``.export(fmt, path)``).

    Parameters
    ----------
    result
        A result of ``encode`` (or one read back from Zarr) of one of this plugin's models:
        core asks only the plugin that contributed the card of ``result.attrs["model_id"]``.
    fmt
        Format name, e.g. ``"mne"``, ``"nifti"``, ``"gifti"``, ``"mgh"``.
    path
        Where to write, for file formats; ``None`` for in-memory conversions.
    options
        Format options (e.g. ``kind="evoked"`` for MNE).

    Returns
    -------
    object or None
        The converted object (e.g. ``mne.EpochsArray``) or the path(s) written.
        Raise :class:`~berg_core.InvalidParameterError` for a format this plugin's
        model cannot be exported to, listing the formats it supports.
    """


@hookspec(firstresult=True)
def berg_plot_result(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Any | None:
    """Draw a result (matplotlib, Agg backend; no display needed).

    Parameters
    ----------
    result
        A result of ``encode`` of one of this plugin's models (only the owning plugin is asked).
    path
        Image file to write (PNG), or ``None``.
    options
        Plot options (e.g. ``times=[0.1, 0.2]`` for EEG topographies,
        ``reliability=0.2`` to mask unreliable units).

    Returns
    -------
    matplotlib.figure.Figure or None
    """
