"""Copying one remote file to local disk: resumable, verified, atomic.

The bytes go to ``NAME.part`` next to the target; an interrupted copy leaves
the ``.part`` file, and the next call continues from its size. The target
name appears only once the copy is complete and verified, so a reader never
sees a partial file. Used by the store cache and by ``berg download``.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BERGError, IntegrityError, StoreError

__all__ = ["BLOCK_SIZE", "fetch_file", "write_atomic", "store_error"]

BLOCK_SIZE = 8 << 20
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def store_error(exc: BaseException, url: str, action: str = "read") -> StoreError:
    """A :class:`StoreError` naming ``url`` for an error of a filesystem call."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return StoreError(f"missing file in store: {url}")
    if isinstance(exc, PermissionError):
        return StoreError(
            f"cannot {action} {url}: access denied ({exc}). For a public bucket pass storage_options={{'anon': True}}; "
            "for a private one, credentials"
        )
    return StoreError(f"cannot {action} {url}: {type(exc).__name__}: {exc}")


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path), threading.Lock())


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a unique temporary name, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch_file(
    fs: Any,
    rpath: str,
    target: Path,
    size: int,
    url: str,
    verify: Callable[[Path], None] | None = None,
    progress: Callable[[int], None] | None = None,
    block_size: int = BLOCK_SIZE,
) -> Path:
    """Copy ``rpath`` of ``fs`` (``size`` bytes) to ``target``.

    Parameters
    ----------
    fs, rpath
        The fsspec filesystem and the path on it.
    target
        Local file to create; ``target.part`` holds the bytes while copying.
    size
        Expected size in bytes (from the manifest or the server's listing).
    url
        The file's URL, for messages.
    verify
        Called with the complete ``.part`` file; raises :class:`IntegrityError` to reject it
        (the ``.part`` file is then deleted).
    progress
        Called with the number of bytes of each block copied.

    Raises
    ------
    StoreError
        The server failed or sent fewer bytes than expected (the ``.part`` file is kept to resume).
    IntegrityError
        ``verify`` rejected the file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with _lock_for(target):
        if target.exists():
            return target
        part.touch()  # an empty file has nothing to fetch, but must still become the target
        have = part.stat().st_size
        if have > size:
            part.unlink()
            have = 0
        if have and progress is not None:
            progress(have)
        if have < size:
            try:
                with fs.open(rpath, "rb", block_size=block_size, cache_type="none") as src, open(part, "ab") as dst:
                    if have:
                        src.seek(have)
                    while have < size:
                        chunk = src.read(min(block_size, size - have))
                        if not chunk:
                            break
                        dst.write(chunk)
                        have += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
            except BERGError:
                raise
            except Exception as exc:
                raise store_error(exc, url) from None
        if have != size:
            raise StoreError(f"cannot read {url}: got {have} of {size} bytes; the partial copy is kept and the next attempt resumes it")
        if verify is not None:
            try:
                verify(part)
            except IntegrityError:
                part.unlink()
                raise
        os.replace(part, target)
    return target
