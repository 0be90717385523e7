"""Access to a BERG model store: a local folder or any fsspec URL.

The store is read as BERG 2.0 publishes it (``encoding_models/modality-.../``),
or in berg's native Zarr layout (``specs/store_layout.md``). All file access
goes through :class:`Store`, so that:

* local folders, ``s3://`` buckets and other fsspec filesystems behave the same,
  with fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL``, ``~/.config/fsspec``...)
  applied by fsspec when the filesystem is built;
* remote files are read once into the local cache (:mod:`berg_core.store.cache`) and then
  served from disk, so a second load needs no network;
* every file of a folder with a manifest (:mod:`berg_core.store.manifest`) is checked
  against it before any of its bytes are used;
* every failure becomes a :class:`~berg_core.StoreError` naming the URL.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Callable
from functools import cached_property
from typing import IO, Any

import fsspec

from berg_core.errors import BERGError, IntegrityError, StoreError
from berg_core.store.cache import StoreCache
from berg_core.store.fetch import BLOCK_SIZE, fetch_file, store_error
from berg_core.store.manifest import MANIFEST_NAME, Manifest, manifest_root
from berg_core.store.network import call, connect, is_local, with_network_defaults
from berg_core.store.synthetic_marker import synthetic_note

__all__ = ["BERG_DIR_ENV", "DEFAULT_STORE_URL", "Store", "resolve_store"]

DEFAULT_STORE_URL = "s3://brain-encoding-response-generator"
BERG_DIR_ENV = "BERG_DIR"


class Store:
    """A BERG store rooted at ``url``.

    Parameters
    ----------
    url
        Local path or fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``file:///...``).
    storage_options
        Passed to fsspec (for S3: ``anon``, ``endpoint_url``, ``client_kwargs``...); fsspec
        adds its configured defaults (``FSSPEC_S3_*`` variables, ``~/.config/fsspec``), and
        S3 gets bounded botocore timeouts unless ``config_kwargs`` set them
        (:mod:`berg_core.store.network`). Every request has a total deadline of
        ``$BERG_NETWORK_TIMEOUT`` seconds (default 15).
    cache_dir
        Where remote files are cached: a folder, ``None`` for the default
        (``$BERG_CACHE_DIR`` or ``~/.cache/berg``), or ``False`` for a temporary
        cache removed with the store. Local stores are never cached.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | bool | None = None,
    ) -> None:
        if not isinstance(url, (str, os.PathLike)):
            raise StoreError(f"berg_dir must be a path or URL string, got {type(url).__name__}: {url!r}")
        self.url = os.fspath(url)
        if not self.url.strip():
            raise StoreError(f"berg_dir is {self.url!r}, {'an empty' if not self.url else 'a blank'} string; expected a folder path or a URL such as s3://bucket/prefix")
        if storage_options is not None and not isinstance(storage_options, dict):
            raise StoreError(f"storage_options must be a dict of fsspec options, got {type(storage_options).__name__}")
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, self.root = connect(self.url, with_network_defaults(self.url, self.storage_options))
        except BERGError:
            raise
        except ImportError as exc:
            raise StoreError(
                f"cannot open store {self.url!r}: the filesystem needs an extra package ({exc}). "
                "For s3:// install s3fs (pip install s3fs)."
            ) from None
        except (ValueError, TypeError) as exc:
            raise StoreError(f"cannot open store {self.url!r}: {exc}") from None
        except OSError as exc:  # a filesystem that connects while it is built (FTP, SFTP...)
            raise store_error(exc, self.url, "open") from None
        self.root = self.root.rstrip("/") or "/"
        self.cache: StoreCache | None = None if self.is_local else StoreCache.for_store(self.url, self.endpoint, cache_dir)
        self._cache_dir_arg = cache_dir
        self._lock = threading.RLock()
        self._manifests: dict[str, Manifest | None] = {}
        self._verified: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a store pickles as its settings (its lock, filesystem and caches belong to one process)
        return Store, (self.url, self.storage_options, self._cache_dir_arg)

    # ---- identity -------------------------------------------------------------------------
    @cached_property
    def synthetic_note(self) -> str | None:
        """What results of this store say about their weights when it holds synthetic ones, else ``None``.

        Read once per store. Informational: a store that cannot be reached (an offline load from
        the cache) gives ``None`` rather than failing the load.
        """
        try:
            return synthetic_note(self)
        except StoreError:
            return None

    @property
    def is_local(self) -> bool:
        return is_local(self.fs)

    @property
    def endpoint(self) -> str | None:
        """The server endpoint of an S3-compatible store, when not the default."""
        opts = getattr(self.fs, "storage_options", None) or self.storage_options
        endpoint = opts.get("endpoint_url") or (opts.get("client_kwargs") or {}).get("endpoint_url")
        return str(endpoint) if endpoint else None

    def path(self, relpath: str) -> str:
        """Filesystem path of ``relpath`` (posix, relative to the store root)."""
        return posixpath.join(self.root, _norm(relpath))

    def url_of(self, relpath: str) -> str:
        """A human-readable URL of ``relpath`` for messages."""
        return posixpath.join(self.url.rstrip("/"), relpath.lstrip("/"))

    # ---- manifests ------------------------------------------------------------------------
    def manifest(self, folder: str) -> Manifest | None:
        """The manifest of ``folder`` (relative to the root), or ``None`` when it has none."""
        folder = _norm(folder)
        with self._lock:
            if folder in self._manifests:
                return self._manifests[folder]
        rel = f"{folder}/{MANIFEST_NAME}"
        data = self._raw_bytes(rel, missing_ok=True)
        found = None if data is None else Manifest.from_json(data, self.url_of(rel))
        with self._lock:
            self._manifests[folder] = found
        return found

    def _covering(self, rel: str) -> tuple[Manifest | None, str]:
        root = manifest_root(rel)
        if root is None:
            return None, rel
        inner = rel[len(root) + 1 :]
        if inner == MANIFEST_NAME:
            return None, rel
        return self.manifest(root), inner

    # ---- queries --------------------------------------------------------------------------
    def exists(self, relpath: str) -> bool:
        """Whether ``relpath`` is a file or folder of the store (answered from the manifest when
        its folder has one, and from the cache for a remote store already asked)."""
        rel = _norm(relpath)
        manifest, inner = self._covering(rel)
        if manifest is not None:
            return inner in manifest or manifest.is_dir(inner)
        return self._raw_size(rel) is not None

    def size(self, relpath: str) -> int:
        """Size in bytes of the file ``relpath``."""
        rel = _norm(relpath)
        manifest, inner = self._covering(rel)
        entry = manifest.entry(inner) if manifest is not None else None
        if entry is not None:
            return entry.size
        size = self._raw_size(rel)
        if size is None:
            raise StoreError(f"missing file in store: {self.url_of(rel)}")
        if size < 0:
            raise StoreError(f"{self.url_of(rel)} is a folder, not a file")
        return size

    def listdir(self, relpath: str = "") -> list[str]:
        """Names of the entries in a folder of the store."""
        rel = _norm(relpath)
        try:
            entries = call(self.fs, "ls", self.path(rel), detail=False, url=self.url_of(rel), action="list")
        except FileNotFoundError:
            raise StoreError(f"missing folder in store: {self.url_of(rel)}") from None
        except Exception as exc:
            raise store_error(exc, self.url_of(rel), "list") from None
        return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)

    def find(self, relpath: str) -> dict[str, int]:
        """Every file under folder ``relpath``: path relative to the store root -> size.

        From the manifest when the folder lies in one with a manifest, else from a
        listing of the store.
        """
        rel = _norm(relpath)
        root = manifest_root(f"{rel}/{MANIFEST_NAME}")
        manifest = self.manifest(root) if root is not None else None
        if root is not None and manifest is not None:
            inner = rel[len(root) + 1 :]
            prefix = f"{inner}/" if inner else ""
            found = {f"{root}/{p}": e.size for p, e in manifest.files.items() if p.startswith(prefix)}
            if not inner:
                found[f"{root}/{MANIFEST_NAME}"] = self._raw_size(f"{root}/{MANIFEST_NAME}") or 0
            return dict(sorted(found.items()))
        base = self.path(rel).rstrip("/") + "/"
        try:
            listing = call(self.fs, "find", base, detail=True, url=self.url_of(rel), action="list")
        except FileNotFoundError:
            raise StoreError(f"missing folder in store: {self.url_of(rel)}") from None
        except Exception as exc:
            raise store_error(exc, self.url_of(rel), "list") from None
        out: dict[str, int] = {}
        for name, info in listing.items():
            name = self.fs._strip_protocol(name)
            if info.get("type") == "directory" or not name.startswith(base):
                continue
            out[posixpath.join(rel, name[len(base) :])] = int(info.get("size") or 0)
        return dict(sorted(out.items()))

    # ---- reading --------------------------------------------------------------------------
    def open(self, relpath: str, mode: str = "rb", **kwargs: Any) -> IO[bytes]:
        """Open a file of the store.

        Reading (``"rb"``) gives a local file: the store's own for a local store, the
        cached copy for a remote one (fetched first if needed), checked against the
        folder's manifest. Other modes open the file on the store's filesystem.

        Raises
        ------
        StoreError
            The file does not exist or cannot be reached; the message names its URL.
        IntegrityError
            The file does not match its manifest.
        """
        if mode != "rb":
            try:
                return self.fs.open(self.path(relpath), mode, **kwargs)  # type: ignore[no-any-return]
            except Exception as exc:
                raise store_error(exc, self.url_of(relpath), "open") from None
        return open(self.local_file(relpath), "rb")

    def local_file(self, relpath: str) -> str:
        """A verified local copy of ``relpath`` (the file itself for a local store)."""
        rel = _norm(relpath)
        url = self.url_of(rel)
        manifest, inner = self._covering(rel)
        entry = manifest.entry(inner) if manifest is not None else None
        if self.cache is None:
            path = self.path(rel)
            if not os.path.isfile(path):
                hint = " (is berg_dir the root of a BERG store, the folder that holds 'encoding_models/'?)"
                raise StoreError(f"missing file in store: {url}{hint if not os.path.exists(path) else ' (a folder, not a file)'}")
            self._check_local(path, manifest, inner, url)
            return path
        if manifest is not None and entry is None:
            raise StoreError(f"missing file in store: {url} (not listed in {manifest.source})")
        target = self.cache.path(rel)
        if target.is_file():
            self._check_local(str(target), manifest, inner, url, cached_rel=rel)
            return str(target)
        size = entry.size if entry is not None else self._raw_size(rel)
        if size is None:
            raise StoreError(f"missing file in store: {url}")
        if size < 0:
            raise StoreError(f"{url} is a folder, not a file")
        verify = None if manifest is None else (lambda p: manifest.check_file(inner, p, url))
        # without a manifest, the remote's own answer is the size (the one remembered may be stale)
        fetch_file(self.fs, self.path(rel), target, None if entry is None else size, url, verify=verify)
        if entry is None:
            self.cache.remember(rel, target.stat().st_size)  # what a cached copy must have to be used again
        self._remember_verified(str(target))
        return str(target)

    def map_array(self, relpath: str, dtype: Any, shape: tuple[int, ...]) -> Any:
        """The raw file ``relpath`` of a local store as a copy-on-write memory map, or ``None``.

        ``None`` where mapping does not apply (a remote or cached store, a missing file, or one
        whose size is not that of ``shape`` x ``dtype``): the caller reads it its usual way. A file
        listed in a manifest is verified first, as :meth:`local_file` verifies it (its SHA-256 is
        remembered by file identity, :func:`berg_core.store.derived_cache.known_sha256`, so a later
        load in any process maps the unchanged file without hashing it again).

        Raises
        ------
        IntegrityError
            The file does not match its manifest, or is not listed in it.
        """
        import numpy as np

        rel = _norm(relpath)
        if not self.is_local or self.cache is not None:
            return None
        path = self.path(rel)
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        try:
            if os.path.getsize(path) != nbytes or nbytes == 0:
                return None
        except OSError:
            return None
        manifest, inner = self._covering(rel)
        self._check_local(path, manifest, inner, self.url_of(rel))
        return np.memmap(path, dtype=dt, mode="c", shape=shape)

    def read_bytes(self, relpath: str, missing_ok: bool = False) -> bytes | None:
        """The verified content of ``relpath`` (``None`` if missing and ``missing_ok``)."""
        rel = _norm(relpath)
        url = self.url_of(rel)
        manifest, inner = self._covering(rel)
        if manifest is None:
            return self._raw_bytes(rel, missing_ok)
        entry = manifest.entry(inner)
        if entry is None:
            if self.cache is None and os.path.isfile(self.path(rel)):
                manifest.check_bytes(inner, b"", url)  # raises: a file the manifest does not list
            if missing_ok:
                return None
            raise StoreError(f"missing file in store: {url} (not listed in {manifest.source})")
        data = self._raw_bytes(rel, True, size=entry.size, check=lambda data: manifest.check_bytes(inner, data, url))
        if data is None:
            # a file the manifest lists must be there, even where a missing one is allowed: Zarr would read a
            # missing chunk as zeros
            raise IntegrityError(
                f"{url} is listed in {manifest.source} but missing: the store is damaged or was not copied "
                "completely; convert or download it again"
            )
        return data

    # ---- raw access (no manifest) ---------------------------------------------------------
    def _raw_size(self, rel: str) -> int | None:
        """Size of ``rel`` (``-1`` for a folder, ``None`` if absent), remembered for remote stores."""
        cache = self.cache
        if cache is not None:
            known, size = cache.known(rel)
            if known:
                return size
        try:
            info = call(self.fs, "info", self.path(rel), url=self.url_of(rel), action="reach")
            size = -1 if info.get("type") == "directory" else int(info.get("size") or 0)
        except FileNotFoundError:
            size = None
        except Exception as exc:
            raise store_error(exc, self.url_of(rel), "reach") from None
        if cache is not None:
            cache.remember(rel, size)
        return size

    def _raw_bytes(
        self, rel: str, missing_ok: bool, size: int | None = None, check: Callable[[bytes], None] | None = None
    ) -> bytes | None:
        """Bytes of ``rel``: ``check`` (if given) runs before they are cached or returned."""
        url = self.url_of(rel)
        cache = self.cache
        if cache is None:
            try:
                with open(self.path(rel), "rb") as fh:
                    data = fh.read()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                if missing_ok:
                    return None
                raise StoreError(f"missing file in store: {url}") from None
            except OSError as exc:
                raise store_error(exc, url) from None
            if check is not None:
                check(data)
            return data
        known, known_size = cache.known(rel)
        if size is None and known and known_size is not None and known_size >= 0:
            size = known_size
        if cache.has(rel):
            data = cache.path(rel).read_bytes()
            if check is None and size is None:
                size = self._raw_size(rel)  # no size was recorded (a lost index): the remote's answer
            if check is not None:
                check(data)
            elif size is not None and size >= 0 and len(data) != size:
                raise IntegrityError(
                    f"the cached copy of {url} has {len(data)} bytes, expected {size}; nothing from it was used. "
                    "Run 'berg cache clear' and load again."
                )
            return data
        if check is None and known and (known_size is None or known_size < 0):
            if missing_ok:
                return None
            raise StoreError(f"missing file in store: {url}" if known_size is None else f"{url} is a folder, not a file")
        if size is not None and size > BLOCK_SIZE:
            # large files in blocks, each within the deadline, resumable (a Zarr array read whole, say)
            verify = None if check is None else (lambda p: check(p.read_bytes()))
            # a size only remembered (no manifest) may be stale: the remote's own answer is the size then
            data = fetch_file(self.fs, self.path(rel), cache.path(rel), size if check is not None else None, url, verify=verify).read_bytes()
            if check is None:
                cache.remember(rel, len(data))
            return data
        try:
            # a range from 0 reads in one request (a plain cat_file may ask for the size first)
            data = b"" if size == 0 else call(self.fs, "cat_file", self.path(rel), start=0, url=url)
        except (FileNotFoundError, IsADirectoryError):
            cache.remember(rel, None)
            if missing_ok:
                return None
            raise StoreError(f"missing file in store: {url}") from None
        except Exception as exc:
            raise store_error(exc, url) from None
        if check is not None:
            check(data)
        elif size is not None and len(data) != size:
            raise StoreError(f"cannot read {url}: got {len(data)} of {size} bytes")
        cache.write(rel, data)
        if check is None:
            # a manifest knows the sizes already; remembering each chunk would rewrite the index per chunk
            cache.remember(rel, len(data))
        return data  # type: ignore[no-any-return]

    # ---- verification of local files ------------------------------------------------------
    def _check_local(self, path: str, manifest: Manifest | None, inner: str, url: str, cached_rel: str | None = None) -> None:
        st = os.stat(path)
        with self._lock:
            if self._verified.get(path) == (st.st_size, st.st_mtime_ns):
                return
        if manifest is not None:
            from berg_core.store import derived_cache

            # a file hashed before, unchanged since (same identity), in any process: not hashed again
            entry = manifest.entry(inner)
            if entry is None or derived_cache.known_sha256(path) != entry.sha256:
                manifest.check_file(inner, path, url)  # raises unless listed with this size and SHA-256
                if entry is not None:
                    derived_cache.remember_sha256(path, entry.sha256)
        elif cached_rel is not None and self.cache is not None:
            size = self._raw_size(cached_rel)  # as recorded when fetched; asked again if the record was lost
            if size is not None and size >= 0 and size != st.st_size:
                raise IntegrityError(
                    f"the cached copy of {url} ({path}) has {st.st_size} bytes, expected {size}; "
                    "nothing from it was used. Run 'berg cache clear' and load again."
                )
        self._remember_verified(path)

    def _remember_verified(self, path: str) -> None:
        st = os.stat(path)
        with self._lock:
            self._verified[path] = (st.st_size, st.st_mtime_ns)


def _norm(relpath: str) -> str:
    rel = relpath.replace("\\", "/").strip("/")
    if ".." in rel.split("/"):
        raise StoreError(f"store paths must stay inside the store, got {relpath!r}")
    return rel


_EXPECTED = "expected the folder of a BERG store (the one that holds 'encoding_models/') or an fsspec URL such as s3://bucket/prefix"


def _local_path(location: str) -> str | None:
    """The local path ``location`` names (``~`` and ``file://`` resolved), ``None`` for a remote URL."""
    if not location or fsspec.utils.get_protocol(location) not in ("file", "local"):
        return None
    return str(fsspec.core.strip_protocol(location))


def _berg_dir_from_env() -> str:
    value = os.environ.get(BERG_DIR_ENV)
    if value is None:
        return DEFAULT_STORE_URL
    if not value.strip():
        raise StoreError(f"${BERG_DIR_ENV} is set to {value!r}, a blank string; {_EXPECTED}. "
                         f"Unset it to read the public BERG bucket ({DEFAULT_STORE_URL})")
    path = _local_path(value)
    if path is not None:
        if os.path.isfile(path):
            raise StoreError(f"${BERG_DIR_ENV} is set to {value!r}, which is a file; {_EXPECTED}")
        if not os.path.isdir(path):
            raise StoreError(f"${BERG_DIR_ENV} is set to {value!r}, which does not exist; {_EXPECTED}")
    return value


def resolve_store(
    berg_dir: str | os.PathLike[str] | Store | None,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
) -> Store:
    """The store for ``berg_dir``: a path/URL, ``$BERG_DIR``, or the public bucket.

    The public bucket is read anonymously unless ``storage_options`` say otherwise.
    ``$BERG_DIR`` is used when set, and must then name an existing folder or a URL:
    set to an empty or blank string it is refused (unset it to use the public bucket),
    so a script whose variable came out empty does not silently download from AWS.

    Raises
    ------
    StoreError
        ``$BERG_DIR`` is blank, or a local ``berg_dir`` (or ``$BERG_DIR``) is a file, or
        ``$BERG_DIR`` names a local path that does not exist.
    """
    if isinstance(berg_dir, Store):
        return berg_dir
    if berg_dir is None:
        berg_dir = _berg_dir_from_env()
    elif isinstance(berg_dir, (str, os.PathLike)) and os.path.isfile(_local_path(os.fspath(berg_dir)) or ""):
        raise StoreError(f"berg_dir {os.fspath(berg_dir)!r} is a file; {_EXPECTED}")
    if isinstance(berg_dir, (str, os.PathLike)) and os.fspath(berg_dir).rstrip("/") == DEFAULT_STORE_URL:
        storage_options = {"anon": True, **(storage_options or {})}
    return Store(berg_dir, storage_options, cache_dir)
