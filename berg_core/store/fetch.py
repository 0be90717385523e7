"""Copying one remote file to local disk: resumable, verified, atomic.

The bytes go to ``NAME.part`` next to the target; an interrupted copy leaves
the ``.part`` file, and the next call continues from its size. The target
name appears only once the copy is complete and verified, so a reader never
sees a partial file. Used by the store cache and by ``berg download``.

A ``.part`` file is resumed only against the very file it was started from:
``NAME.part.json`` records the remote file's identity when the copy starts (its
size and whatever of ETag, version id, generation, modification time fsspec's
``info()`` gives; size and mtime for a local file), and a later call compares it
with the remote's answer before resuming. A different answer, or one with no
more than a size to compare, starts the copy again from zero, so a file that
changed on the server is never completed with bytes of its new version. A copy
made of more than one request is checked once more at its end, which catches a
change while it was running.

Each request (the ``info()`` and each block of at most ``block_size`` bytes)
has the total deadline of :mod:`berg_core.store.network`.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from berg_core.errors import BERGError, IntegrityError, StoreError
from berg_core.store.network import call

__all__ = ["BLOCK_SIZE", "PARTIAL_SUFFIXES", "fetch_file", "remote_identity", "store_error", "write_atomic"]

BLOCK_SIZE = 8 << 20
#: Names of unfinished copies: the bytes, the identity of their source, the copier's lock, temporary files.
PARTIAL_SUFFIXES = (".part", ".part.json", ".part.lock", ".tmp")
#: Keys of fsspec ``info()`` answers that change when a file's content does (S3, GCS, Azure, HTTP, local, memory).
IDENTITY_KEYS = ("ETag", "etag", "VersionId", "version_id", "generation", "md5Hash", "Content-MD5",
                 "LastModified", "last_modified", "Last-Modified", "updated", "mtime", "created", "ino")
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


@contextmanager
def _copier_lock(path: Path) -> Iterator[None]:
    """Hold ``path`` exclusively against other processes (``flock``; waits for the holder).

    Two processes sharing a cache (workers of one machine) must not append to the same
    ``.part``. The lock file is removed by its holder: a waiter that then gets the lock of
    the removed file sees that the name no longer leads to it, and locks the new one.
    Where ``flock`` is missing (Windows), the size check of :func:`fetch_file` remains.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


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


def remote_identity(fs: Any, rpath: str, url: str) -> dict[str, Any]:
    """What identifies the content of ``rpath`` now: its size and the version fields of ``fs.info``.

    Raises
    ------
    StoreError
        The file is missing, is a folder, or the server did not answer in time.
    """
    try:
        fs.invalidate_cache(rpath)  # a listing cached earlier would answer with the old version
        info = call(fs, "info", rpath, url=url, action="reach")
    except BERGError:
        raise
    except Exception as exc:
        raise store_error(exc, url, "reach") from None
    if info.get("type") == "directory":
        raise StoreError(f"{url} is a folder, not a file")
    identity: dict[str, Any] = {"size": int(info.get("size") or 0)}
    identity.update({k: str(info[k]) for k in IDENTITY_KEYS if info.get(k) not in (None, "")})
    return identity


def _recorded_identity(stamp: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _start_over(part: Path, stamp: Path, identity: dict[str, Any]) -> None:
    # the old bytes go before the new identity is written: a crash in between must not pair them
    part.unlink(missing_ok=True)
    write_atomic(stamp, json.dumps(identity, sort_keys=True).encode())
    part.touch()


def _check_unchanged(fs: Any, rpath: str, url: str, identity: dict[str, Any], part: Path, stamp: Path) -> None:
    # bytes from several requests are one file only if no request saw another version
    if remote_identity(fs, rpath, url) != identity:
        part.unlink(missing_ok=True)
        stamp.unlink(missing_ok=True)
        raise StoreError(f"cannot read {url}: the file changed on the server while it was copied; "
                         "the copy was discarded and the next attempt starts again")


def fetch_file(
    fs: Any,
    rpath: str,
    target: Path,
    size: int | None,
    url: str,
    verify: Callable[[Path], None] | None = None,
    progress: Callable[[int], None] | None = None,
    block_size: int = BLOCK_SIZE,
) -> Path:
    """Copy ``rpath`` of ``fs`` to ``target``, resuming a partial copy of the same remote file.

    Parameters
    ----------
    fs, rpath
        The fsspec filesystem and the path on it.
    target
        Local file to create; ``target.part`` holds the bytes while copying, and
        ``target.part.json`` the identity of the remote file they come from.
    size
        Expected size in bytes (from a manifest or a listing), or ``None`` to take the remote's.
    url
        The file's URL, for messages.
    verify
        Called with the complete ``.part`` file; raises :class:`IntegrityError` to reject it
        (the ``.part`` file is then deleted).
    progress
        Called with the number of bytes of each block copied (first with the bytes resumed).
    block_size
        Bytes per request.

    Raises
    ------
    StoreError
        The server failed, did not answer in time, sent fewer bytes than expected (the
        ``.part`` file is kept to resume), or the file changed while it was copied.
    IntegrityError
        The remote file's size is not ``size``, or ``verify`` rejected the file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    stamp = target.with_name(target.name + ".part.json")
    with _lock_for(target), _copier_lock(target.with_name(target.name + ".part.lock")):
        if target.exists():
            return target
        identity = remote_identity(fs, rpath, url)
        if size is None:
            size = identity["size"]
        elif identity["size"] != size:
            raise IntegrityError(f"{url} has {identity['size']} bytes on the server, but its store lists {size}; nothing from it was used")
        have = part.stat().st_size if part.is_file() else 0
        # an identity of a size alone cannot tell two versions apart: such a copy is never resumed
        resumable = len(identity) > 1 and _recorded_identity(stamp) == identity and have <= size
        if not resumable or have == 0:
            _start_over(part, stamp, identity)
            have = 0
        if have and progress is not None:
            progress(have)
        resumed_from, requests = have, 0
        if have < size:
            try:
                with open(part, "ab") as dst:
                    while have < size:
                        n = min(block_size, size - have)
                        chunk = call(fs, "cat_file", rpath, start=have, end=have + n, url=url)
                        requests += 1
                        if len(chunk) > n:
                            raise StoreError(f"cannot read {url}: the server sent {len(chunk)} bytes for a range of {n} (byte ranges unsupported)")
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
        if not part.is_file() or part.stat().st_size != size:
            # another process appended to the same .part (where there is no flock): the bytes are mixed
            part.unlink(missing_ok=True)
            stamp.unlink(missing_ok=True)
            raise StoreError(f"cannot read {url}: another process was copying it into the same cache file {part}; "
                             "the copy was discarded and the next attempt starts again")
        if requests > 1 or (requests and resumed_from):
            _check_unchanged(fs, rpath, url, identity, part, stamp)
        if verify is not None:
            try:
                verify(part)
            except IntegrityError:
                part.unlink()
                stamp.unlink(missing_ok=True)
                raise
        os.replace(part, target)
        stamp.unlink(missing_ok=True)
    return target
