"""A read-only Zarr store over a berg :class:`~berg_core.store.model_store.Store`.

Zarr asks for keys (``zarr.json``, ``c/3/0``...); this adapter reads them with
:meth:`Store.read_bytes`, so every chunk goes through the same cache,
manifest check and error handling as any other file of the store, and only
the chunks an indexing operation touches are read.
"""

from __future__ import annotations

import asyncio
import builtins
import warnings
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.abc.store import Store as _ZarrStore
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from berg_core.errors import IntegrityError, StoreError
from berg_core.store.network import bounded_filesystem

if TYPE_CHECKING:
    import zarr

    from berg_core.store.model_store import Store

__all__ = ["StoreZarr", "open_zarr_group", "quiet_zarr"]


class StoreZarr(_ZarrStore):
    """Read-only Zarr store for the folder ``prefix`` of a berg store."""

    supports_writes = False
    supports_deletes = False
    supports_listing = True
    supports_partial_writes = False  # type: ignore[assignment]

    def __init__(self, store: Store, prefix: str) -> None:
        super().__init__(read_only=True)
        self.store = store
        self.prefix = prefix.strip("/")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreZarr) and other.store is self.store and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash((id(self.store), self.prefix))

    def __repr__(self) -> str:
        return f"StoreZarr({self.store.url_of(self.prefix)!r})"

    def _rel(self, key: str) -> str:
        return f"{self.prefix}/{key}" if key else self.prefix

    async def get(self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None) -> Buffer | None:
        prototype = prototype or default_buffer_prototype()
        # whole files only: a chunk is verified against the manifest as a whole
        data = await asyncio.to_thread(self.store.read_bytes, self._rel(key), True)
        if data is None:
            return None
        return prototype.buffer.from_bytes(_slice(data, byte_range))

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.store.exists, self._rel(key))

    async def set(self, key: str, value: Buffer) -> None:
        raise StoreError(f"{self!r} is read-only")

    async def delete(self, key: str) -> None:
        raise StoreError(f"{self!r} is read-only")

    async def list(self) -> AsyncIterator[str]:  # type: ignore[override]
        for key in await asyncio.to_thread(self._keys, ""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:  # type: ignore[override]
        for key in await asyncio.to_thread(self._keys, ""):
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:  # type: ignore[override]
        prefix = prefix.rstrip("/")
        base = f"{prefix}/" if prefix else ""
        seen: set[str] = set()
        for key in await asyncio.to_thread(self._keys, prefix):
            head = key[len(base) :].split("/", 1)[0]
            if head and head not in seen:
                seen.add(head)
                yield head

    def _keys(self, sub: str) -> builtins.list[str]:
        base = self.prefix + "/"
        return [k[len(base) :] for k in self.store.find(self._rel(sub)) if k.startswith(base)]


def _slice(data: bytes, byte_range: ByteRequest | None) -> bytes:
    if byte_range is None:
        return data
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[-byte_range.suffix :]
    raise TypeError(f"unexpected byte range {byte_range!r}")


class quiet_zarr(warnings.catch_warnings):
    """Silence Zarr's notices about v3 consolidated metadata and string dtypes (documented choices)."""

    def __enter__(self) -> Any:
        out = super().__enter__()
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification")
        # lock files and berg's .berg records beside result groups are not Zarr nodes, by design
        warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr hierarchy")
        return out


def open_zarr_group(store: Store, relpath: str) -> zarr.Group:
    """Open the Zarr group at ``relpath`` of ``store`` read-only, from its consolidated metadata.

    Raises
    ------
    StoreError
        Nothing readable is there.
    IntegrityError
        It is not a Zarr v3 group.
    """
    import zarr

    zstore = StoreZarr(store, relpath)
    try:
        with quiet_zarr():
            return zarr.open_group(zstore, mode="r", zarr_format=3, use_consolidated=True)
    except (StoreError, IntegrityError):
        raise
    except FileNotFoundError:
        raise StoreError(f"no Zarr group at {store.url_of(relpath)}") from None
    except Exception as exc:
        raise IntegrityError(f"{store.url_of(relpath)} is not a readable Zarr v3 group: {type(exc).__name__}: {exc}") from None


def fsspec_zarr_store(url: str, storage_options: dict[str, Any] | None = None, read_only: bool = True) -> Any:
    """Zarr's ``FsspecStore`` at the fsspec URL ``url``, each of its requests under the network deadline.

    Built as ``FsspecStore.from_url`` builds it (an asynchronous filesystem), through
    :func:`~berg_core.store.network.bounded_filesystem` so a silent server gives a
    :class:`StoreError` instead of holding a read or write for minutes.
    """
    import zarr.storage

    fs, path = bounded_filesystem(url, storage_options, asynchronous=True)
    if not fs.async_impl:  # Zarr wraps blocking filesystems in threads of its own
        return zarr.storage.FsspecStore.from_url(url, storage_options=dict(storage_options or {}), read_only=read_only)
    return zarr.storage.FsspecStore(fs=fs, path=path, read_only=read_only)


def writable_zarr_store(url: str, storage_options: dict[str, Any] | None = None) -> Any:
    """A writable Zarr store at a local path or fsspec URL (fsspec's configuration applies).

    Raises
    ------
    StoreError
        The location cannot be opened for writing.
    """
    import zarr.storage

    try:
        if "://" not in url or url.startswith("file://"):
            from pathlib import Path

            path = Path(url.removeprefix("file://")).expanduser()
            path.mkdir(parents=True, exist_ok=True)
            return zarr.storage.LocalStore(path)
        return fsspec_zarr_store(url, storage_options, read_only=False)
    except OSError as exc:
        raise StoreError(f"cannot write to {url}: {type(exc).__name__}: {exc}") from None
    except (ValueError, TypeError, ImportError) as exc:
        raise StoreError(f"cannot open {url} for writing: {exc}") from None
