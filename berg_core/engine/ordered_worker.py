"""The host half of a batch, run in order in one background thread while the device computes the next batch."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["OrderedWorker"]


class _HostThread:
    """One daemon thread per process running queued callables.

    It outlives each run: a thread new to CUDA pays for its context and cuBLAS handle at its
    first product, which a run of one batch would pay every call.
    """

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="berg-host", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.queue.get()()


_HOST: _HostThread | None = None
_HOST_LOCK = threading.Lock()


def _host() -> _HostThread:
    global _HOST
    with _HOST_LOCK:
        if _HOST is None:
            _HOST = _HostThread()
        return _HOST


def _forget_host() -> None:
    # a forked child has the parent's object but not its thread
    global _HOST, _HOST_LOCK
    _HOST, _HOST_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_host)


class OrderedWorker:
    """Runs one run's callables in submission order on the process's host thread, at most ``depth`` waiting.

    An exception in a callable is raised in the submitting thread by the next :meth:`submit`
    or by :meth:`finish`; the run's callables after it are not run. Leaving the ``with``
    block because of an exception (an interrupt included) lets the callable in progress end
    and drops the run's callables still waiting, so nothing of the run executes once the
    caller has moved on (a result store is never written while it is being aborted).

    The caller's autograd mode (grad enabled, inference mode) applies to the work, as it
    would had the caller run it: those modes are per thread in torch. Runs in several
    threads share the host thread, each keeping its own order.
    """

    def __init__(self, depth: int = 1) -> None:
        self._slots = threading.BoundedSemaphore(max(1, depth) + 1)  # the one running and those waiting
        self._error: BaseException | None = None
        self._cancelled = False
        self._host = _host()
        # a run started by work on the host thread (a hook encoding with another model) runs in line
        self._inline = threading.current_thread() is self._host.thread

    def _wrap(self, work: Callable[[], Any], modes: tuple[bool, bool]) -> Callable[[], None]:
        def run() -> None:
            try:
                if self._error is None and not self._cancelled:  # after a failure, or once cancelled, dropped
                    with _autograd_modes(modes):
                        work()
            except BaseException as exc:
                self._error = exc
            finally:
                self._slots.release()

        return run

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, work: Callable[[], Any]) -> None:
        """Queue ``work`` (waits while ``depth`` are queued); raises what an earlier callable raised."""
        self._raise()
        self._slots.acquire()
        run = self._wrap(work, _current_modes())
        if self._inline:
            run()
        else:
            self._host.queue.put(run)

    def _drain(self) -> None:
        if self._inline:
            return
        done = threading.Event()
        self._host.queue.put(done.set)
        done.wait()

    def finish(self) -> None:
        """Wait until everything submitted has run; raises what a callable raised."""
        self._drain()
        self._raise()

    def cancel(self) -> None:
        """Let the callable in progress end and drop the rest."""
        self._cancelled = True
        self._drain()

    def __enter__(self) -> OrderedWorker:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.cancel()


def _current_modes() -> tuple[bool, bool]:
    import torch

    return torch.is_grad_enabled(), torch.is_inference_mode_enabled()


@contextmanager
def _autograd_modes(modes: tuple[bool, bool]) -> Iterator[None]:
    import torch

    grad, inference = modes
    with torch.inference_mode(inference), torch.set_grad_enabled(grad):
        yield
