"""Overlap stimulus decoding with compute: a bounded background producer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


def prefetch(items: Iterable[T], work: Callable[[T], U], depth: int = 2) -> Iterator[U]:
    """Yield ``work(item)`` for each item, computing up to ``depth`` items ahead in a thread.

    The queue is bounded, so at most ``depth + 1`` results exist at once whatever the
    number of items. An exception in ``work`` is re-raised in the consumer; closing the
    generator early stops the thread.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                result = work(item)
                while not stop.is_set():
                    try:
                        q.put((True, result), timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:
            q.put((False, exc))
            return
        q.put((True, _DONE))

    thread = threading.Thread(target=produce, name="berg-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = q.get()
            if not ok:
                raise value
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
