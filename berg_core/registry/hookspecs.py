"""Hook specifications: the whole contract between berg's core and its plugins.

A plugin is a module (or object) registered under the entry-point group
``berg.plugins`` that implements some of these hooks with
``@berg_core.hookimpl``. Core never knows a model by name: it asks the plugins.

The life of a call, and the hook answering each step:

1. discovery   -> :func:`berg_model_cards` (every plugin, results collected)
2. loading     -> :func:`berg_load_model` (the plugin that owns the card)
3. preprocess  -> :func:`berg_preprocess` (first non-None answer)
4. encoding    -> :func:`berg_encode_batch` (first non-None answer)

plus :func:`berg_model_metadata` for metadata without loading weights,
:func:`berg_write_synthetic_store` so tests and ``berg demo`` can build a
small store in the real formats for any plugin's models, and
:func:`berg_export_result` / :func:`berg_plot_result`, which the
``result.berg`` xarray accessor calls to hand a result to domain tools
(MNE, NIfTI, GIFTI) and to draw it.

For loading and metadata, core calls only the plugin that contributed the
card, so two plugins never compete for a model. Preprocess and encode are
``firstresult`` hooks: an implementation returns ``None`` for models it does
not own, letting another plugin (for instance one that wraps a model with a
faster kernel) answer first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # torch and xarray are not imported to read cards
    import torch
    import xarray as xr

    from berg_core.cards.model_card import ModelCard
    from berg_core.models.base import EncodingModel
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


@hookspec(firstresult=True)
def berg_load_model(
    card: ModelCard,
    subject: int | None,
    selection: dict[str, Any] | None,
    store: Store,
    device: torch.device,
    options: dict[str, Any],
) -> EncodingModel | None:
    """Build a ready-to-encode model.

    Only the plugin that contributed ``card`` is asked.

    Parameters
    ----------
    card
        The validated card of the requested model.
    subject
        Subject number, already checked against ``card.subjects``.
    selection
        The user's selection dict (e.g. ``{"roi": "V1"}``), not yet validated:
        the plugin validates it and raises :class:`~berg_core.InvalidParameterError`
        listing valid values.
    store
        Where the weights live (local folder or any fsspec URL).
    device
        Resolved torch device.
    options
        Remaining keyword arguments of ``get_encoding_model`` (for example
        ``preprocessing="berg-2.0"``). Unknown options must raise
        :class:`~berg_core.InvalidParameterError`.

    Returns
    -------
    EncodingModel or None
    """


@hookspec(firstresult=True)
def berg_model_metadata(
    card: ModelCard,
    subject: int | None,
    store: Store,
    options: dict[str, Any],
) -> dict[str, Any] | None:
    """Return the model's metadata, as BERG 2.0's nested metadata dict.

    Only the plugin that contributed ``card`` is asked. Must not load weights.
    ``options`` holds extra keyword arguments (``roi=...`` for per-ROI models).
    """


@hookspec(firstresult=True)
def berg_preprocess(model: EncodingModel, stimuli: Stimuli) -> torch.Tensor | None:
    """Turn one batch of validated stimuli into the model's input tensor.

    Parameters
    ----------
    model
        A model built by :func:`berg_load_model`. Return ``None`` if it is not
        one of this plugin's models.
    stimuli
        A batch of validated stimuli: images as uint8 ``(3, H, W)`` or float32
        ``(3, H, W)`` tensors in [0, 1], of any size; the model decides how to
        resize or crop.

    Returns
    -------
    torch.Tensor or None
        The batch, ready for :func:`berg_encode_batch`, on ``model.device``.
    """


@hookspec(firstresult=True)
def berg_encode_batch(model: EncodingModel, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray | None:
    """Encode one preprocessed batch into a labelled response.

    Returns
    -------
    xarray.DataArray or None
        Dims start with ``stimulus`` (length ``len(stimulus_ids)``, labelled by
        ``stimulus_ids``); the other dims, their coordinates and their sizes
        must not depend on the batch. ``None`` if the model is not this
        plugin's.
    """


@hookspec(firstresult=True)
def berg_write_synthetic_store(
    card: ModelCard, root: str, subjects: list[int], seed: int, options: dict[str, Any]
) -> list[str] | None:
    """Write a small store with seeded random weights in the model's real formats.

    Used by ``berg demo`` and by tests (a third-party plugin's tests work the
    same way). Only the plugin that contributed ``card`` is asked.

    Parameters
    ----------
    card
        The model whose files to write.
    root
        Local folder of the store (created if needed).
    subjects
        Subjects to write.
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
def berg_export_result(result: xr.DataArray, fmt: str, path: str | None, options: dict[str, Any]) -> Any | None:
    """Convert a result to a domain format, or write it to a file.

    Called by the accessor (``result.berg.to_mne()``, ``.to_nifti(path)``,
    ``.to_gifti(folder)``, ``.to_mgh(folder)``, ``.export(fmt, path)``).

    Parameters
    ----------
    result
        A result of ``encode`` (or one read back from Zarr); ``result.attrs["model_id"]``
        says which model made it. Return ``None`` for results of other plugins' models.
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
        A result of ``encode``; return ``None`` for other plugins' models.
    path
        Image file to write (PNG), or ``None``.
    options
        Plot options (e.g. ``times=[0.1, 0.2]`` for EEG topographies,
        ``reliability=0.2`` to mask unreliable units).

    Returns
    -------
    matplotlib.figure.Figure or None
    """
