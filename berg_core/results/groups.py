"""Every result in a Zarr store written by ``encode(..., store=...)``: one model or many.

One model writes its result at the store's root; several write one group
each, at ``<store>/<model_id>/subject-SS``, and every level above them is a
Zarr group too, so ``xarray.open_datatree(store, engine="zarr")`` opens the
store as it is. Results are found by walking the folders (a few levels deep)
for groups marked as berg results, never by listing chunk files, so stores of
the first layout (whose upper levels were plain folders) are found too.
"""

from __future__ import annotations

import json
import os
from typing import Any

import xarray as xr

from berg_core.cards.model_card import result_group
from berg_core.errors import StoreError
from berg_core.results.zarr_sink import RESULT_ATTR, open_result
from berg_core.store.network import bounded_filesystem
from berg_core.store.zarr_store import fsspec_zarr_store

__all__ = ["find_result_groups", "open_results", "open_results_tree"]

#: How deep below the root result groups are looked for (labels are ``model/subject-SS``).
MAX_DEPTH = 3


def _fs(target: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    try:
        return bounded_filesystem(target, storage_options)
    except (ValueError, ImportError) as exc:
        raise StoreError(f"cannot open {target}: {exc}") from None


def _is_result_group(fs: Any, folder: str) -> bool:
    try:
        meta = json.loads(fs.cat_file(f"{folder}/zarr.json"))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("node_type") == "group" and bool(meta.get("attributes", {}).get(RESULT_ATTR))


def find_result_groups(target: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> list[str]:
    """Paths of the berg result groups under ``target``, relative to it (``""`` for the root).

    Raises
    ------
    StoreError
        ``target`` does not exist, cannot be read, or holds no berg result.
    """
    url = os.fspath(target).rstrip("/")
    fs, root = _fs(url, storage_options)
    try:
        if not fs.isdir(root):
            raise StoreError(f"no result store at {url} (expected the Zarr folder written by encode(..., store=...))")
        found: list[str] = []
        level = [root]
        for _ in range(MAX_DEPTH + 1):
            below = []
            for folder in level:
                if _is_result_group(fs, folder):
                    found.append(folder[len(root):].strip("/"))
                    continue  # a result's own arrays hold no further results
                below += [d["name"].rstrip("/") for d in fs.ls(folder, detail=True)
                          if d.get("type") == "directory" and not d["name"].rstrip("/").rsplit("/", 1)[-1].startswith(".berg")]
            level = below
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot read {url}: {type(exc).__name__}: {exc}") from None
    if not found:
        raise StoreError(f"{url} holds no berg result (no Zarr group with the {RESULT_ATTR!r} attribute)")
    return sorted(found)


def _zarr_store(url: str, storage_options: dict[str, Any] | None) -> Any:
    import zarr.storage

    if "://" not in url or url.startswith("file://"):
        return zarr.storage.LocalStore(os.path.expanduser(url.removeprefix("file://")), read_only=True)
    return fsspec_zarr_store(url, storage_options, read_only=True)


def open_results(target: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> dict[str, xr.DataArray]:
    """Every complete result under ``target``, opened lazily.

    Returns
    -------
    dict of str to xarray.DataArray
        Keyed by the group path (the model label of a multi-model encode), or, for a
        store holding one result at its root, by ``model_id/subject-SS`` (``model_id/subject-N`` for a named subject, ``model_id`` for a
        participant-averaged model).
    """
    url = os.fspath(target).rstrip("/")
    results = {}
    for group in find_result_groups(url, storage_options):
        where = f"{url}/{group}" if group else url
        da = open_result(_zarr_store(where, storage_options), source=where)
        results[group or _label(da)] = da
    return results


def _label(da: xr.DataArray) -> str:
    subject = da.attrs.get("subject")
    if isinstance(subject, (int, float)) and not isinstance(subject, bool) and subject < 0:
        subject = None  # results written before subjects could be absent marked none with -1
    elif isinstance(subject, float):
        subject = int(subject)
    return result_group(str(da.attrs.get("model_id", "result")), subject)


def open_results_tree(target: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> xr.DataTree:
    """Every complete result under ``target`` as one :class:`xarray.DataTree`, opened lazily.

    The tree has the store's shape: for a store of several results, one node per
    ``model_id`` and below it one per ``subject-SS``, each holding the result's
    Dataset (the response variable and its coordinates); for a store of one
    result, the root holds it. Incomplete results (interrupted encodes) are left out.

    Raises
    ------
    StoreError
        ``target`` holds no complete berg result, or cannot be read.
    """
    url = os.fspath(target).rstrip("/")
    nodes: dict[str, xr.Dataset] = {}
    for group in find_result_groups(url, storage_options):
        where = f"{url}/{group}" if group else url
        try:
            da = open_result(_zarr_store(where, storage_options), source=where)
        except StoreError as exc:
            if "unfinished" in str(exc):
                continue
            raise
        nodes["/" + group] = da.to_dataset()
    if not nodes:
        raise StoreError(f"{url} holds no complete berg result (every result there is unfinished: resume it with encode(..., store=...))")
    return xr.DataTree.from_dict(nodes)
