"""Write locks of result groups (``berg_core.results.locks``): one writer at a time, holders named,
stale locks (dead or reused pid, this very thread, unreadable) taken over, live ones never.

The holders are real: a subprocess, another thread, or a lock file naming another host (what a
process on another machine writes). Two ``berg encode`` processes are in ``test_processes.py``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import StimulusError, StoreError
from berg_core.results import locks as locks_module
from berg_core.results.locks import LockHolder, WriteLock, break_lock, lock_url, read_lock
from berg_core.results.zarr_sink import result_state

from .helpers import TOY

HOST = socket.gethostname()
HOLD_SCRIPT = """
import sys
from berg_core.results.locks import WriteLock
WriteLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def _write_holder(url: str, **fields: Any) -> LockHolder:
    holder = LockHolder(**{"pid": 4242, "host": "gpu-node-17", "token": "t" * 32, "taken_at": time.time(),
                           "command": "berg encode ...", **fields})
    Path(lock_url(url)).write_bytes(holder.to_json())
    return holder


@pytest.fixture
def holder_process(tmp_path: Path) -> Any:
    """A live process holding the lock of ``tmp_path/run.zarr``; killed (not released) at the end."""
    url = str(tmp_path / "run.zarr")
    proc = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield url, proc
    proc.kill()
    proc.wait()


def test_the_lock_names_its_holder_and_goes_at_release(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    with WriteLock(url) as lock:
        assert lock.held and Path(f"{url}.lock").is_file()
        holder = read_lock(url)
        assert holder is not None
        assert (holder.pid, holder.host, holder.thread) == (os.getpid(), HOST, threading.get_ident())
        assert holder.pid_start == locks_module._process_start(os.getpid()) is not None
        assert json.loads(Path(f"{url}.lock").read_text())["berg_lock"] == 1
    assert not lock.held and read_lock(url) is None and not Path(f"{url}.lock").exists()
    lock.release()  # a second release does nothing


def test_a_live_process_is_named_and_never_overtaken(holder_process: Any) -> None:
    url, proc = holder_process
    for _ in range(2):
        with pytest.raises(StoreError) as err:
            WriteLock(url).acquire()
        message = str(err.value)
        assert f"process {proc.pid} on host {HOST!r}" in message
        assert f"holds its lock {url}.lock" in message and f"berg_core.results.locks.break_lock({url!r})" in message
    assert read_lock(url).pid == proc.pid  # type: ignore[union-attr]


def test_the_lock_of_a_killed_process_is_taken_over(holder_process: Any, caplog: pytest.LogCaptureFixture) -> None:
    url, proc = holder_process
    proc.send_signal(signal.SIGKILL)
    # not reaped yet: the process is a zombie, which holds nothing
    deadline = time.monotonic() + 10
    while (locks_module._proc_stat(proc.pid) or ["?"])[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="berg_core.results.locks"), WriteLock(url):
        assert read_lock(url).pid == os.getpid()  # type: ignore[union-attr]
    assert f"process {proc.pid} does not run any more" in caplog.text


def test_a_lock_of_another_host_is_refused_until_broken(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    written = _write_holder(url)
    with pytest.raises(StoreError, match=r"process 4242 on host 'gpu-node-17' \(berg encode \.\.\.\), since "):
        WriteLock(url).acquire()
    assert break_lock(url) == written and read_lock(url) is None
    assert break_lock(url) is None
    with WriteLock(url):
        pass


def test_a_reused_pid_does_not_keep_a_lock(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    parent = os.getppid()
    started = locks_module._process_start(parent)
    if started is None:
        pytest.skip("no /proc here: process start times are unknown")
    _write_holder(url, pid=parent, host=HOST, pid_start=started)
    with pytest.raises(StoreError, match=f"process {parent} on host"):
        WriteLock(url).acquire()  # the same process: alive
    _write_holder(url, pid=parent, host=HOST, pid_start=str(int(started) + 1))
    with WriteLock(url):  # a process started later under the same pid
        assert read_lock(url).pid == os.getpid()  # type: ignore[union-attr]


def test_this_thread_takes_over_its_own_unfinished_lock(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    earlier = WriteLock(url).acquire()  # e.g. the sink of an encode that failed and is still referenced
    first = read_lock(url).token  # type: ignore[union-attr]
    later = WriteLock(url).acquire()
    assert read_lock(url).token != first  # type: ignore[union-attr]
    earlier.release()  # must not remove the lock that replaced it
    assert read_lock(url) is not None and later.held
    later.release()
    assert read_lock(url) is None


def test_another_live_thread_keeps_its_lock_until_it_ends(tmp_path: Path) -> None:
    url = str(tmp_path / "run.zarr")
    taken, finish = threading.Event(), threading.Event()

    def hold() -> None:
        WriteLock(url).acquire()  # never released: the thread just ends
        taken.set()
        finish.wait(30)

    worker = threading.Thread(target=hold)
    worker.start()
    assert taken.wait(30)
    with pytest.raises(StoreError, match=f"process {os.getpid()} on host"):
        WriteLock(url).acquire()
    finish.set()
    worker.join()
    with WriteLock(url):
        pass


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("round_", range(3))
def test_of_many_threads_finding_one_stale_lock_exactly_one_takes_it(tmp_path: Path, round_: int) -> None:
    url = str(tmp_path / "run.zarr")
    _write_holder(url, pid=_dead_pid(), host=HOST)
    n = 8
    barrier = threading.Barrier(n)
    won: list[WriteLock] = []
    refused: list[str] = []
    stop = threading.Event()

    def contend() -> None:
        lock = WriteLock(url)
        barrier.wait()
        try:
            lock.acquire()
            won.append(lock)
        except StoreError as exc:
            refused.append(str(exc))
        stop.wait(30)  # threads stay alive, so their locks stay live for the others

    threads = [threading.Thread(target=contend) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(won) + len(refused) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert len(won) == 1, (len(won), refused)
    assert len(refused) == n - 1 and all(f"process {os.getpid()} on host" in r for r in refused)
    assert read_lock(url).token == won[0]._holder.token  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*.break"))


def test_a_lock_being_written_is_waited_for_and_an_abandoned_empty_one_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "run.zarr")
    monkeypatch.setattr(locks_module, "UNREADABLE_GRACE_S", 5.0)
    Path(f"{url}.lock").write_bytes(b"")  # created, its record not written yet ...
    threading.Timer(0.2, lambda: _write_holder(url)).start()  # ... which comes a moment later
    with pytest.raises(StoreError, match="on host 'gpu-node-17'"):
        WriteLock(url).acquire()
    monkeypatch.setattr(locks_module, "UNREADABLE_GRACE_S", 0.2)
    Path(f"{url}.lock").write_bytes(b"{")  # a writer that died between creating and writing it
    with WriteLock(url):
        assert read_lock(url).pid == os.getpid()  # type: ignore[union-attr]


def test_a_lock_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot create the lock .*missing/run.zarr.lock: FileNotFoundError"):
        WriteLock(str(tmp_path / "missing" / "run.zarr")).acquire()


# ---- the locks of encode(store=...) ------------------------------------------------------------------
def _images(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, 3, 10, 12), dtype=np.uint8)


def test_encode_refuses_a_locked_target_before_writing_anything(toy_berg: Any, tmp_path: Path) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    target = tmp_path / "run.zarr"
    target.mkdir()
    _write_holder(str(target))
    with pytest.raises(StoreError, match=r"run.zarr is being written by another encode: process 4242 on host 'gpu-node-17'"):
        toy_berg.encode(model, _images(3), show_progress=False, store=target)
    assert list(target.iterdir()) == []
    break_lock(str(target))
    out = toy_berg.encode(model, _images(3), show_progress=False, store=target)
    np.testing.assert_array_equal(out.values, toy_berg.encode(model, _images(3), show_progress=False).values)
    assert read_lock(str(target)) is None  # given back at finish


def test_one_locked_group_of_several_refuses_all_and_keeps_no_lock(toy_berg: Any, tmp_path: Path) -> None:
    models = [toy_berg.get_encoding_model(TOY, subject=s, device="cpu") for s in (1, 2)]
    target = tmp_path / "many.zarr"
    (target / TOY).mkdir(parents=True)
    _write_holder(str(target / TOY / "subject-02"))
    with pytest.raises(StoreError, match="subject-02 is being written by another encode"):
        toy_berg.encode(models, _images(2), show_progress=False, store=target)
    assert read_lock(str(target / TOY / "subject-01")) is None  # taken, then given back
    assert read_lock(str(target / TOY / "subject-02")).host == "gpu-node-17"  # type: ignore[union-attr]


def test_a_failed_encode_gives_its_lock_back(toy_berg: Any, tmp_path: Path) -> None:
    from PIL import Image

    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(_images(4)):
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"im{i}.png")
    (folder / "im3.png").write_bytes(b"broken")
    target = tmp_path / "run.zarr"
    with pytest.raises(StimulusError, match="im3.png") as err:
        toy_berg.encode(model, folder, batch_size=2, show_progress=False, store=target)
    # given back at once, even while the failed call is still referenced (a notebook keeps the last
    # traceback): another process may resume the run right away
    assert err.value is not None
    assert read_lock(str(target)) is None
    assert result_state(str(target))[0] is False
    np.testing.assert_array_equal(result_state(str(target))[1], [1, 1, 0, 0])


# ---- remote stores ---------------------------------------------------------------------------------------
def test_s3_locks_are_exclusive_and_stale_ones_are_taken_over(s3: Any) -> None:
    from .conftest import _store_fixtures

    opts = {**_store_fixtures.s3_options(s3), "anon": False}
    url = f"s3://{_store_fixtures.BUCKET}/locks/run-{time.time_ns()}.zarr"
    lock = WriteLock(url, opts).acquire()
    assert read_lock(url, opts).token == lock._holder.token  # type: ignore[union-attr]
    # the object cannot be created twice: a second writer (another thread, alive) is refused
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(_try(WriteLock(url, opts))))
    t.start()
    t.join()
    assert isinstance(result[0], StoreError) and f"process {os.getpid()} on host" in str(result[0])
    lock.release()
    assert read_lock(url, opts) is None
    # a lock left by a process of this host that is gone is taken over; one of another host is not
    import fsspec

    fs, path = fsspec.filesystem("s3", **opts), lock_url(url).removeprefix("s3://")
    fs.pipe_file(path, LockHolder(pid=_dead_pid(), host=HOST, token="x", taken_at=0).to_json())
    with WriteLock(url, opts):
        assert read_lock(url, opts).pid == os.getpid()  # type: ignore[union-attr]
    fs.pipe_file(path, LockHolder(pid=1, host="elsewhere", token="y", taken_at=0).to_json())
    with pytest.raises(StoreError, match="on host 'elsewhere'"):
        WriteLock(url, opts).acquire()
    assert break_lock(url, opts).host == "elsewhere"  # type: ignore[union-attr]


def _try(lock: WriteLock) -> Any:
    try:
        return lock.acquire()
    except StoreError as exc:
        return exc

