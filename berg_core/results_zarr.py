"""Encode results written as Zarr, batch by batch, resumable.

``encode(..., store="s3://bucket/run.zarr")`` sends each batch to a
:class:`ZarrResultSink` (a :class:`~berg_core.encoding.ResultSink`). The
target is laid out as xarray writes a Dataset (so ``xarray.open_zarr`` reads
it with every label), plus two berg records:

* ``berg_done`` (``stimulus``, uint8): 1 once a stimulus's responses are written.
  Batches are written in order, so a resumed run skips the leading done stimuli;
* root attributes ``berg_request`` (model, subject, selection, preprocessing,
  number of stimuli) and ``berg_complete``, set last, after the consolidated
  metadata, so a reader never takes a half-written result for a whole one.

A target that already holds a complete result is refused unless
``overwrite=True``; an incomplete one is resumed when the request and the
stimulus ids match, and refused otherwise.

Each group is written by one process at a time: the sink takes the group's
:class:`~berg_core.locks.WriteLock` before it reads the target and gives it
back when the result is complete, when :meth:`ZarrResultSink.abort` is called,
or when the sink is garbage-collected (so at the latest when its process ends).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .errors import BERGError, InvalidParameterError, StoreError
from .locks import WriteLock
from .zarr_store import quiet_zarr, writable_zarr_store

if TYPE_CHECKING:
    from .model import EncodingModel

__all__ = ["DONE_VAR", "ZarrResultSink", "open_result", "request_of", "zarr_result_sinks"]

DONE_VAR = "berg_done"
RESULT_ATTR = "berg_result"
REQUEST_ATTR = "berg_request"
COMPLETE_ATTR = "berg_complete"
VARIABLE_ATTR = "berg_variable"
DEFAULT_VARIABLE = "responses"


def request_of(model: EncodingModel, n_stimuli: int) -> dict[str, Any]:
    """What identifies an encode request for resuming: model, subject, selection, preprocessing, size."""
    attrs = model.base_attrs()
    return {
        "model_id": attrs["model_id"],
        "subject": attrs["subject"],
        "selection": attrs["selection"],
        "preprocessing": attrs["preprocessing"],
        "n_stimuli": int(n_stimuli),
    }


def _target_url(target: str | os.PathLike[str]) -> str:
    if not isinstance(target, (str, os.PathLike)) or not os.fspath(target):
        raise InvalidParameterError(f"store must be a local path or an fsspec URL such as s3://bucket/run.zarr, got {target!r}")
    return os.fspath(target)


def _json_attr(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_attr(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_attr(v) for k, v in value.items()}
    return value


def _ids_array(ids: Sequence[Any]) -> np.ndarray:
    arr = np.asarray(list(ids))
    # text ids as variable-length strings: Zarr v3 has no stable fixed-width text type
    return arr.astype(object) if arr.dtype.kind == "U" else arr


class ZarrResultSink:
    """Writes one model's results into a Zarr group at ``url``.

    Parameters
    ----------
    url
        Local path or fsspec URL of the Zarr group.
    storage_options
        fsspec options for ``url``.
    request
        See :func:`request_of`.
    chunk_stimuli
        Stimuli per chunk (the batch size: each batch then writes whole chunks).
    overwrite
        Replace a complete result found at ``url``.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None,
        request: dict[str, Any],
        chunk_stimuli: int,
        overwrite: bool = False,
    ) -> None:
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.request = request
        self.chunk_stimuli = max(1, int(chunk_stimuli))
        self.overwrite = overwrite
        self._zstore = writable_zarr_store(url, self.storage_options)
        self._lock = WriteLock(url, self.storage_options)
        # an encode that fails gives the lock back when its sink goes away (at the latest at exit)
        weakref.finalize(self, self._lock.release)
        self._resume = False
        self._variable = DEFAULT_VARIABLE
        self._arr: Any = None
        self._done: Any = None

    # ---- before encoding ------------------------------------------------------------------
    def prepare(self, stimulus_ids: Sequence[Any]) -> int:
        """Take the target's write lock and check the target; return how many leading stimuli
        it already holds (0 for a new one).

        Raises
        ------
        StoreError
            Another process writes the target, or it holds a complete result (and ``overwrite``
            is false) or something else.
        InvalidParameterError
            The target holds an incomplete result of a different request.
        """
        # before reading: two writers must never both find the target empty and both create it
        self._lock.acquire()
        try:
            return self._check_target(stimulus_ids)
        except BaseException:
            self._lock.release()
            raise

    def abort(self) -> None:
        """Give the write lock back after a failed encode; what was written stays resumable."""
        self._lock.release()

    def _check_target(self, stimulus_ids: Sequence[Any]) -> int:
        import zarr

        try:
            with quiet_zarr():
                group = zarr.open_group(self._zstore, mode="r", zarr_format=3)
        except (FileNotFoundError, zarr.errors.NodeNotFoundError):
            return 0
        except Exception as exc:
            if _is_missing(exc):
                return 0
            raise StoreError(f"cannot read {self.url}: {type(exc).__name__}: {exc}") from None
        attrs = dict(group.attrs)
        if self.overwrite:
            return 0
        if not attrs.get(RESULT_ATTR):
            raise StoreError(f"{self.url} already holds a Zarr group that is not a berg result; choose another target or pass overwrite=True")
        if attrs.get(COMPLETE_ATTR):
            raise StoreError(f"{self.url} already holds a complete result of {attrs.get(REQUEST_ATTR)}; pass overwrite=True to replace it")
        stored = attrs.get(REQUEST_ATTR)
        if stored != self.request:
            diff = {k: (stored.get(k) if isinstance(stored, dict) else None, v) for k, v in self.request.items()
                    if not isinstance(stored, dict) or stored.get(k) != v}
            raise InvalidParameterError(
                f"{self.url} holds an unfinished result of a different request, so it cannot be resumed; "
                f"differences (stored, requested): {diff}. Pass overwrite=True to start over, or choose another target"
            )
        self._variable = str(attrs.get(VARIABLE_ATTR, DEFAULT_VARIABLE))
        stored_ids: Any = group["stimulus"]
        ids = np.asarray(stored_ids[...]).tolist()
        wanted = _ids_array(stimulus_ids).tolist()
        if [str(i) for i in ids] != [str(i) for i in wanted]:
            raise InvalidParameterError(
                f"{self.url} holds an unfinished result for other stimuli (same model and selection, but the "
                "stimulus ids differ), so it cannot be resumed; pass overwrite=True or choose another target"
            )
        done_array: Any = group[DONE_VAR]
        done = np.asarray(done_array[...], dtype=bool)
        self._resume = True
        return int(done.size if done.all() else np.argmin(done))

    # ---- the sink -------------------------------------------------------------------------
    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        if self._resume:
            self._open_arrays()
            if tuple(self._arr.shape[1:]) != tuple(template.shape[1:]):
                raise InvalidParameterError(
                    f"{self.url} holds responses of shape {self._arr.shape}, but this model gives {template.shape[1:]} per stimulus"
                )
            return
        import dask.array as da

        self._variable = str(template.name or DEFAULT_VARIABLE)
        n = len(stimulus_ids)
        chunks = (self.chunk_stimuli, *template.shape[1:])
        coords = {k: v.variable for k, v in template.coords.items() if "stimulus" not in v.dims}
        coords["stimulus"] = ("stimulus", _ids_array(stimulus_ids))
        data = xr.Variable(template.dims, da.zeros((n, *template.shape[1:]), dtype=template.dtype, chunks=chunks),
                           attrs=_json_attr(dict(template.attrs)))
        done = xr.Variable(("stimulus",), da.zeros(n, dtype=np.uint8, chunks=self.chunk_stimuli))
        ds = xr.Dataset({self._variable: data, DONE_VAR: done}, coords=coords)
        for name in list(ds.coords):
            if ds[name].dtype.kind == "U":
                ds[name] = ds[name].astype(object)
        ds.attrs = {RESULT_ATTR: 1, REQUEST_ATTR: self.request, COMPLETE_ATTR: False, VARIABLE_ATTR: self._variable}
        try:
            with quiet_zarr():
                ds.to_zarr(self._zstore, mode="w", compute=False, zarr_format=3, consolidated=True,
                           encoding={self._variable: {"chunks": chunks}, DONE_VAR: {"chunks": (self.chunk_stimuli,)}})
        except BERGError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot write {self.url}: {type(exc).__name__}: {exc}") from None
        self._open_arrays()

    def _open_arrays(self) -> None:
        import zarr

        with quiet_zarr():
            group = zarr.open_group(self._zstore, mode="r+", zarr_format=3)
        self._arr = group[self._variable]
        self._done = group[DONE_VAR]

    def write(self, start: int, batch: xr.DataArray) -> None:
        stop = start + batch.shape[0]
        try:
            self._arr[start:stop] = np.asarray(batch.values, dtype=self._arr.dtype)
            # after the data: a stimulus marked done is always fully written
            self._done[start:stop] = 1
        except Exception as exc:
            raise StoreError(f"cannot write batch {start}-{stop} to {self.url}: {type(exc).__name__}: {exc}") from None

    def finish(self) -> xr.DataArray:
        import zarr

        try:
            with quiet_zarr():
                zarr.consolidate_metadata(self._zstore)
                group = zarr.open_group(self._zstore, mode="r+", zarr_format=3, use_consolidated=True)
                # last: only now does a reader see a complete result
                group.attrs[COMPLETE_ATTR] = True
        except Exception as exc:
            raise StoreError(f"cannot finish {self.url}: {type(exc).__name__}: {exc}") from None
        finally:
            self._lock.release()
        return open_result(self._zstore, source=self.url)


def _is_missing(exc: Exception) -> bool:
    name = type(exc).__name__
    return isinstance(exc, (FileNotFoundError, KeyError)) or "NotFound" in name or "NodeType" in name


def open_result(zstore: Any, source: str = "<zarr>", require_complete: bool = True) -> xr.DataArray:
    """The labelled result stored in a Zarr group, opened lazily (dask-backed).

    Raises
    ------
    StoreError
        Nothing readable is there, or the result is incomplete (with ``require_complete``).
    """
    import zarr

    try:
        with quiet_zarr():
            group = zarr.open_group(zstore, mode="r", zarr_format=3)
            attrs = dict(group.attrs)
            if not attrs.get(RESULT_ATTR):
                raise StoreError(f"{source} is not a berg result (no {RESULT_ATTR!r} attribute)")
            if require_complete and not attrs.get(COMPLETE_ATTR):
                raise StoreError(f"{source} holds an unfinished result (an interrupted encode); resume it with encode(..., store=...)")
            ds = xr.open_zarr(zstore, consolidated=True, zarr_format=3)
    except BERGError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot open the result at {source}: {type(exc).__name__}: {exc}") from None
    var = str(attrs.get(VARIABLE_ATTR, DEFAULT_VARIABLE))
    out = ds[var]
    # text labels come back as variable-length strings; encode gives NumPy '<U' arrays
    text = {name: (c.dims, np.array(c.values.tolist(), dtype=str), c.attrs) for name, c in out.coords.items() if c.dtype.kind in "OT"}
    return out.assign_coords(text) if text else out


def zarr_result_sinks(
    target: str | os.PathLike[str],
    storage_options: dict[str, Any] | None,
    models: Sequence[EncodingModel],
    labels: Sequence[str] | None,
    stimulus_ids: Sequence[Any],
    chunk_stimuli: int,
    overwrite: bool = False,
) -> tuple[list[ZarrResultSink], int]:
    """Sinks for ``encode(..., store=target)`` and the number of stimuli to skip.

    One model writes the group at ``target``; several write one group each,
    at ``target/<label>`` (labels as in ``encode``'s dict result).
    """
    url = _target_url(target).rstrip("/")
    if labels is None:
        urls = [url]
    else:
        urls = [f"{url}/{label.replace('#', '-')}" for label in labels]
    sinks = [ZarrResultSink(u, storage_options, request_of(m, len(stimulus_ids)), chunk_stimuli, overwrite) for u, m in zip(urls, models, strict=True)]
    skips: list[int] = []
    try:
        for s in sinks:
            skips.append(s.prepare(stimulus_ids))
    except BaseException:
        for s in sinks:
            s.abort()
        raise
    return sinks, min(skips)
