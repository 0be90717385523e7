"""Access to a BERG model store: a local folder or any fsspec URL.

The store is read as BERG 2.0 publishes it (``encoding_models/modality-.../``).
All file access goes through :class:`Store` so that local folders, ``s3://``
buckets and other fsspec filesystems behave the same, and so every failure
becomes a :class:`~berg_core.StoreError` naming the URL.
"""

from __future__ import annotations

import os
import posixpath
from typing import IO, Any

import fsspec

from .errors import StoreError

__all__ = ["BERG_DIR_ENV", "DEFAULT_STORE_URL", "Store", "resolve_store"]

DEFAULT_STORE_URL = "s3://brain-encoding-response-generator"
BERG_DIR_ENV = "BERG_DIR"


class Store:
    """A BERG store rooted at ``url``.

    Parameters
    ----------
    url
        Local path or fsspec URL (``s3://bucket/prefix``, ``file:///...``).
    storage_options
        Passed to fsspec (for S3: ``anon``, ``endpoint_url``, ``client_kwargs``...).
    """

    def __init__(self, url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> None:
        if not isinstance(url, (str, os.PathLike)):
            raise StoreError(f"berg_dir must be a path or URL string, got {type(url).__name__}: {url!r}")
        self.url = os.fspath(url)
        if not self.url:
            raise StoreError("berg_dir is an empty string; expected a folder path or a URL such as s3://bucket/prefix")
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        except ImportError as exc:
            raise StoreError(
                f"cannot open store {self.url!r}: the filesystem needs an extra package ({exc}). "
                "For s3:// install s3fs (pip install s3fs)."
            ) from None
        except (ValueError, TypeError) as exc:
            raise StoreError(f"cannot open store {self.url!r}: {exc}") from None
        self.root = self.root.rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def is_local(self) -> bool:
        protocol = self.fs.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return "file" in protocols or "local" in protocols

    def path(self, relpath: str) -> str:
        """Filesystem path of ``relpath`` (posix, relative to the store root)."""
        return posixpath.join(self.root, relpath.lstrip("/"))

    def url_of(self, relpath: str) -> str:
        """A human-readable URL of ``relpath`` for messages."""
        return posixpath.join(self.url.rstrip("/"), relpath.lstrip("/"))

    def exists(self, relpath: str) -> bool:
        try:
            return bool(self.fs.exists(self.path(relpath)))
        except Exception as exc:
            raise StoreError(f"cannot reach {self.url_of(relpath)}: {type(exc).__name__}: {exc}") from None

    def size(self, relpath: str) -> int:
        try:
            return int(self.fs.size(self.path(relpath)))
        except FileNotFoundError:
            raise StoreError(f"missing file in store: {self.url_of(relpath)}") from None
        except Exception as exc:
            raise StoreError(f"cannot read {self.url_of(relpath)}: {type(exc).__name__}: {exc}") from None

    def open(self, relpath: str, mode: str = "rb", **kwargs: Any) -> IO[bytes]:
        """Open a file of the store.

        Raises
        ------
        StoreError
            The file does not exist or cannot be reached; the message names its URL.
        """
        try:
            return self.fs.open(self.path(relpath), mode, **kwargs)  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise StoreError(
                f"missing file in store: {self.url_of(relpath)} (is berg_dir the root of a BERG store, "
                "the folder that holds 'encoding_models/'?)"
            ) from None
        except Exception as exc:
            raise StoreError(f"cannot open {self.url_of(relpath)}: {type(exc).__name__}: {exc}") from None

    def listdir(self, relpath: str = "") -> list[str]:
        """Names of the entries in a folder of the store."""
        try:
            entries = self.fs.ls(self.path(relpath), detail=False)
        except FileNotFoundError:
            raise StoreError(f"missing folder in store: {self.url_of(relpath)}") from None
        except Exception as exc:
            raise StoreError(f"cannot list {self.url_of(relpath)}: {type(exc).__name__}: {exc}") from None
        return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)


def resolve_store(berg_dir: str | os.PathLike[str] | Store | None, storage_options: dict[str, Any] | None = None) -> Store:
    """The store for ``berg_dir``: a path/URL, ``$BERG_DIR``, or the public bucket.

    The public bucket is read anonymously unless ``storage_options`` say otherwise.
    """
    if isinstance(berg_dir, Store):
        return berg_dir
    if berg_dir is None:
        berg_dir = os.environ.get(BERG_DIR_ENV) or DEFAULT_STORE_URL
        if berg_dir == DEFAULT_STORE_URL:
            storage_options = {"anon": True, **(storage_options or {})}
    return Store(berg_dir, storage_options)
