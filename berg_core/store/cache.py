"""The local cache of remote stores.

Each remote store (URL + endpoint) gets a *mirror* folder under the cache
directory, holding the files read so far at the same relative paths as in the
store, so a mirror is itself a valid local BERG store. Next to the files,
``.berg-cache.json`` remembers what the remote answered about paths (their
size, or that they do not exist), so a second load of a model needs no
network at all: BERG stores are published as immutable releases, and the
cache treats them so. ``berg cache clear`` forgets everything.

When a cached file is used: a file of a folder with a manifest when its SHA-256
matches the manifest's; any other file when its size is the one recorded when it
was fetched (the remote's answer then; asked again if that record was lost). A
cached file is not compared with the remote otherwise (that is what makes a
second load work offline): after a store changed on the server, ``berg cache clear``. Unfinished copies (``.part``) are
resumed only against the same version of the remote file (:mod:`berg_core.store.fetch`).

The cache directory is, in order: the ``cache_dir`` argument, ``$BERG_CACHE_DIR``,
``$XDG_CACHE_HOME/berg``, ``~/.cache/berg``.

fsspec's own ``filecache``/``simplecache`` are not used for this, for three
reasons checked against fsspec 2026.9: they download straight to the final
cache file, so an interrupted download is later served as if complete; they
ask the remote whether a file exists before every open of an uncached file,
so a cache cannot serve an offline load; and ``filecache`` rewrites one JSON
record of all cached files after every file, which is quadratic in the
thousands of chunks of a Zarr store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berg_core.errors import StoreError
from berg_core.store.fetch import PARTIAL_SUFFIXES, write_atomic

__all__ = [
    "CACHE_ENV",
    "CachedStoreInfo",
    "StoreCache",
    "cache_info",
    "clear_cache",
    "default_cache_dir",
    "describe_cache",
    "human_size",
    "resolve_cache_dir",
]

CACHE_ENV = "BERG_CACHE_DIR"
INDEX_NAME = ".berg-cache.json"
STORES_DIR = "stores"
_DIR = -1  # index value for a path that is a folder


def default_cache_dir() -> Path:
    """``$BERG_CACHE_DIR``, else ``$XDG_CACHE_HOME/berg``, else ``~/.cache/berg``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "berg"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory for an optional explicit ``cache_dir``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def mirror_name(url: str, endpoint: str | None) -> str:
    """Folder name of a store's mirror: readable, and unique per URL and endpoint."""
    digest = hashlib.sha256(f"{url.rstrip('/')}\n{endpoint or ''}".encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1].strip("/"))[:80] or "root"
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    return f"{protocol}_{slug}_{digest}"


class StoreCache:
    """The mirror of one remote store on local disk.

    Parameters
    ----------
    folder
        The mirror folder (created if needed).
    url
        The store's URL, recorded for ``berg cache info``.
    endpoint
        The endpoint the store was read from (S3-compatible servers), if not the default.
    """

    def __init__(self, folder: Path, url: str, endpoint: str | None = None, temporary: bool = False) -> None:
        self.folder = folder
        self.url = url
        self.endpoint = endpoint
        self.temporary = temporary
        self._lock = threading.Lock()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the cache folder {folder}: {exc} (set {CACHE_ENV} or cache_dir=)") from None
        self._known: dict[str, int | None] = self._load_index()

    @classmethod
    def for_store(cls, url: str, endpoint: str | None, cache_dir: str | os.PathLike[str] | bool | None = None) -> StoreCache:
        """The mirror of ``url`` in the cache directory (``cache_dir=False``: a temporary one)."""
        if cache_dir is False:
            tmp = tempfile.TemporaryDirectory(prefix="berg-cache-")
            cache = cls(Path(tmp.name), url, endpoint, temporary=True)
            cache._tmp = tmp  # type: ignore[attr-defined]  # removed with the cache object
            return cache
        if cache_dir is True:
            cache_dir = None
        root = resolve_cache_dir(cache_dir)
        return cls(root / STORES_DIR / mirror_name(url, endpoint), url, endpoint)

    def __repr__(self) -> str:
        return f"StoreCache({self.url!r} -> {str(self.folder)!r})"

    # ---- files ----------------------------------------------------------------------------
    def path(self, relpath: str) -> Path:
        """Local path of ``relpath`` in the mirror (whether or not it is there yet)."""
        return self.folder.joinpath(*[p for p in relpath.split("/") if p])

    def has(self, relpath: str) -> bool:
        """Whether the mirror holds the complete file ``relpath``."""
        return self.path(relpath).is_file()

    def write(self, relpath: str, data: bytes) -> Path:
        """Put a complete, verified file into the mirror."""
        target = self.path(relpath)
        write_atomic(target, data)
        return target

    # ---- what the remote said -------------------------------------------------------------
    def known(self, relpath: str) -> tuple[bool, int | None]:
        """``(known, size)``: whether the remote was asked about ``relpath``, and its size
        (``None``: it does not exist; ``-1``: it is a folder)."""
        with self._lock:
            if relpath in self._known:
                return True, self._known[relpath]
        return False, None

    def remember(self, relpath: str, size: int | None) -> None:
        """Record the remote's answer about ``relpath`` (size, ``-1`` for a folder, ``None`` if absent)."""
        with self._lock:
            if relpath in self._known and self._known[relpath] == size:
                return
            self._known[relpath] = size
            self._save_index()

    def _load_index(self) -> dict[str, int | None]:
        path = self.folder / INDEX_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = data.get("known", {}) if isinstance(data, dict) else {}
            return {str(k): (int(v) if isinstance(v, int) else None) for k, v in known.items()}
        except (OSError, ValueError):
            return {}

    def _save_index(self) -> None:
        data = {"url": self.url, "endpoint": self.endpoint, "known": self._known}
        try:
            write_atomic(self.folder / INDEX_NAME, json.dumps(data, sort_keys=True).encode())
        except OSError:
            pass  # the index only saves network round trips; files stay valid without it

    # ---- reporting ------------------------------------------------------------------------
    def info(self) -> CachedStoreInfo:
        return _info_of(self.folder)


@dataclass(frozen=True)
class CachedStoreInfo:
    """Size report of one cached store."""

    url: str
    endpoint: str | None
    folder: Path
    files: int
    bytes: int
    partial_bytes: int

    def line(self) -> str:
        ep = f" via {self.endpoint}" if self.endpoint else ""
        part = f", {human_size(self.partial_bytes)} in interrupted downloads" if self.partial_bytes else ""
        return f"{self.url}{ep}: {self.files} files, {human_size(self.bytes)}{part}  [{self.folder}]"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _info_of(folder: Path) -> CachedStoreInfo:
    url, endpoint = str(folder), None
    try:
        data = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
        url, endpoint = data.get("url", url), data.get("endpoint")
    except (OSError, ValueError):
        pass
    files = size = partial = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            if name == INDEX_NAME:
                continue
            n = os.path.getsize(os.path.join(dirpath, name))
            if name.endswith(PARTIAL_SUFFIXES):
                partial += n
            else:
                files += 1
                size += n
    return CachedStoreInfo(url, endpoint, folder, files, size, partial)


def cache_info(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedStoreInfo]:
    """What the cache holds, per store."""
    root = resolve_cache_dir(cache_dir) / STORES_DIR
    if not root.is_dir():
        return []
    return [_info_of(p) for p in sorted(root.iterdir()) if p.is_dir()]


def clear_cache(cache_dir: str | os.PathLike[str] | None = None, url: str | None = None) -> int:
    """Delete the cached stores (only the one of ``url`` when given); returns the bytes freed."""
    freed = 0
    for info in cache_info(cache_dir):
        if url is not None and info.url.rstrip("/") != url.rstrip("/"):
            continue
        freed += info.bytes + info.partial_bytes
        shutil.rmtree(info.folder, ignore_errors=True)
    return freed


def describe_cache(cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The cache report as a JSON-friendly dict."""
    stores = cache_info(cache_dir)
    return {
        "cache_dir": str(resolve_cache_dir(cache_dir)),
        "total_bytes": sum(s.bytes + s.partial_bytes for s in stores),
        "stores": [
            {"url": s.url, "endpoint": s.endpoint, "folder": str(s.folder), "files": s.files, "bytes": s.bytes, "partial_bytes": s.partial_bytes}
            for s in stores
        ],
    }
