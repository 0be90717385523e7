"""berg's native Zarr layout of weight and metadata files (``specs/store_layout.md``).

A BERG 2.0 file is a pickled dict of dicts of arrays. Its Zarr twin (same
path, ``.zarr`` instead of ``.npy``) holds the same tree: a group per dict,
an array per NumPy array or NumPy scalar (0-d), and plain Python values
(numbers, strings, lists of them) in the group's ``berg_values`` attribute.
Weight files of ViT-feature models store the *folded* projection
(``folded/W``, ``folded/c``, see :mod:`berg_core.models.readout`) instead of
``pca_param/components_``. Regression arrays are chunked along their first
axis (the output units), optionally with their rows grouped by ROI so a
region's rows sit in a few chunks: ``row_group/<name>`` gives each original
row its group number, rows are stored sorted by it (stably), and the
array's ``berg_row_group`` attribute names the group array. Group numbers
compress to a few bits per row, unlike a stored permutation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berg_core.errors import IntegrityError
from berg_core.io.zarr_chunks import missing_chunks

__all__ = [
    "LAYOUT_ATTR",
    "LAYOUT_VERSION",
    "ROW_ORDER_ATTR",
    "VALUES_ATTR",
    "ArraySpec",
    "check_chunks",
    "read_array",
    "read_tree",
    "roi_row_groups",
    "stored_order",
    "write_tree",
    "zarr_twin",
]

LAYOUT_ATTR = "berg_layout"
LAYOUT_VERSION = 1
VALUES_ATTR = "berg_values"
ROW_ORDER_ATTR = "berg_row_group"
DTYPE_ATTR = "berg_dtype"
ROW_ORDER_GROUP = "row_group"
FOLDED_GROUP = "folded"
RESERVED = {ROW_ORDER_GROUP}


def zarr_twin(relpath: str) -> str | None:
    """Path of the Zarr twin of a BERG 2.0 ``.npy`` file (``None`` for other files)."""
    return relpath[: -len(".npy")] + ".zarr" if relpath.endswith(".npy") else None


@dataclass(frozen=True)
class ArraySpec:
    """How to store one array: chunk shape, compression, and an optional row order."""

    chunks: tuple[int, ...] | None = None
    compress: bool = False
    row_group: str | None = None


ArrayPolicy = Callable[[str, np.ndarray], ArraySpec]


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def _as_plain(value: Any, key: str, source: str) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        # a numeric array inside a list or tuple (fmri-bmd-s3d's ROI entries are np.where tuples): stored as a
        # plain list, which indexes the same way
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        value = [_as_plain(v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if not _jsonable(value):
        raise IntegrityError(
            f"{source}: {key!r} holds {type(value).__name__}, which the Zarr layout cannot store "
            "(it stores dicts, NumPy arrays and plain numbers, strings and lists)"
        )
    return value


def _string_array(arr: np.ndarray) -> np.ndarray | None:
    """An object array of ``str`` for text arrays, ``None`` for other object arrays."""
    if arr.dtype.kind == "U":
        return arr.astype(object)
    if arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr.ravel()):
        return arr
    return None


def write_tree(
    group: Any,
    data: Mapping[Any, Any],
    policy: ArrayPolicy,
    row_groups: Mapping[str, np.ndarray] | None = None,
    source: str = "<dict>",
    prefix: str = "",
) -> None:
    """Write the nested dict ``data`` into the Zarr ``group``.

    Parameters
    ----------
    group
        An open, writable ``zarr.Group``.
    data
        Dicts of NumPy arrays, NumPy scalars and plain values.
    policy
        ``policy(key, array)`` -> :class:`ArraySpec` for each array (``key`` is ``/``-joined).
    row_groups
        Row group numbers by name (see :func:`roi_row_groups`), written to ``row_group/<name>``
        at the top level.
    source
        Name of the source file, for messages.
    """
    values: dict[str, Any] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not name or "/" in name or name.startswith("__") or (not prefix and name in RESERVED):
            raise IntegrityError(f"{source}: key {name!r} under {prefix or '/'!r} cannot be a Zarr node name")
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            write_tree(group.create_group(name), value, policy, row_groups, source, f"{key}/")
        elif isinstance(value, (np.ndarray, np.generic)):
            arr = np.asarray(value)
            if arr.dtype.kind in "OU":
                text = _string_array(arr)
                if text is None:
                    values[name] = _as_plain(arr.tolist(), key, source)
                    continue
                _write_array(group, name, text, ArraySpec(compress=True), None, source)
                group[name].attrs[DTYPE_ATTR] = arr.dtype.str if arr.dtype.kind == "U" else "object"
                continue
            spec = policy(key, arr)
            groups = None
            if spec.row_group is not None:
                groups = (row_groups or {}).get(spec.row_group)
                if groups is None:
                    raise IntegrityError(f"{source}: no row groups {spec.row_group!r} for {key!r}")
            _write_array(group, name, arr, spec, groups, source)
        elif isinstance(value, (bytes, bytearray)):
            # a binary block (a NIfTI header read from BERG 2.0's pickle): stored as uint8, read back as such
            _write_array(group, name, np.frombuffer(bytes(value), dtype=np.uint8), ArraySpec(compress=True), None, source)
        else:
            values[name] = _as_plain(value, key, source)
    if values:
        group.attrs[VALUES_ATTR] = values
    if row_groups and not prefix:
        holder = group.create_group(ROW_ORDER_GROUP)
        for group_name, groups in row_groups.items():
            _write_array(holder, group_name, np.asarray(groups), ArraySpec(compress=True), None, source)


def stored_order(groups: np.ndarray) -> np.ndarray:
    """The storage order of rows with these group numbers: stored row ``i`` is original row ``order[i]``."""
    return np.argsort(np.asarray(groups), kind="stable")


def _write_array(group: Any, name: str, arr: np.ndarray, spec: ArraySpec, groups: np.ndarray | None, source: str) -> None:
    from zarr.codecs import BloscCodec, BloscShuffle

    if groups is not None:
        if arr.ndim == 0 or len(groups) != arr.shape[0]:
            raise IntegrityError(f"{source}: {len(groups)} row groups do not fit {name!r} of shape {arr.shape}")
        arr = arr[stored_order(groups)]
    chunks = spec.chunks if spec.chunks is not None else _default_chunks(arr)
    compressors: Any = None
    if spec.compress:
        # integer and text arrays (row orders, ROI indices) shrink a lot; float weights do not
        compressors = BloscCodec(cname="zstd", clevel=5, shuffle=BloscShuffle.bitshuffle) if arr.dtype.kind in "iub" else "auto"
    dtype: Any = str if arr.dtype.kind == "O" else arr.dtype
    z = group.create_array(
        name,
        shape=arr.shape,
        dtype=dtype,
        chunks=chunks if arr.ndim else (),
        compressors=compressors,
        fill_value="" if arr.dtype.kind == "O" else 0,
        config={"write_empty_chunks": True},
    )
    if spec.row_group is not None and groups is not None:
        z.attrs[ROW_ORDER_ATTR] = f"{ROW_ORDER_GROUP}/{spec.row_group}"
    z[...] = arr


def _default_chunks(arr: np.ndarray) -> tuple[int, ...]:
    if arr.ndim == 0:
        return ()
    # about 16 MiB per chunk, split along the first axis only
    row_bytes = max(1, arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)))
    rows = max(1, min(arr.shape[0], (16 << 20) // row_bytes))
    return (rows, *arr.shape[1:])


def check_chunks(node: Any, rows: Any = None) -> None:
    """Refuse to read an array of berg's layout whose chunks (those holding ``rows``; ``None``: all) are missing.

    berg writes every chunk, so a missing one means a damaged or partly copied store.
    """
    missing = missing_chunks(node, rows)
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise IntegrityError(
            f"{node.store}: {len(missing)} chunk(s) of array {node.path!r} are missing ({shown}); Zarr would read them as "
            f"{node.fill_value!r}. The store is damaged or was not copied completely: convert or download it again"
        )


def read_array(node: Any, root: Any) -> np.ndarray:
    """All of a stored array, in its original row order.

    Raises
    ------
    IntegrityError
        Chunks of it are missing from the store (Zarr would read them as the fill value).
    """
    check_chunks(node)
    data = node[()] if node.ndim == 0 else node[...]
    text_dtype = node.attrs.get(DTYPE_ATTR)
    if text_dtype:
        data = np.asarray(data)
        if text_dtype == "object":
            data = data.astype(object)
        else:
            # fixed-width text (NumPy '<U4') is stored as variable-length strings
            data = np.array(data.tolist(), dtype=np.dtype(text_dtype)).reshape(data.shape)
    order_key = node.attrs.get(ROW_ORDER_ATTR)
    if order_key:
        order = stored_order(root[order_key][...])
        out = np.empty_like(data)
        out[order] = data
        data = out
    return np.asarray(data) if node.ndim else data


def read_tree(group: Any, root: Any | None = None, top: bool = True) -> dict[str, Any]:
    """The nested dict stored by :func:`write_tree` (folded weights are returned as stored)."""
    import zarr

    root = group if root is None else root
    out: dict[str, Any] = {}
    for name, node in group.members():
        if top and name == ROW_ORDER_GROUP:
            continue
        if isinstance(node, zarr.Group):
            out[name] = read_tree(node, root, top=False)
        else:
            value = read_array(node, root)
            out[name] = value[()] if node.ndim == 0 else value
    values = group.attrs.get(VALUES_ATTR) or {}
    out.update(values)
    return out


def roi_row_groups(n_rows: int, rois: Mapping[str, Any], source: str = "<metadata>") -> np.ndarray:
    """Group numbers that put each region's rows next to each other.

    Rows with the same membership in the regions share a group; groups are
    numbered by membership, largest region first (members before
    non-members), so nested and disjoint regions each occupy one run of rows
    once sorted, and a region straddling a larger one occupies a few.

    Returns
    -------
    numpy.ndarray
        ``uint8`` (``uint16`` beyond 256 groups) group number of each row; rows are
        stored in :func:`stored_order` of it.
    """
    masks = []
    for name, idx in rois.items():
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (n_rows,):
                raise IntegrityError(f"{source}: ROI {name!r} mask has shape {idx.shape}, expected ({n_rows},)")
            mask = idx
        else:
            if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_rows):
                raise IntegrityError(f"{source}: ROI {name!r} holds indices outside 0..{n_rows - 1}")
            mask = np.zeros(n_rows, dtype=bool)
            mask[idx.astype(np.int64)] = True
        masks.append(mask)
    masks.sort(key=lambda m: -int(m.sum()))
    if not masks:
        return np.zeros(n_rows, dtype=np.uint8)
    order = np.lexsort([np.arange(n_rows)] + [~m for m in reversed(masks)])
    member = np.stack(masks, axis=1)[order]
    sorted_ids = np.concatenate([[0], np.cumsum(np.any(member[1:] != member[:-1], axis=1))])
    groups = np.empty(n_rows, dtype=np.uint8 if sorted_ids[-1] < 256 else np.uint16)
    groups[order] = sorted_ids
    return groups
