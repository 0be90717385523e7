"""Reading weight and metadata files from a store, whatever their layout.

Plugins ask for arrays by key path (``"pca_param/components_"``) and,
optionally, a subset of rows (the selected vertices or channels). The reader
behind the key decides how to get them: BERG 2.0's pickled ``.npy`` dicts are
unpickled safely once and sliced; native layouts (Zarr, see ``specs/``) can
read just the chunks holding those rows. Plugins never open files themselves,
so a new store layout needs no plugin change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from berg_core.errors import IntegrityError, InvalidParameterError, StoreError
from berg_core.store.model_store import Store
from berg_core.store.zarr_layout import (
    FOLDED_GROUP,
    LAYOUT_ATTR,
    ROW_ORDER_ATTR,
    ROW_ORDER_GROUP,
    VALUES_ATTR,
    check_chunks,
    read_array,
    read_tree,
    stored_order,
    zarr_twin,
)

__all__ = [
    "PickledNpyFile",
    "WeightFile",
    "ZarrWeightFile",
    "RowsOutOfRangeError",
    "flatten_keys",
    "has_folded_projection",
    "metadata_entry",
    "first_weight_file",
    "open_weight_file",
    "read_folded_projection",
    "read_metadata",
    "require_finite",
    "weight_file_path",
]


class WeightFile(Protocol):
    """What plugins use to read one weight file."""

    source: str

    def keys(self) -> list[str]:
        """All array/value key paths, ``/``-separated."""

    def read(self, key: str, rows: Sequence[int] | np.ndarray | None = None, dtype: Any = None) -> np.ndarray:
        """The array at ``key`` (only ``rows`` along axis 0 when given)."""

    def value(self, key: str) -> Any:
        """A non-array value (scalar, string, small list) at ``key``."""

    def close(self) -> None:
        """Release anything held."""


def flatten_keys(obj: Any, prefix: str = "") -> Iterator[str]:
    """``/``-joined key paths of nested dicts."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten_keys(v, f"{prefix}{k}/")
    else:
        yield prefix.rstrip("/")


def _lookup(obj: Any, key: str, source: str) -> Any:
    cur = obj
    for part in key.split("/"):
        if not isinstance(cur, dict) or part not in cur:
            raise IntegrityError(f"{source} has no entry {key!r} (expected BERG 2.0's layout)")
        cur = cur[part]
    return cur


def metadata_entry(meta: Any, key: str, source: str, numeric: bool = False) -> Any:
    """``meta["a"]["b"]`` for ``key="a/b"``: one entry of a BERG 2.0 metadata (or weights) dict.

    Parameters
    ----------
    meta
        The dict, as :func:`read_metadata` returns it.
    key
        ``/``-separated path of the entry.
    source
        Where the dict was read from, for messages.
    numeric
        Return the entry as a NumPy array of numbers (bool, int or float), refusing anything else.

    Raises
    ------
    IntegrityError
        The entry is missing, or (``numeric``) does not hold numbers.
    """
    value = _lookup(meta, key, source)
    if not numeric:
        return value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # a ragged list
        arr = np.asarray(None)
    if arr.dtype.kind not in "biuf":
        raise IntegrityError(f"{source}: {key} should hold numbers, found {type(value).__name__} of dtype {arr.dtype}")
    return arr


class PickledNpyFile:
    """A BERG 2.0 pickled ``.npy`` dict, read safely and lazily.

    The pickle is walked once with the restricted unpickler of
    :mod:`berg_core.io.lazy_pickle`: small values are loaded, large arrays stay
    in the file as :class:`~berg_core.io.lazy_pickle.LazyArray` handles, so
    :meth:`read` with ``rows`` reads only those rows (locally, or as ranged
    reads from S3) and a one-ROI model never holds the whole-brain regression.
    """

    def __init__(self, store: Store, relpath: str) -> None:
        from berg_core.io.lazy_pickle import load_lazy_npy

        self.source = store.url_of(relpath)
        # a local file's float32 conversions and folded projection are kept on disk across processes
        # (berg_core.store.derived_cache); a remote store's files have their own download cache
        self.local_path: str | None = store.path(relpath) if store.is_local and getattr(store, "cache", None) is None else None
        # a pickled sklearn estimator (e.g. a per-repetition PCA) reads as the dict of its attributes
        data = _estimators_as_dicts(load_lazy_npy(lambda: store.open(relpath), self.source))
        if not isinstance(data, dict):
            raise IntegrityError(f"{self.source} should hold a dict, found {type(data).__name__}")
        self._tree: dict[str, Any] | None = data

    @property
    def tree(self) -> dict[str, Any]:
        """The unpickled dict, large arrays still as lazy handles."""
        if self._tree is None:
            raise RuntimeError(f"{self.source} was closed")
        return self._tree

    @property
    def data(self) -> dict[str, Any]:
        """The whole dict with every array read into memory."""
        return _read_all(self.tree)

    def keys(self) -> list[str]:
        return list(flatten_keys(self.tree))

    def read(self, key: str, rows: Sequence[int] | np.ndarray | None = None, dtype: Any = None) -> np.ndarray:
        from berg_core.io.lazy_pickle import LazyArray

        arr = _lookup(self.tree, key, self.source)
        if not isinstance(arr, (np.ndarray, LazyArray)):
            raise IntegrityError(f"{self.source}: {key!r} should be an array, found {type(arr).__name__}")
        idx = None if rows is None else _check_rows(rows, arr.shape[0] if arr.ndim else 0, key, self.source)
        if isinstance(arr, LazyArray) and dtype is not None:
            cached = self._cached_conversion(key, arr, idx, np.dtype(dtype))
            if cached is not None:
                return cached
        if isinstance(arr, LazyArray):
            out = arr.read(idx)
        else:
            out = arr if idx is None else arr[idx]
        out = require_finite(out, key, self.source)
        if dtype is not None:
            out = out.astype(dtype, copy=False)
        return out

    def _derived_entry(self) -> Any:
        """The derived-cache entry of this (local) file, or ``None``."""
        if self.local_path is None:
            return None
        from berg_core.store.derived_cache import source_entry

        return source_entry(self.local_path)

    def _cached_conversion(self, key: str, arr: Any, idx: np.ndarray | None, dtype: np.dtype[Any]) -> np.ndarray | None:
        """``arr`` (a large stored array) converted to ``dtype`` from the derived cache, rows ``idx`` of it.

        The whole array is converted and cached on the first read that keeps at least a quarter of
        its rows (a regression read whole or nearly so); smaller selections use the cache only when
        it is there, as reading their rows from the source is cheap. A cached array was checked
        finite as a whole, so every selection of it is. An array already of ``dtype`` is cached
        only when its bytes are not aligned in the file (a pickle puts them anywhere): an aligned
        one is mapped where it lies (:mod:`berg_core.io.local_map`). ``None``: read from the source
        as usual.
        """
        same = dtype == arr.dtype
        if same and arr.offset % arr.dtype.itemsize == 0:
            return None
        if not _worth_caching(arr) or arr.ndim == 0 or arr.fortran or dtype.kind not in "fc":
            return None
        entry = self._derived_entry()
        if entry is None:
            return None
        name = f"astype:{key}:{arr.dtype.str}:{tuple(arr.shape)}:{arr.offset}:{arr.nbytes}->{dtype.str}"
        whole = entry.get(name, tuple(arr.shape), dtype)
        if whole is None:
            if idx is not None and idx.size * 4 < arr.shape[0]:
                return None

            def blocks() -> Any:
                for _, block in arr.iter_row_blocks(max(1, (8 << 20) // max(1, arr.nbytes // arr.shape[0])), reuse=2):
                    if block.dtype.kind in "fc" and not np.isfinite(block).all():
                        yield None  # not cached: the source path raises (or not, for a selection) as it always did
                        return
                    yield block

            if not entry.put_blocks(name, tuple(arr.shape), dtype, blocks()):
                return None
            whole = entry.get(name, tuple(arr.shape), dtype)
            if whole is None:
                return None
        return whole if idx is None else whole[idx]

    def row_blocks(self, key: str, block_rows: int, reuse: int = 0) -> Any:
        """``(start, block)`` pairs covering the array at ``key``, one block in memory at a time.

        ``reuse``: see :meth:`berg_core.io.lazy_pickle.LazyArray.iter_row_blocks`.
        """
        from berg_core.io.lazy_pickle import LazyArray

        arr = _lookup(self.tree, key, self.source)
        if isinstance(arr, LazyArray):
            return arr.iter_row_blocks(block_rows, reuse)
        return ((a, arr[a : a + block_rows]) for a in range(0, arr.shape[0], block_rows))

    def value(self, key: str) -> Any:
        return _read_all(_lookup(self.tree, key, self.source))

    def close(self) -> None:
        self._tree = None

    def __enter__(self) -> PickledNpyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _estimators_as_dicts(obj: Any) -> Any:
    """``obj`` with every :class:`~berg_core.io.sklearn_pickle.SklearnEstimator` replaced by its attribute dict.

    Weight files hold either sklearn's fitted attributes as a dict or the pickled estimator;
    read this way both give the same keys (``pca_param/rep-1/components_``...).
    """
    from berg_core.io.sklearn_pickle import SklearnEstimator

    if isinstance(obj, SklearnEstimator):
        return {k: _estimators_as_dicts(v) for k, v in obj.state.items()}
    if isinstance(obj, dict):
        return {k: _estimators_as_dicts(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_estimators_as_dicts(v) for v in obj]
    return obj


def _read_all(obj: Any) -> Any:
    from berg_core.io.lazy_pickle import LazyArray

    if isinstance(obj, LazyArray):
        return obj.read()
    if isinstance(obj, dict):
        return {k: _read_all(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_read_all(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_read_all(v) for v in obj)
    return obj


COMPONENTS_KEY = "pca_param/components_"
#: components rows folded at a time (8 x 460,800 float64 = 29 MB; a fold holds three such reading buffers and
#: a quotient block, so a load's peak stays within 1.2x the weights it keeps)
FOLD_BLOCK_ROWS = 8


def require_finite(arr: np.ndarray, key: str, source: str) -> np.ndarray:
    """``arr`` if it is a numeric array without NaN or infinity, else :class:`IntegrityError`.

    Weights with NaN give NaN responses without a word; refusing them at load
    names the file and the array instead.
    """
    if arr.dtype.kind not in "biufc":
        raise IntegrityError(f"{source}: {key!r} should be a numeric array, found dtype {arr.dtype}")
    if arr.dtype.kind in "fc" and arr.size and not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise IntegrityError(f"{source}: {key!r} holds {bad} NaN or infinite values of {arr.size}; the file is damaged")
    return arr


class RowsOutOfRangeError(IntegrityError, IndexError):
    """Rows asked for beyond the stored array: the file has fewer outputs than the model needs.

    Also an ``IndexError``, which is what slicing BERG 2.0's arrays raised.
    """


def _check_rows(rows: Sequence[int] | np.ndarray, n: int, key: str, source: str) -> np.ndarray:
    """``rows`` as int64 indices (a boolean mask of length ``n`` is accepted too)."""
    idx = np.asarray(rows)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise RowsOutOfRangeError(f"{source}: {key!r} has {n} rows, but a row mask of shape {idx.shape} was given")
        return np.flatnonzero(idx)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise InvalidParameterError(f"rows for {key!r} of {source} must be a 1-D integer array or a boolean mask, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RowsOutOfRangeError(f"{source}: {key!r} has {n} rows (0..{n - 1}), but rows {idx.min()}..{idx.max()} were asked for")
    return np.where(idx < 0, idx + n, idx)


def has_folded_projection(wf: WeightFile) -> bool:
    """Whether ``wf`` stores the folded projection (then ``pca_param/components_`` is not stored:
    use :func:`read_folded_projection`)."""
    return isinstance(wf, ZarrWeightFile) and wf.folded


class ZarrWeightFile:
    """A weight file in berg's Zarr layout: reads only the chunks holding the rows asked for.

    Parameters
    ----------
    store
        The store.
    relpath
        The ``.zarr`` folder, relative to the store root.
    """

    def __init__(self, store: Store, relpath: str) -> None:
        from berg_core.store.zarr_store import open_zarr_group

        self.source = store.url_of(relpath)
        self._store = store
        self._relpath = relpath.strip("/")
        self._group: Any = open_zarr_group(store, relpath)
        if self._group.attrs.get(LAYOUT_ATTR) not in ("weights", "metadata"):
            raise IntegrityError(f"{self.source} is a Zarr group but not a berg weight file (attribute {LAYOUT_ATTR!r} missing)")
        self._inverse: dict[str, np.ndarray] = {}

    @property
    def folded(self) -> bool:
        """Whether the file stores the folded projection ``folded/W``, ``folded/c``."""
        return self._group_or_none(FOLDED_GROUP) is not None

    def _group_or_none(self, key: str) -> Any:
        import zarr

        try:
            node = self._group[key]
        except KeyError:
            return None
        return node if isinstance(node, zarr.Group) else None

    def keys(self) -> list[str]:
        import zarr

        out: list[str] = []

        def walk(group: Any, prefix: str) -> None:
            for name, node in group.members():
                if not prefix and name == ROW_ORDER_GROUP:
                    continue
                if isinstance(node, zarr.Group):
                    walk(node, f"{prefix}{name}/")
                else:
                    out.append(f"{prefix}{name}")
            out.extend(f"{prefix}{name}" for name in (group.attrs.get(VALUES_ATTR) or {}))

        walk(self._group, "")
        return sorted(out)

    def _array(self, key: str) -> Any:
        import zarr

        try:
            node = self._group[key]
        except KeyError:
            node = None
        if not isinstance(node, zarr.Array):
            hint = ""
            if key == COMPONENTS_KEY and self.folded:
                hint = "; this layout stores the folded projection instead: use berg_core.models.weights.read_folded_projection"
            raise IntegrityError(f"{self.source} has no array {key!r}{hint}")
        return node

    def _inverse_order(self, node: Any) -> np.ndarray | None:
        order_key = node.attrs.get(ROW_ORDER_ATTR)
        if not order_key:
            return None
        if order_key not in self._inverse:
            order = stored_order(self._group[order_key][...])
            inv = np.empty_like(order)
            inv[order] = np.arange(order.size)
            self._inverse[order_key] = inv
        return self._inverse[order_key]

    def read(self, key: str, rows: Sequence[int] | np.ndarray | None = None, dtype: Any = None) -> np.ndarray:
        if key == COMPONENTS_KEY and self.folded and not self._has_array(key):
            return self._unfolded_components(rows, dtype)
        arr = require_finite(self._read(key, rows), key, self.source)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def _read(self, key: str, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        node = self._array(key)
        if rows is None:
            arr = read_array(node, self._group)
        else:
            if node.ndim == 0:
                raise InvalidParameterError(f"{key!r} of {self.source} is a scalar; it has no rows")
            idx = _check_rows(rows, node.shape[0], key, self.source)
            inv = self._inverse_order(node)
            pos = inv[idx] if inv is not None else idx
            # sorted unique positions: zarr then reads each needed chunk once
            uniq, back = np.unique(pos, return_inverse=True)
            check_chunks(node, uniq)
            block = node.oindex[uniq] if uniq.size else np.empty((0, *node.shape[1:]), dtype=node.dtype)
            arr = np.asarray(block)[back]
        return arr

    def _has_array(self, key: str) -> bool:
        import zarr

        try:
            return isinstance(self._group[key], zarr.Array)
        except KeyError:
            return False

    def _unfolded_components(self, rows: Sequence[int] | np.ndarray | None, dtype: Any) -> np.ndarray:
        """``components_`` rebuilt from the folded ``W = components_ / scaler.scale_`` (float32 precision).

        For readers written against BERG 2.0's keys; :func:`read_folded_projection`
        avoids this extra pass.
        """
        W = self.read(f"{FOLDED_GROUP}/W", rows=rows)
        comp = W.astype(np.float64) * self.read("scaler_param/scale_").astype(np.float64)
        return comp if dtype is None else comp.astype(dtype, copy=False)

    def value(self, key: str) -> Any:
        parent, _, name = key.rpartition("/")
        group = self._group_or_none(parent) if parent else self._group
        values = (group.attrs.get(VALUES_ATTR) or {}) if group is not None else {}
        if name in values:
            return values[name]
        node = self._array(key)
        # metadata, not weights: NaN may mean "not measured" there
        return read_array(node, self._group)[()] if node.ndim == 0 else self._read(key)

    def folded_projection(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored ``(W, c)``: ``W`` (k, F) float32, ``c`` (k,) float32."""
        W = self._folded_w()
        c = self.read(f"{FOLDED_GROUP}/c", dtype=np.float32)
        if W.ndim != 2 or c.shape != (W.shape[0],):
            raise IntegrityError(f"{self.source}: folded W {W.shape} and c {c.shape} do not fit together")
        return W, c

    def _folded_w(self) -> np.ndarray:
        """``folded/W`` read chunk column by chunk column into one float32 array, each checked as it arrives.

        Reading the whole array at once holds every chunk's buffer next to the result (twice the
        460 MB of ViT-B/32 models at the peak); one chunk column at a time, the peak is the result.
        """
        key = f"{FOLDED_GROUP}/W"
        node = self._array(key)
        if node.ndim != 2 or node.attrs.get(ROW_ORDER_ATTR) or node.dtype != np.float32:
            return self.read(key, dtype=np.float32)
        mapped = self._mapped_whole(key, node)
        if mapped is not None:
            return mapped
        W = np.empty(node.shape, dtype=np.float32)
        step = max(1, int(node.chunks[1]))
        for a in range(0, node.shape[1], step):
            W[:, a : a + step] = node[:, a : a + step]
            require_finite(W[:, a : a + step], f"{key} (columns {a} to {min(a + step, node.shape[1]) - 1})", self.source)
        return W

    def _mapped_whole(self, key: str, node: Any) -> np.ndarray | None:
        """An array stored as one uncompressed chunk of a local store, memory-mapped (no read, no copy).

        ``berg convert`` writes ``folded/W`` so (:mod:`berg_core.workflows.convert`); a load then maps
        the 460 MB of a ViT-B/32 projection instead of reading it. The chunk is checked against the
        store's manifest (:meth:`~berg_core.store.model_store.Store.map_array`), which proves its values
        are those ``berg convert`` folded and checked; a store without one has them checked here.
        ``None`` for any other layout: the caller reads it chunk by chunk.
        """
        from zarr.codecs import BytesCodec

        meta = node.metadata
        codecs = getattr(meta, "codecs", None)
        chunk_shape = getattr(getattr(meta, "chunk_grid", None), "chunk_shape", None)
        if (
            getattr(meta, "zarr_format", None) != 3
            or tuple(chunk_shape or ()) != tuple(node.shape)
            or not codecs
            or len(codecs) != 1
            or not isinstance(codecs[0], BytesCodec)
            or node.dtype.byteorder not in "=<|"
            or getattr(getattr(codecs[0], "endian", None), "value", "little") != "little"
        ):
            return None
        chunk = meta.chunk_key_encoding.encode_chunk_key((0,) * node.ndim)
        rel = f"{self._relpath}/{key}/{chunk}"
        mapped = self._store.map_array(rel, node.dtype, tuple(node.shape))
        if mapped is None:
            return None
        manifest, _ = self._store._covering(rel)
        if manifest is None:
            step = max(1, (32 << 20) // max(1, mapped[0].nbytes))
            for a in range(0, mapped.shape[0], step):
                require_finite(mapped[a : a + step], f"{key} (rows {a} to {min(a + step, mapped.shape[0]) - 1})", self.source)
        return mapped  # type: ignore[no-any-return]

    def close(self) -> None:
        self._inverse.clear()

    def __enter__(self) -> ZarrWeightFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _zarr_path(store: Store, relpath: str) -> str | None:
    """The Zarr folder holding ``relpath``'s content, if the store has one."""
    if relpath.endswith(".zarr"):
        return relpath
    twin = zarr_twin(relpath)
    if twin is not None and store.exists(f"{twin}/zarr.json"):
        return twin
    return None


def weight_file_path(store: Store, relpath: str) -> str:
    """The path :func:`open_weight_file` reads for ``relpath``: its Zarr twin when the store has one."""
    return _zarr_path(store, relpath) or relpath


def open_weight_file(store: Store, relpath: str) -> WeightFile:
    """Open a weight file of the store in whichever layout holds it.

    ``relpath`` names BERG 2.0's file (``.../weights_subject-01.npy``); when the
    store has its Zarr twin (``.../weights_subject-01.zarr``) that is used instead.
    """
    zpath = _zarr_path(store, relpath)
    if zpath is not None:
        return ZarrWeightFile(store, zpath)
    return PickledNpyFile(store, relpath)


def first_weight_file(store: Store, candidates: Sequence[str], what: str = "weight file") -> str:
    """The first of ``candidates`` the store holds (as BERG 2.0's ``.npy`` or its Zarr twin).

    For files whose name changed between BERG versions (e.g. THINGS-MEG's
    ``weights_P1.npy``, ``weights_P1_full.npy``, ``weights_P1_all_training_splits.npy``):
    every documented name is accepted, in the order given (newest first).

    Raises
    ------
    StoreError
        None of them is there; the message lists every name looked for.
    """
    names = list(dict.fromkeys(candidates))
    if not names:
        raise ValueError("first_weight_file needs at least one candidate path")
    for relpath in names:
        if _zarr_path(store, relpath) is not None or store.exists(relpath):
            return relpath
    looked = ", ".join(store.url_of(r) for r in names)
    raise StoreError(f"no {what} found; looked for (with their .zarr twins): {looked}")


def read_metadata(store: Store, relpath: str) -> dict[str, Any]:
    """Read a whole metadata dict (the Zarr twin if present, else BERG 2.0's pickled ``.npy``), safely."""
    zpath = _zarr_path(store, relpath)
    if zpath is not None:
        from berg_core.store.zarr_store import open_zarr_group

        return read_tree(open_zarr_group(store, zpath))
    return PickledNpyFile(store, relpath).data


def read_folded_projection(
    wf: WeightFile, source: str | None = None, centered: bool = True, pca_key: str = "pca_param"
) -> tuple[np.ndarray, np.ndarray]:
    """The scaler + PCA of a ViT-feature model folded into ``(W, c)`` (see :mod:`berg_core.models.readout`).

    Reads ``scaler_param/{mean_,scale_}`` and ``pca_param/{mean_,components_}``
    and folds them; the Zarr layout stores ``(W, c)`` already and returns them
    without refolding. ``centered=False`` is for a projection fit with sklearn's
    ``TruncatedSVD`` (no ``pca_param/mean_``: components are not centred).
    ``pca_key`` names another PCA of the file (e.g. ``"pca_param/rep-1"`` of BERG 2.0's
    per-repetition PCAs), folded with the same scaler.
    """
    from berg_core.models.readout import fold_scaler_pca, fold_scaler_pca_rows

    comp_key = f"{pca_key}/components_"
    if pca_key == "pca_param" and has_folded_projection(wf):
        return wf.folded_projection()  # type: ignore[attr-defined]
    if isinstance(wf, PickledNpyFile):
        # row blocks straight from the file: the float64 components are never all in memory; the
        # next block is read in a thread while this one is folded (file reads release the GIL)
        tree_comp = _lookup(wf.tree, comp_key, wf.source)
        entry = wf._derived_entry()
        if entry is not None and _worth_caching(tree_comp):
            return _cached_fold(wf, entry, pca_key, centered, tree_comp, source)
        return fold_scaler_pca_rows(
            wf.read("scaler_param/mean_"),
            wf.read("scaler_param/scale_"),
            wf.read(f"{pca_key}/mean_") if centered else np.zeros(tree_comp.shape[-1]),
            tuple(tree_comp.shape),
            _prefetched_blocks(wf, comp_key),
            source=source or wf.source,
        )
    components = wf.read(comp_key)
    return fold_scaler_pca(
        wf.read("scaler_param/mean_"),
        wf.read("scaler_param/scale_"),
        wf.read(f"{pca_key}/mean_") if centered else np.zeros(components.shape[-1]),
        components,
        source=source or wf.source,
    )


def _prefetched_blocks(wf: PickledNpyFile, key: str) -> Any:
    """Row blocks of ``key``, the next read in a thread while this one is used (file reads release the GIL).

    Three buffers in turn: the block in use, the one waiting in the queue and the one being read never share one
    (the reader starts a block only after the queue's was taken, so after the one in use was done with).
    """
    from berg_core.stimuli.prefetch import prefetch

    return prefetch(wf.row_blocks(key, FOLD_BLOCK_ROWS, reuse=3), lambda block: block, depth=1)


def _worth_caching(arr: Any) -> bool:
    """Whether a stored array is large enough for its derived arrays to be kept on disk."""
    from berg_core.store import derived_cache

    return int(getattr(arr, "nbytes", 0)) >= derived_cache.MIN_BYTES


def _cached_fold(
    wf: PickledNpyFile, entry: Any, pca_key: str, centered: bool, tree_comp: Any, source: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_folded_projection` of a local BERG 2.0 file through the derived cache.

    The folded ``(W, c)`` are written once after the first fold; later loads (any process)
    memory-map them and read none of the float64 scaler and PCA. The cache name holds where
    and what every input array is in the file, so a different file can never match.
    """
    from berg_core.models.readout import fold_scaler_pca_rows, fold_scaler_pca_rows_to

    comp_key = f"{pca_key}/components_"
    inputs = ["scaler_param/mean_", "scaler_param/scale_", comp_key] + ([f"{pca_key}/mean_"] if centered else [])
    described = []
    for key in inputs:
        node = _lookup(wf.tree, key, wf.source)
        where = getattr(node, "offset", None), getattr(node, "nbytes", None)
        described.append(f"{key}:{getattr(node, 'dtype', type(node).__name__)}:{tuple(getattr(node, 'shape', ()))}:{where}")
    name = "fold:" + "|".join(described)
    shape = tuple(int(s) for s in tree_comp.shape)
    if len(shape) != 2:
        raise IntegrityError(f"{source or wf.source}: pca components_ should be 2-D, found shape {shape}")
    W = entry.get(name + ":W", shape, np.float32)
    c = entry.get(name + ":c", shape[:1], np.float32)
    if W is not None and c is not None:
        return W, c
    # W goes to the file that keeps it block by block as it is folded, and is then mapped: never all in
    # this process's own memory (0.5-1 s of page faults for 460 MB on these VMs) nor written twice. c is put
    # inside the block and W renamed into place when it ends: a reader needs both, and sees W last
    args = (
        wf.read("scaler_param/mean_"),
        wf.read("scaler_param/scale_"),
        wf.read(f"{pca_key}/mean_") if centered else np.zeros(tree_comp.shape[-1]),
        shape,
    )
    with entry.writing(name + ":W", shape, np.float32) as sink:
        if sink is None:  # the cache can't keep it: folded into this process's memory
            return fold_scaler_pca_rows(*args, _prefetched_blocks(wf, comp_key), source=source or wf.source)
        c = fold_scaler_pca_rows_to(*args, _prefetched_blocks(wf, comp_key), sink, source=source or wf.source)
        entry.put(name + ":c", c)  # if it can't be, a later load finds no c and folds again
    mapped = entry.get(name + ":W", shape, np.float32)  # copy-on-write: torch may write, the file stays
    if mapped is not None:
        return mapped, c
    # the cache dropped the file at the end (a full disk): fold again, into memory
    return fold_scaler_pca_rows(*args, _prefetched_blocks(wf, comp_key), source=source or wf.source)
