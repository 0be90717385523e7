"""The ``BERG`` facade: BERG 2.0's API, call for call, on top of the plugins."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from berg_core.cards.enforce import (
    accepted_options,
    check_load_options,
    check_option_values,
    check_options,
    check_subject,
)
from berg_core.cards.model_card import ModelCard
from berg_core.errors import InvalidParameterError, PluginError
from berg_core.models.base import EncodingModel
from berg_core.models.device import resolve_device
from berg_core.models.selection import check_selection
from berg_core.registry.manager import PluginManager, get_plugin_manager
from berg_core.results.labels import model_labels
from berg_core.stimuli.kinds import as_kind_stimuli, check_one_kind, onset_rule
from berg_core.store.model_store import Store, resolve_store

__all__ = ["BERG", "check_subject", "describe_card", "model_labels"]


def describe_card(card: ModelCard) -> dict[str, Any]:
    """BERG 2.0's ``describe`` dict for a card."""
    by_function: dict[str, list[str]] = {}
    for p in card.parameters:
        by_function.setdefault(p.function, []).append(p.name)
    params = {
        p.name if p.name not in {q.name for q in card.parameters if q is not p} else f"{p.function}.{p.name}": {
            "type": p.type,
            "required": p.required,
            "default": p.default,
            "valid_values": p.valid_values,
            "description": p.description,
            "example": p.example,
            "function": p.function,
        }
        for p in card.parameters
    }
    return {
        "model_id": card.id,
        "model_info": {
            "modality": card.modality,
            "training_dataset": card.training_dataset,
            "species": card.species,
            "stimuli": card.stimuli,
            "architecture": card.architecture,
            "creator": card.creator,
            "subjects": None if card.subjects is None else list(card.subjects),
            "backbone": card.backbone,
            "units": card.units,
            "template_space": card.template_space,
            "license": card.license,
            "references": [r.model_dump(exclude_none=True) for r in card.references],
            "selection_keys": {
                k.name: {"description": k.description, "valid_values": k.valid_values, "conflicts_with": k.conflicts_with}
                for k in card.selection_keys
            },
            "default_preprocessing": card.default_preprocessing,
            "preprocessing": dict(card.preprocessing),
        },
        "description": card.description,
        "input": card.input.model_dump(exclude_none=True),
        "output": card.output.model_dump(exclude_none=True),
        "parameters": params,
        "parameters_by_function": by_function,
        "performance": card.accuracy.model_dump(exclude_none=True) if card.accuracy else {},
        "example_usage": card.example_usage,
    }


class BERG:
    """Entry point to every installed encoding model.

    Parameters
    ----------
    berg_dir
        The BERG store: a local folder or fsspec URL. ``None`` uses ``$BERG_DIR``,
        else the public bucket ``s3://brain-encoding-response-generator`` (anonymous).
    storage_options
        fsspec options for the store (for S3: ``anon``, ``endpoint_url``...).
    plugin_manager
        For tests and embedding; defaults to the process-wide manager.
    cache_dir
        Where files of a remote store are cached (``None``: ``$BERG_CACHE_DIR`` or
        ``~/.cache/berg``; ``False``: a temporary cache). See :mod:`berg_core.store.cache`.

    Examples
    --------
    >>> berg = BERG(berg_dir="/data/brain-encoding-response-generator")  # doctest: +SKIP
    >>> model = berg.get_encoding_model("eeg-things_eeg_2-vit_b_32", subject=1)  # doctest: +SKIP
    >>> responses = berg.encode(model, images)  # doctest: +SKIP
    """

    def __init__(
        self,
        berg_dir: str | os.PathLike[str] | Store | None = None,
        storage_options: dict[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
        cache_dir: str | os.PathLike[str] | bool | None = None,
    ) -> None:
        self.store = resolve_store(berg_dir, storage_options, cache_dir)
        self.berg_dir = self.store.url
        self._pm = plugin_manager or get_plugin_manager()

    def __repr__(self) -> str:
        return f"BERG(berg_dir={self.berg_dir!r}, models={len(self._pm.registry)})"

    @property
    def plugin_manager(self) -> PluginManager:
        return self._pm

    # ---- copy and pickle --------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Pickle the store's settings and the plugins by reference (see :mod:`berg_core.engine.pickling`)."""
        from berg_core.engine.pickling import PluginManagerRef

        return {**self.__dict__, "_pm": PluginManagerRef.of(self._pm)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pm = state["_pm"].resolve()

    def __deepcopy__(self, memo: dict[int, Any]) -> BERG:
        # the copy uses the same plugin manager and store handle: both are shared services, not state
        from berg_core.models.copying import deepcopy_sharing

        return deepcopy_sharing(self, memo, [self._pm, self.store])  # type: ignore[no-any-return]

    # ---- discovery --------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Ids of every model the installed plugins provide, sorted."""
        return self._pm.registry.ids()

    def get_model_catalog(self, print_format: bool = False) -> dict[str, list[str]]:
        """Training datasets per modality, as BERG 2.0 returns it.

        Parameters
        ----------
        print_format
            Also print the catalogue as a tree.
        """
        catalog: dict[str, set[str]] = {}
        for reg in self._pm.registry:
            catalog.setdefault(reg.card.modality, set()).add(reg.card.training_dataset)
        result = {m: sorted(ds) for m, ds in sorted(catalog.items())}
        if print_format:
            print("Available Modalities and Datasets:")
            print("=================================")
            for modality, datasets in result.items():
                print(f"• {modality.upper()}")
                for ds in datasets:
                    print(f"  └─ {ds}")
                print()
        return result

    def get_card(self, model_id: str) -> ModelCard:
        """The validated model card of ``model_id``."""
        return self._pm.registry.get(model_id).card

    def describe(self, model_id: str, print_output: bool = True) -> dict[str, Any]:
        """Print and return the model's description (BERG 2.0's keys)."""
        info = describe_card(self.get_card(model_id))
        if print_output:
            print(format_description(info))
        return info

    # ---- loading ----------------------------------------------------------------------------
    def get_encoding_model(
        self,
        model_id: str,
        subject: int | str | None = None,
        selection: dict[str, Any] | None = None,
        device: Any = "auto",
        **options: Any,
    ) -> EncodingModel:
        """Load a model for one subject, optionally restricted to a selection of outputs.

        Parameters
        ----------
        model_id
            One of :meth:`list_models`.
        subject
            The subject as the card lists it: a number, or a name such as ``"N"`` or ``"01"`` (``1`` also
            selects ``"01"``); leave it out for a participant-averaged model (``subjects: null``).
            See ``describe(model_id)``.
        selection
            Which outputs to keep, e.g. ``{"roi": "V1"}`` or ``{"channels": ["Oz"]}``.
            Only the selected outputs' weights are kept in memory.
        device
            ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        **options
            Model options, e.g. ``preprocessing="berg-2.0"`` or ``backbone_weights=PATH``.
        """
        reg = self._pm.registry.get(model_id)
        subj = check_subject(reg.card, subject)
        # the card is enforced here, for every plugin: the plugin only resolves what passed
        check_selection(reg.card, selection)
        check_load_options(reg.card, options)
        from berg_core.engine.factory import load_model

        # the owning plugin builds it from one LoadRequest; the model carries the factory that loads it again
        return load_model(self._pm, self.store, model_id, subj, selection, resolve_device(device), dict(options))

    def get_model_metadata(self, model_id: str, subject: int | str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Metadata of a model for a subject (and e.g. ``roi=``) without loading weights."""
        reg = self._pm.registry.get(model_id)
        subj = check_subject(reg.card, subject)
        declared = accepted_options(reg.card, "get_model_metadata")
        check_options(kwargs, declared, f"{model_id}.get_model_metadata")
        check_option_values(reg.card, kwargs, declared)
        meta = self._pm.owner_hook("berg_model_metadata", reg.plugin_name)(
            card=reg.card, subject=subj, store=self.store, options=dict(kwargs)
        )
        if meta is None:
            raise PluginError(f"plugin {reg.plugin_name!r} gave no metadata for {model_id!r}")
        return meta  # type: ignore[no-any-return]

    # ---- encoding ---------------------------------------------------------------------------
    def encode(
        self,
        model: EncodingModel | Sequence[EncodingModel],
        stimulus: Any,
        return_metadata: bool = False,
        show_progress: bool = True,
        batch_size: int | None = None,
        precision: str = "fp32",
        store: str | os.PathLike[str] | None = None,
        storage_options: dict[str, Any] | None = None,
        overwrite: bool = False,
        client: Any = None,
        stimulus_ids: Sequence[Any] | None = None,
        recursive: bool = False,
        **options: Any,
    ) -> Any:
        """Encode stimuli into in silico responses.

        Parameters
        ----------
        model
            A model from :meth:`get_encoding_model`, or a list of models: all are then
            computed in one pass over the stimuli, and models sharing a backbone (every
            ViT-B/32 model, whatever its subject or plugin) compute its features once per batch.
        stimulus
            Stimuli of the kind the models' cards declare (``stimuli:``); all models of one call
            take the same kind. Images: see :func:`berg_core.stimuli.inputs.as_stimuli`; video:
            :func:`berg_core.stimuli.video.as_video` (uint8 ``(N, T, 3, H, W)``, video files or a
            folder); sentences: :func:`berg_core.stimuli.sentences.as_sentences` (str, list of
            str, ``.txt`` file); timed words: :func:`berg_core.stimuli.timed_words.as_timed_words`
            (DataFrame or dict with ``word`` and ``onset``, ``.tsv`` files, or a list of stories).
        stimulus_ids
            Ids of the stimuli (one each, distinct, all strings or all integers) instead of
            0..N-1 or file names; not for a folder or glob pattern (list its files instead).
        recursive
            Read the subfolders of an image or video folder too, ids being relative paths; without
            it a folder whose subfolders hold images is refused.
        return_metadata
            Also return the model's metadata, as ``(responses, metadata)``.
        show_progress
            Show a progress bar (images, clips, sentences or words per second; time left).
        batch_size
            Stimuli (images, clips, sentences or stories) per batch; defaults to the model's ``default_batch_size``
            (the smallest among several models).
        precision
            ``"fp32"`` (default, exact), or ``"bf16"`` / ``"fp16"``: the backbone runs under
            ``torch.autocast`` (read-outs stay float32). Faster on GPUs with tensor cores; values
            then differ from fp32 by about 1e-2 relative (bf16) or 1e-3 (fp16). fp16 needs CUDA.
        store
            Write the result as Zarr here (local path or fsspec URL such as ``s3://bucket/run.zarr``;
            several models, or one model into a store of several: one group each, at
            ``store/<model_id>/subject-SS``), batch by batch, and return it opened lazily. Only a new
            folder or one berg wrote is accepted. An unfinished result there of the same computation
            (same request, weights, precision, batch size and images) is resumed, another is refused
            naming what changed; a complete one is refused unless ``overwrite=True``. Open stores
            with :meth:`open_results` or plain xarray. See :mod:`berg_core.results.zarr_sink`.
        storage_options
            fsspec options for ``store``.
        overwrite
            Replace the results this call writes (berg's own groups only; other files are never
            deleted, and a folder holding them is refused).
        client
            A ``distributed.Client``: stimulus blocks run as tasks on its cluster, each worker
            loading each model once and writing its region of ``store`` (required). See
            :mod:`berg_core.engine.distributed`.

        Returns
        -------
        xarray.DataArray or (xarray.DataArray, dict)
            ``stimulus`` first; ``.values`` has BERG 2.0's shape for the same call
            but never drops a dimension of size 1. For a list of models, a dict
            ``{model.label: DataArray}`` (and a dict of metadata).
        """
        from berg_core.engine.encoding import MemorySink, run_encode_many

        many = isinstance(model, (list, tuple))
        models: list[Any] = list(model) if isinstance(model, (list, tuple)) else [model]
        if not models:
            raise InvalidParameterError("encode got an empty list of models; expected at least one model")
        for m in models:
            if not isinstance(m, EncodingModel):
                raise InvalidParameterError(
                    f"model must be an encoding model from BERG.get_encoding_model (or a list of them), got {type(m).__name__}"
                )
            m.check_open()
            declared = {**accepted_options(m.card, "encode"), **dict.fromkeys(m.encode_options)}
            check_options(options, declared, m.model_id, what="encode option")
            check_option_values(m.card, options, declared)
        labels = model_labels(models)
        # the card's `stimuli:` decides what the input is (a list of str: image files, or sentences)
        stimuli = as_kind_stimuli(check_one_kind(models), stimulus, stimulus_ids=stimulus_ids, recursive=recursive,
                                  onsets=onset_rule(models))
        bs = _check_batch_size(batch_size, min(m.default_batch_size for m in models))
        # every parameter is checked before the result store is touched
        prec = check_precision(precision, models)
        if client is not None and store is None:
            raise InvalidParameterError("encode(client=...) writes to a shared Zarr store: pass store='path/or/url.zarr' too")
        sinks: list[Any] = [MemorySink() for _ in models]
        skip = 0
        if store is not None:
            from berg_core.results.zarr_sink import zarr_result_sinks

            sinks, skip = zarr_result_sinks(store, storage_options, models, labels if many else None, stimuli, bs, overwrite, prec)
        try:
            if client is not None:
                from berg_core.engine.distributed import encode_distributed

                results = encode_distributed(client, self._pm, models, stimuli, sinks, skip, bs, show_progress, prec)
            else:
                results = run_encode_many(self._pm, models, stimuli, bs, show_progress, sinks, skip=skip, precision=prec)
        except BaseException:
            # a failed or interrupted run gives its write locks back now; its results stay incomplete
            for sink in sinks:
                getattr(sink, "abort", lambda: None)()
            raise
        if not many:
            return (results[0], models[0].get_metadata()) if return_metadata else results[0]
        out = dict(zip(labels, results, strict=True))
        if return_metadata:
            return out, {label: m.get_metadata() for label, m in zip(labels, models, strict=True)}
        return out


    def load_insilico_neural_responses(
        self, model_id: str, imageset: str, subject: int | str | None = None, selection: dict[str, Any] | None = None
    ) -> Any:
        """Pre-generated responses of a model to an image set, opened lazily from the store.

        Parameters
        ----------
        model_id
            One of :meth:`list_models`.
        imageset
            Name of the image set (a folder ``imageset-{name}`` of the store's
            ``pregenerated_insilico_neural_responses``, see ``specs/store_layout.md``).
        subject
            The subject, as for :meth:`get_encoding_model`.
        selection
            Outputs to keep, by label: ``{"channel": ["Oz"]}``, ``{"time": slice(0.1, 0.2)}``...

        Returns
        -------
        xarray.DataArray
            Dask-backed, with the labels ``encode`` gives; nothing is read until values are asked for.
        """
        from berg_core.workflows.pregenerated import load_pregenerated

        reg = self._pm.registry.get(model_id)
        subj = check_subject(reg.card, subject)
        return load_pregenerated(self.store, reg.card, imageset, subj, selection)

    @staticmethod
    def open_results(path: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> Any:
        """Open a result store written by ``encode(..., store=...)``, ``berg encode`` or ``berg demo``.

        Parameters
        ----------
        path
            Local folder or fsspec URL (``s3://bucket/run.zarr``) of the store.
        storage_options
            fsspec options for ``path`` (for S3: ``anon``, ``endpoint_url``...).

        Returns
        -------
        xarray.DataTree
            One node per ``model_id`` and below it one per ``subject-SS`` for a store of
            several results (the root for a store of one), each holding the result as a
            Dataset, opened lazily; ``tree["MODEL/subject-01"]["eeg"].berg`` is berg's accessor.
            Unfinished results are left out. A plain ``xarray.open_datatree(path, engine="zarr")``
            opens the same store; ``xarray.open_zarr(path, group="MODEL/subject-01")`` one result.

        Raises
        ------
        StoreError
            Nothing there is a complete berg result.

        Examples
        --------
        >>> tree = BERG.open_results("run.zarr")  # doctest: +SKIP
        >>> eeg = tree["eeg-things_eeg_2-vit_b_32/subject-01"]["eeg"]  # doctest: +SKIP
        """
        from berg_core.results.groups import open_results_tree

        return open_results_tree(path, storage_options)


def check_precision(precision: Any, models: Sequence[EncodingModel]) -> str:
    """Validate ``precision=`` for these models' devices."""
    valid = ("fp32", "bf16", "fp16")
    if precision not in valid:
        raise InvalidParameterError(f"precision must be one of {list(valid)}, got {precision!r}")
    if precision == "fp16" and any(m.device.type != "cuda" for m in models):
        raise InvalidParameterError("precision='fp16' needs models on a CUDA device; use 'bf16' or 'fp32' on the CPU")
    return str(precision)


def _check_batch_size(batch_size: Any, default: int) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    return int(batch_size)


def format_description(info: dict[str, Any]) -> str:
    """Human-readable text of a ``describe`` dict: every section the card's text refers to is printed."""
    from berg_core.cards.describe_text import describe_text

    return describe_text(info)
