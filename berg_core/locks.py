"""Exclusive write locks on result stores: one writer per result group.

``encode(..., store=...)`` takes the lock of every result group it writes
before it reads the group's state, and gives it back once the result is
complete (or the encode fails, see :meth:`ZarrResultSink.abort
<berg_core.results_zarr.ZarrResultSink.abort>`). A second process that asks
for the same group meanwhile gets a :class:`~berg_core.StoreError` naming the
holder; processes that write *different* groups (the models of a multi-model
store) do not block each other. Workers of a distributed encode write disjoint
regions of a group whose lock their client holds.

The lock is a small JSON file next to the group, ``<group>.lock``
(``run.zarr`` -> ``run.zarr.lock``), naming its holder: process id, host,
the process's start time, thread, when it was taken, and the command.

Local paths
    The file is created with ``O_CREAT | O_EXCL``, atomic on local filesystems
    and NFS v3+: of two processes, exactly one creates it.
fsspec URLs (``s3://``, ``gs://``...)
    The file is created with ``pipe_file(mode="create")``: atomic where the
    filesystem has conditional writes (S3 ``If-None-Match`` through s3fs);
    elsewhere fsspec checks, then writes, which leaves a short race window. The
    holder is read back afterwards, so a writer that lost such a race finds out.

A lock whose holder is gone is *stale* and taken over without asking: its
process runs on this host but no longer exists (or its pid now belongs to a
process started later), or its holder is the calling thread itself (an earlier
encode of this thread that failed). A stale lock is renamed away before it is
replaced, so two processes that find the same stale lock cannot both take it.
A lock held on another host cannot be checked from here and is never broken
automatically: if that process is gone, delete the file named in the error or
call :func:`break_lock`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from .errors import StoreError

__all__ = ["LOCK_SUFFIX", "LockHolder", "WriteLock", "break_lock", "lock_url", "read_lock"]

LOCK_SUFFIX = ".lock"
#: How long a lock file may stay unreadable (being written) before it counts as stale, in seconds.
UNREADABLE_GRACE_S = 5.0
_HOST = socket.gethostname()
_log = logging.getLogger("berg_core.locks")
#: Tokens of the locks this process holds now -> the thread that took each.
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: what the lock file says."""

    pid: int
    host: str
    token: str
    taken_at: float
    thread: int = 0
    pid_start: str | None = None
    command: str = ""

    @classmethod
    def for_this_thread(cls) -> LockHolder:
        pid = os.getpid()
        return cls(pid=pid, host=_HOST, token=uuid.uuid4().hex, taken_at=time.time(), thread=threading.get_ident(),
                   pid_start=_process_start(pid), command=" ".join(sys.argv)[:300])

    def to_json(self) -> bytes:
        return json.dumps({"berg_lock": 1, **asdict(self)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LockHolder | None:
        """The holder a lock file names, or ``None`` when the file is not (yet) a whole lock record."""
        try:
            raw = json.loads(data)
            return cls(pid=int(raw["pid"]), host=str(raw["host"]), token=str(raw["token"]), taken_at=float(raw["taken_at"]),
                       thread=int(raw.get("thread", 0)), pid_start=raw.get("pid_start"), command=str(raw.get("command", "")))
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            return None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.taken_at))
        command = f" ({self.command})" if self.command else ""
        return f"process {self.pid} on host {self.host!r}{command}, since {when}"


def lock_url(url: str) -> str:
    """Where the lock of the result group at ``url`` lives: next to it, ``<url>.lock``."""
    return url.rstrip("/") + LOCK_SUFFIX


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    return os.path.expanduser(url.removeprefix("file://"))


# ---- is the holder still there? ----------------------------------------------------------
def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` from the state on (Linux), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    return text[text.rfind(")") + 2 :].split()


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, to tell a reused pid apart (Linux)."""
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True  # cannot tell: assume it runs
    fields = _proc_stat(pid)
    return not (fields is not None and fields[0] == "Z")  # a killed child not yet reaped is gone


def stale_reason(holder: LockHolder) -> str | None:
    """Why ``holder`` no longer holds its lock, or ``None`` when it may still be writing."""
    if holder.host != _HOST:
        return None  # another machine's processes cannot be checked from here
    if holder.pid == os.getpid():
        with _HELD_GUARD:
            thread = _HELD.get(holder.token)
        if thread is None:
            return "no part of this process holds it (an earlier process with the same pid took it)"
        if thread == threading.get_ident():
            return "it was taken by an earlier encode of this thread, which did not finish"
        if thread not in {t.ident for t in threading.enumerate()}:
            return "the thread that took it has ended"
        return None
    if not _pid_alive(holder.pid):
        return f"process {holder.pid} does not run any more"
    now = _process_start(holder.pid)
    if holder.pid_start is not None and now is not None and now != holder.pid_start:
        return f"process {holder.pid} is a newer process that reuses the pid"
    return None


# ---- the lock ------------------------------------------------------------------------------
class WriteLock:
    """The exclusive write lock of the result group at ``url``.

    Parameters
    ----------
    url
        Local path or fsspec URL of the result group (the lock file is ``url + ".lock"``).
    storage_options
        fsspec options for ``url``.

    Examples
    --------
    >>> with WriteLock("run.zarr"):  # doctest: +SKIP
    ...     ...  # nobody else writes run.zarr here
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.path = lock_url(self.url)
        self.storage_options = dict(storage_options or {})
        self._holder: LockHolder | None = None
        self._fs: Any = None
        self._fs_path = ""

    def __repr__(self) -> str:
        return f"WriteLock({self.url!r}, held={self.held})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._holder is not None

    def __enter__(self) -> WriteLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---- taking and giving back ----------------------------------------------------------
    def acquire(self) -> WriteLock:
        """Take the lock, taking over a stale one.

        Raises
        ------
        StoreError
            Another live writer holds it (the message names it and how to clear a lock
            whose holder is gone), or the lock file cannot be written.
        """
        if self.held:
            return self
        mine = LockHolder.for_this_thread()
        for _ in range(5):
            if self._create(mine.to_json()):
                self._holder = mine
                with _HELD_GUARD:
                    _HELD[mine.token] = mine.thread
                if not _is_local(self.url) and not self._still_mine():
                    continue  # lost a check-then-write race on a filesystem without conditional writes
                return self
            exists, holder = self._read_settled()
            if not exists:
                continue  # given back meanwhile
            reason = "its file is unreadable" if holder is None else stale_reason(holder)
            if reason is None:
                raise StoreError(self._refusal(holder))
            _log.warning("taking over the stale lock %s (%s)", self.path, reason)
            self._remove_stale(holder)
        raise StoreError(f"cannot take the lock {self.path}: other writers keep taking it; try again")

    def release(self) -> None:
        """Give the lock back (a no-op when not held); a lock someone else took over is left alone."""
        holder, self._holder = self._holder, None
        if holder is None:
            return
        with _HELD_GUARD:
            _HELD.pop(holder.token, None)
        try:
            current = self._read()
            if current is not None and current.token == holder.token:
                self._remove()
        except Exception as exc:  # giving back must not hide the error that ended the encode
            _log.warning("could not remove the lock %s (%s: %s); the next writer will find it stale", self.path,
                         type(exc).__name__, exc)

    def _still_mine(self) -> bool:
        current = self._read()
        if self._holder is not None and current is not None and current.token == self._holder.token:
            return True
        with _HELD_GUARD:
            _HELD.pop(self._holder.token if self._holder else "", None)
        self._holder = None
        return False

    def _refusal(self, holder: LockHolder | None) -> str:
        who = holder.describe() if holder is not None else "a writer that is creating it now"
        return (
            f"{self.url} is being written by another encode: {who} holds its lock {self.path}. Wait for it to "
            f"finish, or write to another store. If that process is gone (it ran on another machine, or it hangs), "
            f"delete {self.path} or call berg_core.locks.break_lock({self.url!r})"
        )

    # ---- file operations -----------------------------------------------------------------
    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            import fsspec

            try:
                self._fs, self._fs_path = fsspec.core.url_to_fs(self.path, **self.storage_options)
            except (ValueError, TypeError, ImportError) as exc:
                raise StoreError(f"cannot open the lock {self.path}: {exc}") from None
        return self._fs, self._fs_path

    def _create(self, data: bytes) -> bool:
        """Create the lock file holding ``data``; ``False`` if it exists already."""
        if _is_local(self.url):
            path = _local_path(self.path)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            except OSError as exc:
                raise StoreError(f"cannot create the lock {self.path} of {self.url}: {type(exc).__name__}: {exc}") from None
            try:
                os.write(fd, data)
                os.fsync(fd)
            except OSError as exc:
                os.close(fd)
                os.unlink(path)
                raise StoreError(f"cannot write the lock {self.path} of {self.url}: {type(exc).__name__}: {exc}") from None
            os.close(fd)
            return True
        fs, path = self._filesystem()
        try:
            fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        except Exception as exc:
            # some stores report a failed condition as another error: the lock then exists
            if self._exists():
                return False
            raise StoreError(f"cannot create the lock {self.path} of {self.url}: {type(exc).__name__}: {exc}") from None
        return True

    def _exists(self) -> bool:
        try:
            return self._read_bytes() is not None
        except StoreError:
            return False

    def _read_bytes(self) -> bytes | None:
        try:
            if _is_local(self.url):
                with open(_local_path(self.path), "rb") as fh:
                    return fh.read()
            fs, path = self._filesystem()
            fs.invalidate_cache(path)
            return bytes(fs.cat_file(path))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise StoreError(f"cannot read the lock {self.path}: {type(exc).__name__}: {exc}") from None

    def _read(self) -> LockHolder | None:
        data = self._read_bytes()
        return None if data is None else LockHolder.from_json(data)

    def _read_settled(self) -> tuple[bool, LockHolder | None]:
        """Whether the lock exists, and its holder (``None``: unreadable); waits while it is being written."""
        deadline = time.monotonic() + UNREADABLE_GRACE_S
        while True:
            data = self._read_bytes()
            if data is None:
                return False, None
            holder = LockHolder.from_json(data)
            if holder is not None or time.monotonic() > deadline:
                return True, holder
            time.sleep(0.05)

    def _remove(self) -> None:
        if _is_local(self.url):
            try:
                os.unlink(_local_path(self.path))
            except FileNotFoundError:
                pass
            return
        fs, path = self._filesystem()
        try:
            fs.rm_file(path)
        except FileNotFoundError:
            pass

    def _remove_stale(self, stale: LockHolder | None) -> None:
        """Remove the stale lock ``stale`` unless another writer replaced it meanwhile."""
        token = stale.token if stale is not None else None
        if not _is_local(self.url):
            current = self._read()
            if current is None or current.token == token:
                self._remove()
            return
        path = _local_path(self.path)
        aside = f"{path}.stale-{uuid.uuid4().hex}"
        try:
            os.rename(path, aside)  # atomic: of two processes taking over, one moves it
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot remove the stale lock {self.path}: {type(exc).__name__}: {exc}") from None
        try:
            with open(aside, "rb") as fh:
                moved = LockHolder.from_json(fh.read())
            if moved is not None and moved.token != token:
                # a live writer replaced the stale lock between our read and the rename: give its lock back
                try:
                    os.link(aside, path)
                except OSError:
                    pass
        finally:
            os.unlink(aside)


def read_lock(url: str, storage_options: dict[str, Any] | None = None) -> LockHolder | None:
    """The holder of the lock of the result group at ``url``, or ``None`` when it is not locked."""
    return WriteLock(url, storage_options)._read()


def break_lock(url: str, storage_options: dict[str, Any] | None = None) -> LockHolder | None:
    """Remove the lock of the result group at ``url`` whoever holds it; returns the holder it named.

    For a lock whose holder is known to be gone but cannot be detected as such
    (a process on another machine). Breaking the lock of a live writer lets two
    writers into one group: its result is then not to be trusted.
    """
    lock = WriteLock(url, storage_options)
    holder = lock._read()
    if holder is not None or lock._read_bytes() is not None:
        lock._remove()
    return holder
