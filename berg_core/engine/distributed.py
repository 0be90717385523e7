"""Encoding on a Dask distributed cluster.

Stimulus blocks are tasks. Each worker process rebuilds the models it is sent
from their :class:`~berg_core.engine.factory.ModelFactory` once (then reuses
them for every block) with the calling ``BERG``'s plugins and store settings
(a plugin registered by hand, a cache folder), encodes
its block and writes its region of the shared Zarr result directly, so no
responses travel back through the scheduler. The client creates the result
(from the first batch, encoded locally), waits for the blocks and marks it
complete, exactly as a local run does.

Works with any ``distributed.Client``: a ``LocalCluster``, dask-jobqueue on
HPC (SLURM, PBS...) or dask-kubernetes in the cloud. The workers must reach the
model store and the output store (a shared filesystem or object storage) and
the stimuli (arrays are shipped with the task; file paths must be readable
where the workers run).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.errors import InvalidParameterError

if TYPE_CHECKING:
    import xarray as xr

    from berg_core.engine.factory import ModelFactory
    from berg_core.models.base import EncodingModel
    from berg_core.registry.manager import PluginManager
    from berg_core.stimuli.inputs import Stimuli

__all__ = ["encode_distributed"]


class _RegionSink:
    """Writes one block's batches into the shared Zarr result at an offset, recording each as done."""

    fingerprints = True

    def __init__(self, url: str, storage_options: dict[str, Any], offset: int) -> None:
        import zarr

        from berg_core.results.zarr_sink import DEFAULT_VARIABLE, VARIABLE_ATTR
        from berg_core.store.zarr_store import quiet_zarr, writable_zarr_store

        with quiet_zarr():
            group: Any = zarr.open_group(writable_zarr_store(url, storage_options), mode="r+", zarr_format=3)
        self._arr = group[str(group.attrs.get(VARIABLE_ATTR, DEFAULT_VARIABLE))]
        self._url = url
        self._storage_options = storage_options
        self._offset = offset

    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        pass

    def write(self, start: int, batch: xr.DataArray, fingerprint: str | None = None) -> None:
        from berg_core.results.zarr_sink import write_done

        a = self._offset + start
        b = a + batch.shape[0]
        self._arr[a:b] = np.asarray(batch.values, dtype=self._arr.dtype)
        write_done(self._url, self._storage_options, a, b, fingerprint)

    def finish(self) -> int:
        return 0


class _RowsSink:
    """Keeps a ragged model's batches of one block, to be returned to the client, which appends them in order.

    A ragged result's rows are known only once encoded, so workers cannot write them at an offset.
    """

    fingerprints = True
    takes_ids = True

    def __init__(self, offset: int) -> None:
        self._offset = offset
        self.batches: list[tuple[int, Any, str | None, list[Any]]] = []

    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        pass

    def write(self, start: int, batch: xr.DataArray, fingerprint: str | None = None, ids: list[Any] | None = None) -> None:
        self.batches.append((self._offset + start, batch.load(), fingerprint, list(ids or [])))

    def finish(self) -> int:
        return 0


class _NullSink:
    """For a group that is complete already: its batches are dropped."""

    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        pass

    def write(self, start: int, batch: xr.DataArray) -> None:
        pass

    def finish(self) -> int:
        return 0


def _encode_block(
    factories: list[ModelFactory], urls: list[str | None], storage_options: dict[str, Any], block: Stimuli, offset: int,
    batch_size: int, precision: str, plan: list[tuple[int, int]] | None = None, ragged: list[bool] | None = None,
) -> tuple[int, list[Any]]:
    """Worker task: encode one block of stimuli and write it into the result stores.

    Returns the block's progress units (images, clips, sentences or words) and, per model, the batches
    of a ragged model (``None`` for the others, written here), which the client appends in block order.
    """
    from berg_core.engine.encoding import run_encode_many

    models = [f.shared() for f in factories]
    flags = ragged or [False] * len(urls)
    sinks: list[Any] = [_NullSink() if u is None else _RowsSink(offset) if r else _RegionSink(u, storage_options, offset)
                        for u, r in zip(urls, flags, strict=True)]
    # each model's hooks go to its own plugin, in the manager its factory rebuilt
    run_encode_many(models[0]._plugin_manager, models, block, batch_size, False, sinks, precision=precision,  # type: ignore[arg-type]
                    plan=plan)
    return block.n_units(), [s.batches if isinstance(s, _RowsSink) else None for s in sinks]


def encode_distributed(
    client: Any,
    pm: PluginManager,
    models: list[EncodingModel],
    stimuli: Stimuli,
    sinks: list[Any],
    skip: int,
    batch_size: int,
    show_progress: bool,
    precision: str = "fp32",
    block_size: int | None = None,
) -> list[Any]:
    """Encode on ``client``'s cluster into Zarr ``sinks`` (see :func:`berg_core.results.zarr_sink.zarr_result_sinks`)."""
    from tqdm.auto import tqdm

    from berg_core.engine.encoding import run_encode_many

    factories = [m.factory for m in models]
    if any(f is None for f in factories):
        raise InvalidParameterError("distributed encoding needs models made by BERG.get_encoding_model (they carry how to rebuild them)")
    # a ragged model's rows are known only once encoded: workers send them back, the client appends them in order
    ragged = [bool(getattr(getattr(m, "card", None), "ragged", False)) for m in models]
    from berg_core.engine.batch_plan import batches_from, plan_batches

    n = len(stimuli)
    # the batches a local run cuts: the same boundaries give the same values, bit for bit
    steps = list(batches_from(plan_batches(n, batch_size), skip))
    if steps:
        # the first batch runs here: it creates the result stores with their final labels
        first = stimuli[: steps[0][1]]
        deferred = [_Deferred(s, stimuli.ids) for s in sinks]
        run_encode_many(pm, models, first, batch_size, False, deferred, skip=skip, precision=precision, plan=steps[:1])
    start = steps[0][1] if steps else n
    if block_size is None:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        block_size = max(batch_size, math.ceil((n - start) / (4 * workers) / batch_size) * batch_size)
    elif block_size < 1:
        raise InvalidParameterError(f"block_size must be a positive number of stimuli, got {block_size}")
    # whole batches of the plan per block, so batch boundaries match a local run's exactly
    block_size = math.ceil(block_size / batch_size) * batch_size
    blocks: list[list[tuple[int, int]]] = []
    for a, b in steps[1:]:
        if blocks and blocks[-1][-1][1] - blocks[-1][0][0] < block_size:
            blocks[-1].append((a, b))
        else:
            blocks.append([(a, b)])
    # groups already complete (a resumed multi-model run) are not written again
    urls = [None if getattr(s, "complete", False) else s.url for s in sinks]
    storage_options = sinks[0].storage_options if sinks else {}
    futures = [
        client.submit(_encode_block, factories, urls, storage_options, stimuli[blk[0][0] : blk[-1][1]], blk[0][0], batch_size,
                      precision, [(a - blk[0][0], b - blk[0][0]) for a, b in blk], ragged, pure=False)
        for blk in blocks
    ]
    order = {fut.key: i for i, fut in enumerate(futures)}
    waiting: dict[int, list[Any]] = {}
    appended = 0
    from distributed import as_completed

    from berg_core.stimuli.kinds import progress_unit

    unit = progress_unit(getattr(stimuli, "kind", "images"))
    with tqdm(total=stimuli.n_units(), initial=stimuli[:start].n_units(), unit=unit, desc=f"{len(models)} model(s) on dask",
              disable=not show_progress, leave=False) as bar:
        for fut in as_completed(futures):
            units, rows = fut.result()
            bar.update(units)
            waiting[order[fut.key]] = rows
            # ragged rows go in in stimulus order: each block once every block before it is in
            while appended in waiting:
                for sink, batches in zip(sinks, waiting.pop(appended), strict=True):
                    for start, batch, fingerprint, ids in batches or []:
                        sink.write(start, batch, fingerprint=fingerprint, ids=ids)
                appended += 1
    return [s.finish() for s in sinks]


class _Deferred:
    """A sink for the first batch: creates the store for all stimuli, leaves finishing for later."""

    fingerprints = True
    takes_ids = True

    def __init__(self, sink: Any, all_ids: list[Any]) -> None:
        self._sink = sink
        self._ids = all_ids

    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        self._sink.begin(template, self._ids)

    def write(self, start: int, batch: xr.DataArray, fingerprint: str | None = None, ids: list[Any] | None = None) -> None:
        self._sink.write(start, batch, fingerprint=fingerprint, ids=ids)

    def finish(self) -> None:
        return None
