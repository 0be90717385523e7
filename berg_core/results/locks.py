"""Exclusive write locks on result stores: one writer per result group.

``encode(..., store=...)`` takes the lock of every result group it writes
before it reads the group's state, and gives it back once the result is
complete (or the encode fails, see :meth:`ZarrResultSink.abort
<berg_core.results.zarr_sink.ZarrResultSink.abort>`). A second process that asks
for the same group meanwhile gets a :class:`~berg_core.StoreError` naming the
holder; processes that write *different* groups (the models of a multi-model
store) do not block each other. Workers of a distributed encode write disjoint
regions of a group whose lock their client holds.

The lock is a small JSON file next to the group, ``<group>.lock``
(``run.zarr`` -> ``run.zarr.lock``), naming its holder: process id, host,
the process's start time, thread, when it was taken, and the command.

Local paths
    The record is written to a temporary file that is then hard-linked to the
    lock's name, which fails if the name exists (``O_CREAT | O_EXCL`` where hard
    links are not supported): atomic on local filesystems and NFS, so of two
    processes exactly one creates it, and no reader ever sees it half-written.
fsspec URLs (``s3://``, ``gs://``...)
    The file is created with ``pipe_file(mode="create")``: atomic where the
    filesystem has conditional writes (S3 ``If-None-Match`` through s3fs);
    elsewhere fsspec checks, then writes, which leaves a short race window. The
    holder is read back afterwards, so a writer that lost such a race finds out.

A lock whose holder is gone is *stale* and taken over without asking: its
process runs on this host but no longer exists (or its pid now belongs to a
process started later), or its holder is the calling thread itself (an earlier
encode of this thread that failed). One writer at a time removes a stale lock
(holding a short-lived ``<group>.lock.break`` file meanwhile), so two processes
that find the same stale lock cannot both take it.
A lock held on another host cannot be checked from here and is never broken
automatically: if that process is gone, delete the file named in the error or
call :func:`break_lock`. Hosts are told apart by host name, so containers that
share a filesystem must not share a host name (they get distinct ones by default).
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

from berg_core.errors import StoreError
from berg_core.store.network import bounded_filesystem

__all__ = ["LOCK_SUFFIX", "LockHolder", "WriteLock", "break_lock", "lock_url", "read_lock"]

LOCK_SUFFIX = ".lock"
#: The short-lived file that one writer holds while it removes a stale lock.
BREAK_SUFFIX = ".lock.break"
#: How long a lock file may stay unreadable (being written) before it counts as stale, in seconds.
UNREADABLE_GRACE_S = 5.0
#: A break file older than this was left by a writer that died while removing a stale lock, in seconds.
BREAK_TIMEOUT_S = 10.0
#: How long ``acquire`` keeps trying while other writers take over a stale lock, in seconds.
ACQUIRE_TIMEOUT_S = 10.0
_HOST = socket.gethostname()
_log = logging.getLogger("berg_core.results.locks")
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
    #: held for a moment only (deciding a store's layout): others wait for it instead of giving up
    brief: bool = False

    @classmethod
    def for_this_thread(cls, brief: bool = False) -> LockHolder:
        pid = os.getpid()
        return cls(pid=pid, host=_HOST, token=uuid.uuid4().hex, taken_at=time.time(), thread=threading.get_ident(),
                   pid_start=_process_start(pid), command=" ".join(sys.argv)[:300], brief=brief)

    def to_json(self) -> bytes:
        return json.dumps({"berg_lock": 1, **asdict(self)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LockHolder | None:
        """The holder a lock file names, or ``None`` when the file is not (yet) a whole lock record."""
        try:
            raw = json.loads(data)
            return cls(pid=int(raw["pid"]), host=str(raw["host"]), token=str(raw["token"]), taken_at=float(raw["taken_at"]),
                       thread=int(raw.get("thread", 0)), pid_start=raw.get("pid_start"), command=str(raw.get("command", "")),
                       brief=raw.get("brief") is True)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            return None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.taken_at))
        command = f" ({self.command})" if self.command else ""
        return f"process {self.pid} on host {self.host!r}{command}, since {when}"


def lock_url(url: str) -> str:
    """Where the lock of the result group at ``url`` lives: next to it, ``<url>.lock`` (``url`` resolved)."""
    from berg_core.results.layout import canonical_url

    return canonical_url(url) + LOCK_SUFFIX


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
    brief
        The lock is held for a moment only; a writer that finds it held waits for it
        (up to ``ACQUIRE_TIMEOUT_S``) instead of giving up.

    Every spelling of one place takes the same lock: a local path is resolved to its real
    path (symlinks, ``.``, ``..``, trailing slashes), a URL is normalised.

    Examples
    --------
    >>> with WriteLock("run.zarr"):  # doctest: +SKIP
    ...     ...  # nobody else writes run.zarr here
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None, brief: bool = False) -> None:
        from berg_core.results.layout import canonical_url

        self.url = canonical_url(url, storage_options)
        self.brief = brief
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
        mine = LockHolder.for_this_thread(self.brief)
        deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
        while time.monotonic() < deadline:
            # registered before the file exists: a thread that reads it at once must find it live
            with _HELD_GUARD:
                _HELD[mine.token] = mine.thread
            created = False
            try:
                created = self._create(LOCK_SUFFIX, mine.to_json())
            finally:
                if not created:
                    with _HELD_GUARD:
                        _HELD.pop(mine.token, None)
            if created:
                self._holder = mine
                if _is_local(self.url) or self._still_mine():
                    return self
                continue  # lost a check-then-write race on a filesystem without conditional writes
            exists, holder = self._read_settled()
            if not exists:
                continue  # given back meanwhile
            reason = "its file is unreadable" if holder is None else stale_reason(holder)
            if reason is None and holder is not None and holder.brief and holder.token != mine.token:
                time.sleep(0.05)  # held for a moment (another writer setting up its groups): wait for it
                continue
            if reason is None:
                raise StoreError(self._refusal(holder))
            if self._remove_stale(holder, reason):
                continue
            time.sleep(0.02)  # another writer is removing it: look again
        raise StoreError(f"cannot take the lock {self.path}: other writers kept taking it for {ACQUIRE_TIMEOUT_S:g} s; try again")

    def release(self) -> None:
        """Give the lock back (a no-op when not held); a lock someone else took over is left alone."""
        holder, self._holder = self._holder, None
        if holder is None:
            return
        with _HELD_GUARD:
            ours = _HELD.pop(holder.token, None) is not None
        if not ours:
            return  # a later call of this thread took it over: the file is not ours any more
        try:
            current = self._read()
            if current is not None and current.token == holder.token:
                self._remove(LOCK_SUFFIX)
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

    def _remove_stale(self, stale: LockHolder | None, reason: str) -> bool:
        """Remove the stale lock if it is still the one found; ``False`` while another writer is at it.

        Only the holder of the short-lived ``.lock.break`` file removes a stale lock, so of two
        writers that found the same stale lock, one removes it and the other then finds the
        first one's fresh lock instead of removing that too.
        """
        breaker = LockHolder.for_this_thread()
        if not self._create(BREAK_SUFFIX, breaker.to_json()):
            if self._break_abandoned():
                self._remove(BREAK_SUFFIX)  # left by a writer that died while removing a stale lock
            return False
        try:
            data = self._read_bytes(LOCK_SUFFIX)
            current = None if data is None else LockHolder.from_json(data)
            if data is not None and (current.token if current else None) == (stale.token if stale else None):
                _log.warning("taking over the stale lock %s (%s)", self.path, reason)
                self._remove(LOCK_SUFFIX)
                if stale is not None:
                    with _HELD_GUARD:
                        _HELD.pop(stale.token, None)  # an earlier call of this process: it holds nothing now
        finally:
            self._remove(BREAK_SUFFIX)
        return True

    def _break_abandoned(self) -> bool:
        data = self._read_bytes(BREAK_SUFFIX)
        if data is None:
            return False
        other = LockHolder.from_json(data)
        if other is not None:
            return time.time() - other.taken_at > BREAK_TIMEOUT_S
        if _is_local(self.url):
            # unreadable: being written (exclusive-create fallback), or garbage once old enough
            try:
                return time.time() - os.stat(self._where(BREAK_SUFFIX)).st_mtime > BREAK_TIMEOUT_S
            except FileNotFoundError:
                return False
        return True  # objects of remote stores are written whole: this one is garbage

    def _refusal(self, holder: LockHolder | None) -> str:
        who = holder.describe() if holder is not None else "a writer that is creating it now"
        return (
            f"{self.url} is being written by another encode: {who} holds its lock {self.path}. Wait for it to "
            f"finish, or write to another store. If that process is gone (it ran on another machine, or it hangs), "
            f"delete {self.path} or call berg_core.results.locks.break_lock({self.url!r})"
        )

    # ---- file operations (on the lock file, or on the break file next to it) ------------
    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            try:
                self._fs, self._fs_path = bounded_filesystem(self.url, self.storage_options)
            except (ValueError, TypeError, ImportError) as exc:
                raise StoreError(f"cannot open the lock {self.path}: {exc}") from None
        return self._fs, self._fs_path

    def _where(self, suffix: str) -> str:
        """Local path or filesystem path of the file ``url + suffix``."""
        if _is_local(self.url):
            return _local_path(self.url) + suffix
        return self._filesystem()[1].rstrip("/") + suffix

    def _create(self, suffix: str, data: bytes) -> bool:
        """Create the file ``url + suffix`` holding ``data``; ``False`` if it exists already."""
        where = self._where(suffix)
        if _is_local(self.url):
            return _create_local(where, data, f"{self.url}{suffix}")
        fs = self._filesystem()[0]
        try:
            fs.pipe_file(where, data, mode="create")
        except FileExistsError:
            return False
        except StoreError:  # past the network deadline: no answer to read the lock with either
            raise
        except Exception as exc:
            # some stores report a failed condition as another error: the file then exists
            try:
                exists = self._read_bytes(suffix) is not None
            except StoreError:
                exists = False
            if exists:
                return False
            raise StoreError(f"cannot create the lock {self.url}{suffix} of {self.url}: {type(exc).__name__}: {exc}") from None
        return True

    def _read_bytes(self, suffix: str = LOCK_SUFFIX) -> bytes | None:
        where = self._where(suffix)
        try:
            if _is_local(self.url):
                with open(where, "rb") as fh:
                    return fh.read()
            fs = self._filesystem()[0]
            fs.invalidate_cache(where)
            return bytes(fs.cat_file(where))
        except FileNotFoundError:
            return None
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot read the lock {self.url}{suffix}: {type(exc).__name__}: {exc}") from None

    def _read(self) -> LockHolder | None:
        data = self._read_bytes(LOCK_SUFFIX)
        return None if data is None else LockHolder.from_json(data)

    def _read_settled(self) -> tuple[bool, LockHolder | None]:
        """Whether the lock exists, and its holder (``None``: unreadable); waits while it is being written."""
        deadline = time.monotonic() + UNREADABLE_GRACE_S
        while True:
            data = self._read_bytes(LOCK_SUFFIX)
            if data is None:
                return False, None
            holder = LockHolder.from_json(data)
            if holder is not None or time.monotonic() > deadline:
                return True, holder
            time.sleep(0.05)

    def _remove(self, suffix: str) -> None:
        where = self._where(suffix)
        try:
            if _is_local(self.url):
                os.unlink(where)
            else:
                self._filesystem()[0].rm_file(where)
        except FileNotFoundError:
            pass


def _create_local(where: str, data: bytes, name: str) -> bool:
    """Create the file ``where`` holding ``data`` unless it exists, atomically: a reader never sees it empty.

    The record is written to a unique temporary file and hard-linked to its name (``link``
    fails if the name exists, on local filesystems and NFS alike); where hard links are not
    supported, the file is created with ``O_CREAT | O_EXCL`` and then written.
    """
    tmp = f"{where}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        _unlink_quietly(tmp)
        raise StoreError(f"cannot create the lock {name}: {type(exc).__name__}: {exc}") from None
    try:
        os.link(tmp, where)
        return True
    except FileExistsError:
        return False
    except OSError:
        try:  # NFS may report a link that did happen as failed: the link count tells
            if os.stat(tmp).st_nlink == 2:
                return True
        except OSError:
            pass
        return _create_exclusive(where, data, name)
    finally:
        _unlink_quietly(tmp)


def _create_exclusive(where: str, data: bytes, name: str) -> bool:
    try:
        fd = os.open(where, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot create the lock {name}: {type(exc).__name__}: {exc}") from None
    try:
        os.write(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(where)
        raise StoreError(f"cannot write the lock {name}: {type(exc).__name__}: {exc}") from None
    os.close(fd)
    return True


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
        lock._remove(LOCK_SUFFIX)
    return holder
