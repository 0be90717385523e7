"""Encode results written as Zarr, batch by batch, resumable.

``encode(..., store="s3://bucket/run.zarr")`` sends each batch to a
:class:`ZarrResultSink` (a :class:`~berg_core.engine.encoding.ResultSink`). A result
is an ordinary Zarr v3 group laid out as xarray writes a Dataset: the response
variable and its coordinates, nothing else, so ``xarray.open_zarr`` reads it
with every label and ``.to_netcdf()`` writes it (every attribute is a string,
a number or a list of them). Its attributes ``berg_result`` (1) and
``berg_complete`` (0, then 1 once the last batch and the metadata are
written) mark it as berg's. berg's bookkeeping lives in the group's ``.berg``
folder, which is no Zarr node (xarray and Zarr never see it):

* ``.berg/request.json``: everything that determines the values (see
  :func:`request_of`), written before anything else, so a group whose creation
  was interrupted is still recognised as berg's and redone;
* ``.berg/done/<start>.json``: one record per finished batch (its stimuli, a
  fingerprint of its decoded images, and for a ragged result the rows it
  appended and its stimulus ids), written after the batch's data.

A ragged model (rows along its card's first output dim, as many per
stimulus as it gives: a story's TRs, a podcast's words) is appended: every
array along the row dim (the responses, the ``stimulus`` coordinate and the
other per-row coordinates such as ``time``) is resizable along it, each
batch grows them, and its record says which rows it wrote. Resuming cuts
every such array back to the rows of the finished batches, so rows of a
batch that was cut short are never kept; until the result is complete, its
``berg_complete`` attribute stays 0.

Several models (or a call into a store that already holds several) write one
group each at ``<store>/<model_id>/subject-SS``; every level above results is
a Zarr group too (attribute ``berg_store``), so ``xarray.open_datatree`` opens
the whole store. A target that holds anything berg did not write is refused
(:mod:`berg_core.results.layout`); a complete result is refused unless
``overwrite=True``, which replaces only the groups the call writes; an
incomplete one is resumed only if it is the same computation (same request,
same stimulus ids, and the finished batches' images re-decode to the same
fingerprints), and refused otherwise with the differences.

Each group is written by one process at a time: the sink takes the group's
:class:`~berg_core.results.locks.WriteLock` (keyed on the resolved location) before it
reads the target and gives it back when the result is complete, when
:meth:`ZarrResultSink.abort` is called, or when the sink is garbage-collected.
The layout of a store (one result at the root, or groups below it) is decided
under the root's lock, so a single-model call and a multi-model call never
both write one root.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from berg_core.errors import BERGError, InvalidParameterError, StoreError
from berg_core.results import layout as lay
from berg_core.results.identity import stimulus_fingerprint, weights_fingerprint
from berg_core.results.locks import WriteLock
from berg_core.store.zarr_store import quiet_zarr, writable_zarr_store

if TYPE_CHECKING:
    from berg_core.models.base import EncodingModel
    from berg_core.stimuli.inputs import Stimuli

__all__ = ["CompleteResultError", "ZarrResultSink", "netcdf_attrs", "open_result", "request_of", "result_state", "zarr_result_sinks"]

RESULT_ATTR = lay.RESULT_ATTR
COMPLETE_ATTR = "berg_complete"
VARIABLE_ATTR = "berg_variable"
#: a ragged result's row dim (``tr``, ``word``...), as a group attribute
ROWS_ATTR = "berg_rows"
#: rows per chunk of a ragged result's per-row coordinates; its responses get about ROW_CHUNK_BYTES per chunk
ROW_CHUNK_COORDS = 4096
ROW_CHUNK_BYTES = 4 << 20
DEFAULT_VARIABLE = "responses"
#: Version of the result layout, recorded in each request (1: records inside the dataset).
LAYOUT_VERSION = 2
#: how a refused resume names the stimuli of each kind and what differs in them
_CONTENT = {"images": ("images", "pixels"), "video": ("clips", "frames"), "sentences": ("sentences", "texts"),
            "timed_words": ("stories", "words or times")}
_log = logging.getLogger("berg_core.results.zarr_sink")


class CompleteResultError(StoreError):
    """The target already holds the complete result asked for (``overwrite=True`` replaces it).

    A subclass so that callers that treat "already done" as success (``berg encode`` re-run) can
    tell it from every other refusal without reading the message.
    """


def request_of(model: EncodingModel, n_stimuli: int, batch_size: int | None = None, precision: str = "fp32") -> dict[str, Any]:
    """What determines a result's values, recorded with it and compared on resume.

    Model, subject, selection, preprocessing, the other load options, the store the
    weights come from (``berg_dir``) and a digest of the weights themselves (so
    ``backbone_weights=`` files are compared by content, not by path), precision,
    batch size (batches are the unit of resuming) and the number of stimuli.
    """
    attrs = model.base_attrs()
    spec = getattr(model, "spec", None)
    options = {k: v for k, v in dict(getattr(spec, "options", None) or {}).items() if k != "backbone_weights"}
    card = getattr(model, "card", None)
    # a ragged model's rows: recorded (only for them, so the requests of earlier results still compare equal)
    rows = {"rows": card.row_dim} if card is not None and card.ragged else {}
    return {
        **rows,
        "layout": LAYOUT_VERSION,
        "model_id": attrs["model_id"],
        "subject": attrs.get("subject"),
        "selection": attrs["selection"],
        "preprocessing": attrs["preprocessing"],
        "options": json.dumps(options, sort_keys=True, default=repr),
        "berg_dir": str(getattr(model.store, "url", "")),
        "weights": weights_fingerprint(model),
        "precision": str(precision),
        "batch_size": None if batch_size is None else int(batch_size),
        "n_stimuli": int(n_stimuli),
    }


def _target_url(target: str | os.PathLike[str]) -> str:
    if not isinstance(target, (str, os.PathLike)) or not os.fspath(target) or not os.fspath(target).strip():
        raise InvalidParameterError(f"store must be a local path or an fsspec URL such as s3://bucket/run.zarr, got {target!r}")
    return os.fspath(target)


def _netcdf_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim <= 1:
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    # nested structures: netCDF attributes hold strings, numbers and flat lists only
    return json.dumps(value, sort_keys=True, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else repr(o))


def netcdf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` with every value a string, a number or a flat list of them (``None`` dropped)."""
    return {str(k): _netcdf_value(v) for k, v in attrs.items() if v is not None}


def _ids_array(ids: Sequence[Any]) -> np.ndarray:
    arr = np.asarray(list(ids))
    # text ids as variable-length strings: Zarr v3 has no stable fixed-width text type
    return arr.astype(object) if arr.dtype.kind == "U" else arr


def _described(request: dict[str, Any]) -> str:
    """``model subject S`` (``model`` alone for a participant-averaged model), for messages and the group's attrs."""
    subject = request.get("subject")
    return f"{request.get('model_id')}" + ("" if subject is None else f" subject {subject}")


def _one_row(template: xr.DataArray, row: str, ids: Sequence[Any] = ()) -> xr.DataArray:
    """A one-row result of ``template``'s types (zeros, empty text; ``stimulus`` of the ids' type), for a result
    no stimulus gave a row."""
    def filler(name: Any, c: Any) -> np.ndarray:
        shape = (1, *c.shape[1:])
        kind = _ids_array(ids[:1]).dtype if name == "stimulus" and len(ids) else c.dtype
        return np.full(shape, "", dtype=object) if kind.kind in "UO" else np.zeros(shape, dtype=kind)

    coords = {k: v.variable for k, v in template.coords.items() if row not in v.dims}
    coords.update({k: (v.dims, filler(k, v)) for k, v in template.coords.items() if row in v.dims})
    return xr.DataArray(np.zeros((1, *template.shape[1:]), dtype=template.dtype), dims=template.dims, coords=coords,
                        attrs=dict(template.attrs), name=template.name)


def _done_name(start: int) -> str:
    return f"{lay.DONE_DIR}/{start:012d}.json"


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
        Replace a result found at ``url`` (berg's own nodes only).
    lock
        A lock the caller already holds for ``url`` (it then passes to the sink).
    """

    #: ``write`` takes the fingerprint of each batch's images
    fingerprints = True
    #: ``write`` takes each batch's stimulus ids (``ids=``)
    takes_ids = True

    def __init__(
        self,
        url: str | lay.Location,
        storage_options: dict[str, Any] | None,
        request: dict[str, Any],
        chunk_stimuli: int,
        overwrite: bool = False,
        lock: WriteLock | None = None,
    ) -> None:
        self.storage_options = dict(storage_options or {})
        self.loc = url if isinstance(url, lay.Location) else lay.location(_target_url(url), self.storage_options)
        self.url = self.loc.url
        self.request = request
        self.chunk_stimuli = max(1, int(chunk_stimuli))
        self.overwrite = overwrite
        self._zstore: Any = None
        self._lock = lock or WriteLock(self.url, self.storage_options)
        # an encode that fails gives the lock back when its sink goes away (at the latest at exit)
        weakref.finalize(self, self._lock.release)
        self._resume = False
        #: a complete result of this very computation, kept as it is (a multi-model run resumed
        #: after some of its groups were finished)
        self.complete = False
        #: whether such a complete result is kept instead of refused (set for groups of a store of several)
        self.keep_complete = False
        #: fingerprints of stimulus ranges already decoded again, shared by the groups of one call
        self.fingerprint_memo: dict[tuple[int, int], str] = {}
        self._variable = DEFAULT_VARIABLE
        self._arr: Any = None
        #: a ragged result's row dim (``None``: one entry per stimulus), its arrays along it and rows written
        self.rows_dim: str | None = request.get("rows")
        self._row_arrays: dict[str, Any] = {}
        self._rows = 0
        self._resume_rows = 0
        #: a ragged result whose batches so far had no rows: created once one has (or, empty, at the end)
        self._pending: xr.DataArray | None = None
        self._stimulus_ids: list[Any] = []
        #: called after the group is created and after it is complete (a store of several results
        #: refreshes its root's consolidated metadata, so readers never see a group's old version)
        self.on_change: Callable[[], None] | None = None

    @property
    def zstore(self) -> Any:
        if self._zstore is None:
            self._zstore = writable_zarr_store(self.url, self.storage_options)
        return self._zstore

    # ---- before encoding ------------------------------------------------------------------
    def prepare(self, stimuli: Stimuli | Sequence[Any]) -> int:
        """Take the target's write lock and check the target; return how many leading stimuli
        it already holds (0 for a new one).

        Raises
        ------
        StoreError
            Another process writes the target, it holds a complete result (and ``overwrite``
            is false), or files berg did not write.
        InvalidParameterError
            The target holds an incomplete result of another computation.
        """
        # before reading: two writers must never both find the target empty and both create it
        _make_parent(self.loc)
        self._lock.acquire()
        try:
            return self._check_target(stimuli)
        except BaseException:
            self._lock.release()
            raise

    def abort(self) -> None:
        """Give the write lock back after a failed encode; what was written stays resumable."""
        self._lock.release()

    def _check_target(self, stimuli: Any) -> int:
        kind, names, attrs = lay.inspect(self.loc)
        if kind == lay.FOREIGN:
            raise StoreError(lay.describe_foreign(self.loc, names))
        if kind == lay.CONTAINER:
            raise StoreError(
                f"{self.url} holds several berg results (groups {', '.join(n for n in names if n != 'zarr.json')}); "
                "give the store's root folder to write one model into it, or choose another store"
            )
        complete = kind in (lay.RESULT, lay.LEGACY) and bool(attrs.get(COMPLETE_ATTR))
        if complete and not self.overwrite and kind == lay.RESULT:
            # "already done" only for the same computation: same request, weights and stimulus pixels
            try:
                skip = self._resumable(stimuli, attrs)
            except InvalidParameterError as exc:
                message = f"{exc}".replace("an unfinished result", "a complete result")
                raise StoreError(message.replace(", so it cannot be resumed", "")) from None
            if skip == len(stimuli):
                if self.keep_complete:  # one group of a multi-model run: the others may still need work
                    self.complete = True
                    return skip
                raise CompleteResultError(
                    f"{self.url} already holds the complete result of this computation "
                    f"({attrs.get('berg_model', '?')}, same weights and stimuli); "
                    "pass overwrite=True (berg encode --overwrite) to encode it again"
                )
        if complete and not self.overwrite:
            # a result of the first layout keeps no fingerprints: whether it is this computation cannot be told
            raise StoreError(
                f"{self.url} already holds a complete result of {attrs.get('berg_model', attrs.get('berg_request', '?'))}, "
                "whose computation cannot be compared with this one; pass overwrite=True (berg encode --overwrite) to replace it"
            )
        if kind == lay.LEGACY and not self.overwrite:
            raise StoreError(
                f"{self.url} holds an unfinished result written by an earlier berg (resume records inside the dataset), "
                "which cannot be resumed; pass overwrite=True (berg encode --overwrite) to encode it again"
            )
        if kind == lay.RESULT and not self.overwrite:
            skip = self._resumable(stimuli, attrs)
            if skip:
                return skip
        if kind != lay.ABSENT:
            lay.clear_result(self.loc, names)
        # first: from here on the folder is recognisably berg's, whatever happens next
        self.loc.write_json(lay.REQUEST_FILE, self.request)
        return 0

    def _done_records(self) -> list[dict[str, Any]]:
        """The finished batches that follow each other from the first stimulus on."""
        names = self.loc.child(lay.DONE_DIR).names() or []
        by_start = {}
        for name in names:
            rec = self.loc.read_json(f"{lay.DONE_DIR}/{name}")
            if isinstance(rec, dict) and isinstance(rec.get("start"), int) and isinstance(rec.get("stop"), int):
                by_start[rec["start"]] = rec
        out, start = [], 0
        while start in by_start and by_start[start]["stop"] > start:
            out.append(by_start[start])
            start = by_start[start]["stop"]
        return out

    def _resumable(self, stimuli: Any, attrs: dict[str, Any]) -> int:
        """How many leading stimuli the unfinished result holds for this very computation (0: start over)."""
        stored = self.loc.read_json(lay.REQUEST_FILE)
        done = self._done_records()
        if not isinstance(stored, dict) or not done:
            return 0  # its creation was interrupted before any batch was finished: nothing to keep
        wanted = json.loads(json.dumps(self.request, default=str))
        changed = [f"{k}: {stored.get(k)!r} then, {v!r} now" for k, v in wanted.items() if stored.get(k) != v]
        if changed:
            raise InvalidParameterError(
                f"{self.url} holds an unfinished result of a different request, so it cannot be resumed; what differs: "
                + "; ".join(changed)
                + ". Pass overwrite=True (berg encode --overwrite) to start over, or choose another store"
            )
        import zarr

        ids = list(stimuli.ids) if hasattr(stimuli, "ids") else list(stimuli)
        try:
            with quiet_zarr():
                # not the consolidated metadata: a ragged result's arrays grew after it was written
                group = zarr.open_group(self.zstore, mode="r", zarr_format=3, use_consolidated=False)
                self._variable = str(group.attrs.get(VARIABLE_ATTR, DEFAULT_VARIABLE))
                held = None if self.rows_dim else np.asarray(group["stimulus"][...]).tolist()  # type: ignore[index]
        except Exception as exc:
            raise StoreError(
                f"{self.url} holds an unfinished result that cannot be read ({type(exc).__name__}: {exc}); "
                "pass overwrite=True (berg encode --overwrite) to encode it again"
            ) from None
        given = [str(i) for i in _ids_array(ids).tolist()]
        if self.rows_dim:
            # the rows hold no entry for a stimulus without rows: each finished batch recorded its ids and rows
            whole = all(isinstance(r.get("ids"), list) and isinstance(r.get("rows"), list) and len(r["rows"]) == 2 for r in done)
            recorded = [str(i) for r in done for i in r["ids"]] if whole else None
            same = recorded is not None and len(recorded) == done[-1]["stop"] and recorded == given[: len(recorded)]
        else:
            same = [str(i) for i in (held or [])] == given
        if not same:
            raise InvalidParameterError(
                f"{self.url} holds an unfinished result for other stimuli (same model and selection, but the "
                "stimulus ids differ), so it cannot be resumed; pass overwrite=True (berg encode --overwrite) or choose another store"
            )
        if hasattr(stimuli, "ids"):
            # same ids are not the same images: the finished batches are decoded again and compared
            noun, content = _CONTENT.get(getattr(stimuli, "kind", "images"), ("stimuli", "content"))
            for rec in done:
                key = (rec["start"], rec["stop"])
                if key not in self.fingerprint_memo:
                    self.fingerprint_memo[key] = stimulus_fingerprint(stimuli[key[0] : key[1]])
                if self.fingerprint_memo[key] != rec.get("fingerprint"):
                    raise InvalidParameterError(
                        f"{self.url} holds an unfinished result whose stimuli {rec['start']}-{rec['stop'] - 1} "
                        f"(first id {ids[rec['start']]!r}) were other {noun} than the ones given now (same ids, "
                        f"other {content}), so it cannot be resumed; pass overwrite=True (berg encode --overwrite) to start over"
                    )
        self._resume = True
        if self.rows_dim:
            self._resume_rows = int(done[-1]["rows"][1])
        return int(done[-1]["stop"])

    # ---- the sink -------------------------------------------------------------------------
    def begin(self, template: xr.DataArray, stimulus_ids: list[Any]) -> None:
        if self.complete:
            return
        if self._resume:
            self._open_arrays()
            if tuple(self._arr.shape[1:]) != tuple(template.shape[1:]):
                raise InvalidParameterError(
                    f"{self.url} holds responses of shape {self._arr.shape}, but this model gives {template.shape[1:]} per stimulus"
                )
            if self.rows_dim:
                self._truncate(self._resume_rows)
            return
        if self.rows_dim:
            self._stimulus_ids = list(stimulus_ids)
            if template.sizes[template.dims[0]]:
                self._begin_rows(template)
            else:
                # the types of per-row coordinates are known from a batch with rows: created with the first one
                self._pending = template
            return
        import dask.array as da

        self._variable = str(template.name or DEFAULT_VARIABLE)
        n = len(stimulus_ids)
        chunks = (self.chunk_stimuli, *template.shape[1:])
        coords = {k: v.variable for k, v in template.coords.items() if "stimulus" not in v.dims}
        coords["stimulus"] = ("stimulus", _ids_array(stimulus_ids))
        data = xr.Variable(template.dims, da.zeros((n, *template.shape[1:]), dtype=template.dtype, chunks=chunks),
                           attrs=netcdf_attrs(dict(template.attrs)))
        ds = xr.Dataset({self._variable: data}, coords=coords)
        for name in list(ds.coords):
            if ds[name].dtype.kind == "U":
                ds[name] = ds[name].astype(object)
        ds.attrs = {RESULT_ATTR: 1, COMPLETE_ATTR: 0, VARIABLE_ATTR: self._variable,
                    "berg_model": _described(self.request)}
        try:
            with quiet_zarr():
                ds.to_zarr(self.zstore, mode="a", compute=False, zarr_format=3, consolidated=True,
                           encoding={self._variable: {"chunks": chunks}})
        except BERGError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot write {self.url}: {type(exc).__name__}: {exc}") from None
        if self.on_change is not None:
            self.on_change()
        self._open_arrays()

    def _begin_rows(self, template: xr.DataArray) -> None:
        """Create a ragged result: every array along the row dim resizable, and empty."""
        row = str(template.dims[0])
        self._variable = str(template.name or DEFAULT_VARIABLE)
        # one row of the right types (the first batch may have none): written, then cut to zero rows
        pattern = template.isel({row: [0]}) if template.sizes[row] else _one_row(template, row)
        ds = pattern.to_dataset(name=self._variable)
        ds[self._variable].attrs = netcdf_attrs(dict(template.attrs))
        for name in list(ds.coords):
            if ds[name].dtype.kind in "UO":
                ds[name] = ds[name].astype(str).astype(object)
        per_row = [str(k) for k in ds.variables if row in ds[k].dims]
        row_bytes = max(1, int(np.prod(template.shape[1:], dtype=np.int64)) * template.dtype.itemsize)
        encoding = {name: {"chunks": (ROW_CHUNK_COORDS, *ds[name].shape[1:])} for name in per_row if name != self._variable}
        encoding[self._variable] = {"chunks": (max(1, min(ROW_CHUNK_COORDS, ROW_CHUNK_BYTES // row_bytes)), *template.shape[1:])}
        ds.attrs = {RESULT_ATTR: 1, COMPLETE_ATTR: 0, VARIABLE_ATTR: self._variable, ROWS_ATTR: row,
                    "berg_model": _described(self.request)}
        try:
            with quiet_zarr():
                ds.to_zarr(self.zstore, mode="a", zarr_format=3, consolidated=True, encoding=encoding)
        except BERGError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot write {self.url}: {type(exc).__name__}: {exc}") from None
        self._open_arrays()
        self._truncate(0)
        try:
            import zarr

            with quiet_zarr():  # readers of the unfinished group then see its arrays empty, not with the pattern row
                zarr.consolidate_metadata(self.zstore)
        except Exception as exc:
            raise StoreError(f"cannot write {self.url}: {type(exc).__name__}: {exc}") from None
        if self.on_change is not None:
            self.on_change()

    def _truncate(self, rows: int) -> None:
        """Cut every array along the row dim to ``rows`` (rows of an unfinished batch are dropped)."""
        try:
            with quiet_zarr():
                for arr in self._row_arrays.values():
                    if arr.shape[0] != rows:
                        arr.resize((rows, *arr.shape[1:]))
        except Exception as exc:
            raise StoreError(f"cannot resize the arrays of {self.url}: {type(exc).__name__}: {exc}") from None
        self._rows = rows

    def _open_arrays(self) -> None:
        import zarr

        with quiet_zarr():
            group = zarr.open_group(self.zstore, mode="r+", zarr_format=3, use_consolidated=False)
            self._arr = group[self._variable]
            if self.rows_dim:
                self._row_arrays = {
                    name: arr for name, arr in group.arrays()
                    if tuple(getattr(arr.metadata, "dimension_names", None) or ())[:1] == (self.rows_dim,)
                }

    def _append_rows(self, start: int, batch: xr.DataArray, fingerprint: str | None) -> None:
        row = str(self.rows_dim)
        n, r0 = int(batch.sizes[row]), self._rows
        try:
            with quiet_zarr():
                for name, arr in self._row_arrays.items():
                    values = batch.values if name == self._variable else batch.coords[name].values
                    values = np.asarray(values, dtype=object) if arr.dtype.kind in "OTU" or "String" in type(arr.dtype).__name__ \
                        else np.asarray(values, dtype=arr.dtype)
                    arr.resize((r0 + n, *arr.shape[1:]))
                    if n:
                        arr[r0 : r0 + n] = values
        except Exception as exc:
            raise StoreError(f"cannot write batch {start}-{start + len(batch.coords.get('stimulus', []))} to {self.url}: "
                             f"{type(exc).__name__}: {exc}") from None
        self._rows = r0 + n

    def write(self, start: int, batch: xr.DataArray, fingerprint: str | None = None, ids: Sequence[Any] | None = None) -> None:
        if self.complete:
            return
        if self.rows_dim:
            if ids is None:
                raise StoreError(f"{self.url}: a ragged result's batches must be written with their stimulus ids")
            if self._pending is not None and batch.sizes[self.rows_dim]:
                self._pending = None
                self._begin_rows(batch)
            r0 = self._rows
            if self._pending is None:
                self._append_rows(start, batch, fingerprint)
            # after the data: a batch recorded as done is always fully written; its rows are r0..self._rows
            self.loc.write_json(_done_name(start), {"start": int(start), "stop": int(start + len(ids)), "fingerprint": fingerprint,
                                                    "rows": [int(r0), int(self._rows)], "ids": [str(i) for i in ids]})
            return
        stop = start + batch.shape[0]
        try:
            self._arr[start:stop] = np.asarray(batch.values, dtype=self._arr.dtype)
        except Exception as exc:
            raise StoreError(f"cannot write batch {start}-{stop} to {self.url}: {type(exc).__name__}: {exc}") from None
        # after the data: a batch recorded as done is always fully written
        self.loc.write_json(_done_name(start), {"start": int(start), "stop": int(stop), "fingerprint": fingerprint})

    def finish(self) -> xr.DataArray:
        import zarr

        if self.complete:
            self._lock.release()
            return open_result(self.zstore, source=self.url)
        if self._pending is not None:  # no stimulus gave a row: an empty result, of the types the ids and batches have
            template, self._pending = self._pending, None
            try:
                self._begin_rows(_one_row(template, str(self.rows_dim), self._stimulus_ids))
            except BaseException:
                self._lock.release()
                raise
        try:
            with quiet_zarr():
                zarr.consolidate_metadata(self.zstore)
                group = zarr.open_group(self.zstore, mode="r+", zarr_format=3, use_consolidated=True)
                # last: only now does a reader see a complete result
                group.attrs[COMPLETE_ATTR] = 1
        except Exception as exc:
            self._lock.release()
            raise StoreError(f"cannot finish {self.url}: {type(exc).__name__}: {exc}") from None
        if self.on_change is not None:
            self.on_change()
        self._lock.release()
        return open_result(self.zstore, source=self.url)


def write_done(url: str, storage_options: dict[str, Any] | None, start: int, stop: int, fingerprint: str | None) -> None:
    """Record a finished batch of the result at ``url`` (workers of a distributed encode)."""
    lay.location(url, storage_options).write_json(_done_name(start), {"start": int(start), "stop": int(stop), "fingerprint": fingerprint})


def result_state(url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> tuple[bool, np.ndarray]:
    """Whether the result at ``url`` is complete, and which of its stimuli are written (one bool each).

    Raises
    ------
    StoreError
        No berg result of this layout is there.
    """
    loc = lay.location(_target_url(url), storage_options)
    kind, _, attrs = lay.inspect(loc)
    request = loc.read_json(lay.REQUEST_FILE)
    if kind not in (lay.RESULT, lay.HALF) or not isinstance(request, dict):
        raise StoreError(f"{loc.url} holds no berg result (found: {kind})")
    done = np.zeros(int(request.get("n_stimuli", 0)), dtype=bool)
    for name in loc.child(lay.DONE_DIR).names() or []:
        rec = loc.read_json(f"{lay.DONE_DIR}/{name}")
        if isinstance(rec, dict):
            done[int(rec["start"]) : int(rec["stop"])] = True
    return bool(attrs.get(COMPLETE_ATTR)), done


def open_result(zstore: Any, source: str = "<zarr>", require_complete: bool = True) -> xr.DataArray:
    """The labelled result stored in a Zarr group, opened lazily (dask-backed).

    Results of the first layout (resume records inside the dataset) open too, without them.

    Raises
    ------
    StoreError
        Nothing readable is there, or the result is incomplete (with ``require_complete``).
    """
    import zarr

    if isinstance(zstore, os.PathLike):
        zstore = os.fspath(zstore)
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
    out.attrs = netcdf_attrs(out.attrs)  # results of the first layout could hold nested attributes
    # text labels come back as variable-length strings; encode gives NumPy '<U' arrays
    text = {name: (c.dims, np.array(c.values.tolist(), dtype=str), c.attrs) for name, c in out.coords.items() if c.dtype.kind in "OT"}
    return out.assign_coords(text) if text else out


def refresh_root(root: lay.Location) -> None:
    """Consolidate the metadata of a store of several results, so plain xarray opens it quickly.

    Under the root's lock, so that the last writer to finish writes the last word. A failure
    only costs speed (readers then list the groups), never a result: it is logged.
    """
    import zarr

    lock = WriteLock(root.url, root.storage_options, brief=True)
    try:
        with lock, quiet_zarr():
            zarr.consolidate_metadata(writable_zarr_store(root.url, root.storage_options))
    except Exception as exc:  # consolidated metadata is an optimisation: never fail a result for it
        _log.warning("could not consolidate the metadata of %s (%s: %s); readers list its groups instead", root.url,
                     type(exc).__name__, exc)


def zarr_result_sinks(
    target: str | os.PathLike[str],
    storage_options: dict[str, Any] | None,
    models: Sequence[EncodingModel],
    labels: Sequence[str] | None,
    stimuli: Stimuli | Sequence[Any],
    chunk_stimuli: int,
    overwrite: bool = False,
    precision: str = "fp32",
) -> tuple[list[ZarrResultSink], int]:
    """Sinks for ``encode(..., store=target)`` and the number of stimuli to skip.

    One model writes its result at ``target``'s root, unless ``target`` already is a
    store of several results: it then writes its group there, like several models,
    which write one group each at ``target/<model_id>/subject-SS``. A store with one
    result at its root never gets groups of other results, nor the reverse.
    """
    from berg_core.results.labels import model_labels

    root = lay.location(_target_url(target), storage_options)
    n = len(stimuli)
    requests = [request_of(m, n, chunk_stimuli, precision) for m in models]
    _make_parent(root)
    kind, _, _ = lay.inspect(root)
    # a call that will write a group holds the root only briefly: others wait for it instead of failing
    root_lock = WriteLock(root.url, storage_options, brief=labels is not None or kind == lay.CONTAINER)
    root_lock.acquire()
    try:
        kind, names, attrs = lay.inspect(root)
        if labels is None and kind != lay.CONTAINER:
            sink = ZarrResultSink(root, storage_options, requests[0], chunk_stimuli, overwrite, lock=root_lock)
            return [sink], sink.prepare(stimuli)
        labels = list(labels) if labels is not None else model_labels(models)
        if kind in (lay.RESULT, lay.HALF, lay.LEGACY):
            raise StoreError(
                f"{root.url} holds one result at its root ({attrs.get('berg_model', 'of one model')}); results of several "
                "models or subjects go into a store of their own: choose another store"
            )
        if kind == lay.FOREIGN:
            raise StoreError(lay.describe_foreign(root, names))
        if kind == lay.ABSENT:
            lay.create_container(root)
        sinks = [ZarrResultSink(_group_location(root, label), storage_options, req, chunk_stimuli, overwrite)
                 for label, req in zip(labels, requests, strict=True)]
        skips: list[int] = []
        memo: dict[tuple[int, int], str] = {}
        try:
            for s in sinks:
                s.fingerprint_memo = memo  # the groups' finished batches are decoded once, not once per group
                # a run interrupted between its groups' finishes resumes: its finished groups are kept
                s.keep_complete = len(sinks) > 1
                skips.append(s.prepare(stimuli))
            if all(s.complete for s in sinks):
                raise CompleteResultError(
                    f"{root.url} already holds the complete results of {', '.join(labels)} for these stimuli; "
                    "pass overwrite=True (berg encode --overwrite) to replace them"
                )
        except BaseException:
            for s in sinks:
                s.abort()
            raise
    except BaseException:
        root_lock.release()
        raise
    root_lock.release()
    for s in sinks:
        s.on_change = lambda: refresh_root(root)
    return sinks, min(skips)


def _make_parent(loc: lay.Location) -> None:
    """The lock lives beside the result: its folder must exist."""
    if loc.local:
        try:
            os.makedirs(os.path.dirname(loc.path), exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot write to {loc.url}: {type(exc).__name__}: {exc}") from None


def _group_location(root: lay.Location, label: str) -> lay.Location:
    """The location of ``label``'s group, creating the levels above it (``model_id``) as groups."""
    parts = label.replace("#", "-").split("/")
    loc = root
    for part in parts[:-1]:
        loc = loc.child(part)
        kind, names, _ = lay.inspect(loc)
        if kind == lay.ABSENT:
            lay.create_container(loc)
        elif kind == lay.FOREIGN:
            raise StoreError(lay.describe_foreign(loc, names))
        elif kind != lay.CONTAINER:
            raise StoreError(f"{loc.url} holds a result, not the results of {part}'s subjects: choose another store")
    return loc.child(parts[-1])
