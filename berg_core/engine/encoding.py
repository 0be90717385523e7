"""The batch loop behind ``BERG.encode``.

Each batch goes through the ``berg_preprocess`` and ``berg_encode_batch``
hooks of the plugin that owns each model (core's defaults answer when it
gives ``None``), in every run: one model or many, any precision, a backbone
shared or not. The labelled batch results go to a *sink*. The default
:class:`MemorySink` writes into one preallocated array (never grown by
appending), so memory is the result plus one batch; other sinks (Zarr on
disk or S3) stream batches out instead. A ragged model's rows (a story's
TRs, a podcast's words: as many per stimulus as it gives) are known only
once encoded: the memory sink keeps its batches and concatenates them once,
the Zarr sink appends them.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from berg_core.engine.ordered_worker import OrderedWorker
from berg_core.errors import PluginError

if TYPE_CHECKING:
    from berg_core.models.base import EncodingModel
    from berg_core.registry.manager import PluginManager
    from berg_core.stimuli.inputs import Stimuli

__all__ = ["MemorySink", "ResultSink", "assemble", "check_batch_result", "concat_rows", "run_encode", "run_encode_many"]


class ResultSink(Protocol):
    """Where encoded batches go."""

    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        """Called once with the first batch's result (its non-stimulus dims and coords are final)."""

    def write(self, start: int, batch: xr.DataArray) -> None:
        """Store ``batch`` at stimulus offset ``start`` (a ragged result's rows: after the rows before)."""

    def finish(self) -> Any:
        """Called after the last batch; returns what ``encode`` returns."""


def assemble(values: Any, template: xr.DataArray, stimulus_ids: list[Any]) -> xr.DataArray:
    """A full result with ``template``'s labels and ``values`` for all stimuli."""
    coords = {k: v for k, v in template.coords.items() if "stimulus" not in v.dims}
    coords["stimulus"] = ("stimulus", np.asarray(stimulus_ids))
    return xr.DataArray(values, dims=template.dims, coords=coords, attrs=dict(template.attrs), name=template.name)


def concat_rows(parts: Sequence[xr.DataArray], template: xr.DataArray) -> xr.DataArray:
    """Ragged batch results joined along their row dim: values and per-row coordinates concatenated,
    every other label as ``template`` has it."""
    row = template.dims[0]
    # batches without rows add nothing, and their empty coordinates may be of another type (float for text ids)
    parts = [p for p in parts if p.sizes[row]] or list(parts[:1])
    coords: dict[Any, Any] = {k: v.variable for k, v in template.coords.items() if row not in v.dims}
    for name, c in template.coords.items():
        if row in c.dims:
            axis = c.dims.index(row)
            coords[name] = (c.dims, np.concatenate([np.asarray(p.coords[name].values) for p in parts], axis=axis))
    values = np.concatenate([np.asarray(p.values) for p in parts], axis=0)
    return xr.DataArray(values, dims=template.dims, coords=coords, attrs=dict(template.attrs), name=template.name)


class MemorySink:
    """Collects the result in memory: one preallocated array, or for a ragged model (rows along its card's
    first output dim, as many per stimulus as it gives) the batches' rows, concatenated at the end."""

    def __init__(self) -> None:
        self._out: np.ndarray | None = None
        self._template: xr.DataArray | None = None
        self._ids: list[Any] = []
        self._parts: list[xr.DataArray] | None = None

    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        self._template = template
        self._ids = list(stimulus_ids)
        if template.dims[0] != "stimulus":
            self._parts = []  # how many rows is known only once every stimulus is encoded
            return
        self._out = np.empty((len(stimulus_ids), *template.shape[1:]), dtype=template.dtype)

    def write(self, start: int, batch: xr.DataArray) -> None:
        if self._parts is not None:
            self._parts.append(batch)
            return
        assert self._out is not None
        self._out[start : start + batch.shape[0]] = batch.values

    def finish(self) -> xr.DataArray:
        assert self._template is not None
        if self._parts is not None:
            return concat_rows(self._parts or [self._template], self._template)
        assert self._out is not None
        return assemble(self._out, self._template, self._ids)


def check_batch_result(model: EncodingModel, da: Any, ids: list[Any], template: xr.DataArray | None) -> xr.DataArray:
    """Check that a plugin's batch result keeps the hook's contract; label the first batch with its model and subject.

    ``model_id`` and ``subject`` become scalar coordinates (and stay attributes), so results
    of several subjects concatenate with the right labels (``xr.concat(..., dim="subject")``);
    a participant-averaged model's results carry no ``subject``. Of a model with a row per
    stimulus only the first batch (``template`` is ``None``) is labelled: sinks take every
    label but the stimuli's from it (ragged rows are labelled in every batch).

    A ragged model (its card's first output dim is not ``stimulus``: ``tr``, ``word``...) gives
    that row dim first, any number of rows per stimulus, and a ``stimulus`` coordinate along it
    saying which of ``ids`` each row belongs to, rows grouped in the order of ``ids``; its
    per-row coordinates are the same in every batch, its other dims and coordinates fixed.
    """
    if not isinstance(da, xr.DataArray):
        raise PluginError(f"{model.model_id}: berg_encode_batch returned {type(da).__name__}, expected xarray.DataArray")
    card = getattr(model, "card", None)
    row = "stimulus" if card is None else card.row_dim
    if row != "stimulus":
        _check_rows(model.model_id, da, ids, row, template)
    elif not da.dims or da.dims[0] != "stimulus" or da.sizes["stimulus"] != len(ids):
        raise PluginError(
            f"{model.model_id}: batch result has dims {da.dims} and shape {da.shape}; expected 'stimulus' first with length {len(ids)}"
        )
    if template is not None and (da.dims != template.dims or da.shape[1:] != template.shape[1:]):
        raise PluginError(f"{model.model_id}: batch result shape {da.shape} differs from the first batch's {template.shape}")
    if template is not None and row == "stimulus":
        return da
    labels: dict[str, Any] = {"model_id": model.model_id}
    if model.subject is not None:  # a participant-averaged model's results carry no subject
        labels["subject"] = model.subject if isinstance(model.subject, str) else int(model.subject)
    missing = {k: v for k, v in labels.items() if k not in da.coords}
    return da.assign_coords(missing) if missing else da


def _check_rows(model_id: str, da: xr.DataArray, ids: list[Any], row: str, template: xr.DataArray | None) -> None:
    """The row contract of a ragged model's batch result (see :func:`check_batch_result`)."""
    if not da.dims or da.dims[0] != row or "stimulus" in da.dims:
        raise PluginError(
            f"{model_id}: batch result has dims {da.dims}; expected its rows {row!r} first (the card's first output dim), "
            "with a 'stimulus' coordinate along them"
        )
    stim = da.coords.get("stimulus")
    if stim is None or stim.dims != (row,):
        raise PluginError(f"{model_id}: batch result has no 'stimulus' coordinate along {row!r}; each row must say which stimulus it belongs to")
    per_row = sorted(str(k) for k, c in da.coords.items() if row in c.dims)
    if any(c.dims[0] != row for c in da.coords.values() if row in c.dims):
        raise PluginError(f"{model_id}: per-row coordinates of a batch result must have {row!r} as their first dim")
    if template is not None:
        before = sorted(str(k) for k, c in template.coords.items() if row in c.dims)
        if per_row != before:
            raise PluginError(f"{model_id}: batch result has per-row coordinates {per_row}; the first batch had {before}")
    where = {i: n for n, i in enumerate(ids)}
    where_text = {str(i): n for n, i in enumerate(ids)}
    positions = []
    for value in stim.values.tolist():
        n = where.get(value, where_text.get(str(value)))
        if n is None:
            raise PluginError(f"{model_id}: a row of the batch result belongs to stimulus {value!r}, which is not in this batch {ids[:5]}...")
        positions.append(n)
    if any(b < a for a, b in itertools.pairwise(positions)):
        raise PluginError(f"{model_id}: the rows of a batch result must be grouped by stimulus, in the order of the batch's stimuli")


def _group_by_features(pm: PluginManager, models: list[EncodingModel]) -> list[list[int]]:
    """Indices of models that can share one preprocessing and feature pass.

    Models share when their ``feature_key`` is equal and the same plugins' ``berg_preprocess``
    would prepare their inputs: a plugin overriding it for its models keeps them in a group of
    their own, so its override applies in multi-model runs too.
    """
    groups: dict[Any, list[int]] = {}
    singles: list[list[int]] = []
    for i, m in enumerate(models):
        key = m.feature_key
        if key is None:
            singles.append([i])
        else:
            preparers = tuple(impl.plugin_name for impl in _hook(pm, "berg_preprocess", m).get_hookimpls())
            groups.setdefault((key, preparers), []).append(i)
    return [*groups.values(), *singles]


_AUTOCAST = {"bf16": "bfloat16", "fp16": "float16"}


def _features(model: EncodingModel, x: Any, precision: str) -> Any:
    """The shared backbone's output, under autocast for reduced precision; read-outs get float32."""
    import torch

    if precision == "fp32":
        return model.feature_extractor(x)
    with torch.autocast(device_type=model.device.type, dtype=getattr(torch, _AUTOCAST[precision])):
        feats = model.feature_extractor(x)
    return feats.float()


def _prepares_ahead(model: EncodingModel) -> bool:
    """Whether ``model``'s inputs are prepared in the decoding thread: on an accelerator, not on the CPU."""
    device = getattr(model, "device", None)
    return device is not None and getattr(device, "type", str(device)) != "cpu"


def _hook(pm: PluginManager, name: str, model: EncodingModel) -> Any:
    """``name`` as answered for ``model``: by its owning plugin (in the manager that loaded it), then core."""
    return (getattr(model, "_plugin_manager", None) or pm).model_hook(name, model)


def run_encode(
    pm: PluginManager,
    model: EncodingModel,
    stimuli: Stimuli,
    batch_size: int,
    show_progress: bool,
    sink: ResultSink | None = None,
    skip: int = 0,
) -> Any:
    """Encode ``stimuli`` with ``model`` batch by batch into ``sink`` (memory by default).

    ``skip`` stimuli at the start are not encoded (a resumed run whose sink
    already holds them).
    """
    return run_encode_many(pm, [model], stimuli, batch_size, show_progress, [sink or MemorySink()], skip)[0]


def run_encode_many(
    pm: PluginManager,
    models: list[EncodingModel],
    stimuli: Stimuli,
    batch_size: int,
    show_progress: bool,
    sinks: Sequence[ResultSink],
    skip: int = 0,
    precision: str = "fp32",
    plan: Sequence[tuple[int, int]] | None = None,
) -> list[Any]:
    """Encode ``stimuli`` with several models in one pass over the stimuli.

    Models with the same :attr:`~berg_core.models.base.EncodingModel.feature_key` (for example
    every model on the same backbone, whatever its subject or plugin) share preprocessing and
    the backbone forward pass: each batch is decoded once (ahead, in a background thread, which on
    an accelerator also prepares the inputs and queues their copy to the device), run
    through the backbone once per group, and handed with those features to every model's
    ``berg_encode_batch``.

    Batches follow :func:`~berg_core.engine.batch_plan.plan_batches` (no short tail batch), or
    ``plan``, ``(start, stop)`` offsets into ``stimuli``, when given (a distributed block).
    """
    from berg_core.results.identity import stimulus_fingerprint
    from berg_core.stimuli.kinds import progress_unit
    from berg_core.stimuli.prefetch import prefetch

    groups = _group_by_features(pm, models)
    templates: list[xr.DataArray | None] = [None] * len(models)
    start = skip
    desc = models[0].model_id if len(models) == 1 else f"{len(models)} models"
    from berg_core.engine.batch_plan import batches_from, plan_batches

    # equal-size batches fixed by (n, batch_size): a resumed run cuts the same ones
    steps = batches_from(plan_batches(len(stimuli), batch_size) if plan is None else plan, skip)
    leads = [models[group[0]] for group in groups]
    ahead = [_prepares_ahead(lead) for lead in leads]

    def prepare(batch: Stimuli) -> tuple[Stimuli, list[Any]]:
        batch = batch.decoded()
        # an accelerator computes the batch before while the host prepares (and queues the copy of) this one;
        # on the CPU both would share the same cores, so inputs are prepared when they are used
        return batch, [_hook(pm, "berg_preprocess", lead)(model=lead, stimuli=batch) if early else None
                       for lead, early in zip(leads, ahead, strict=True)]

    batches = prefetch((stimuli[a:b] for a, b in steps), prepare, depth=2)
    # result stores record what each batch's images were, so a resumed run can tell other images apart
    fingerprinted = [bool(getattr(s, "fingerprints", False)) for s in sinks]

    def encode_group(group: list[int], x: Any, feats: Any, batch: Stimuli, start: int, fingerprint: Any) -> None:
        outs = {
            i: _hook(pm, "berg_encode_batch", models[i])(model=models[i], batch=x, stimulus_ids=batch.ids, features=feats)
            for i in group
        }
        for i, da in outs.items():
            da = check_batch_result(models[i], da, batch.ids, templates[i])
            if templates[i] is None:
                templates[i] = da
                sinks[i].begin(da, stimuli.ids)
            if fingerprinted[i]:
                # a sink of ragged rows records which stimuli each batch held (rows do not say it for those without)
                extra = {"ids": batch.ids} if getattr(sinks[i], "takes_ids", False) else {}
                sinks[i].write(start, da, fingerprint=fingerprint, **extra)  # type: ignore[call-arg]
            else:
                sinks[i].write(start, da)

    # the bar counts what the kind's users count: images, clips, sentences, or words (stories differ in length)
    unit = progress_unit(getattr(stimuli, "kind", "images"))
    total, done = stimuli.n_units(), (stimuli[:skip].n_units() if skip else 0)
    with tqdm(total=total, initial=done, unit=unit, desc=desc, disable=not show_progress, leave=False) as bar, \
            OrderedWorker(depth=1) as host:
        for batch, prepared in batches:
            fingerprint = stimulus_fingerprint(batch) if any(fingerprinted) else None
            for group, lead, early, x in zip(groups, leads, ahead, prepared, strict=True):
                if not early:
                    x = _hook(pm, "berg_preprocess", lead)(model=lead, stimuli=batch)
                feats = None if lead.feature_extractor is None else _features(lead, x, precision)
                work = functools.partial(encode_group, group, x, feats, batch, start, fingerprint)
                # on an accelerator, reading out, bringing home and writing this batch overlap the next batch's
                # backbone, queued meanwhile; results and the order of writes are the same
                if early:
                    host.submit(work)
                else:
                    work()
            start += len(batch)
            bar.update(batch.n_units())
        host.finish()
    return [sink.finish() for sink in sinks]
