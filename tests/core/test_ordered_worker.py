"""The host thread of an accelerator's run: order, errors, interrupts, autograd modes, reuse."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import torch

from berg_core.engine.ordered_worker import OrderedWorker


def _thread() -> threading.Thread:
    return threading.current_thread()


def test_work_runs_in_order_in_one_other_thread_kept_for_the_next_run() -> None:
    seen: list[tuple[int, threading.Thread]] = []
    for _ in range(2):
        with OrderedWorker(depth=2) as worker:
            for i in range(10):
                worker.submit(lambda i=i: seen.append((i, _thread())))
            worker.finish()
    assert [i for i, _ in seen] == list(range(10)) * 2
    threads = {t for _, t in seen}
    assert len(threads) == 1 and threads != {threading.current_thread()}
    assert next(iter(threads)).name == "berg-host"


def test_at_most_depth_wait_beside_the_one_running() -> None:
    release = threading.Event()
    worker = OrderedWorker(depth=1)
    worker.submit(lambda: release.wait(5))
    worker.submit(lambda: None)
    blocked = threading.Thread(target=worker.submit, args=(lambda: None,))
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive()  # a third waits for room
    release.set()
    blocked.join(5)
    worker.finish()


def test_an_error_is_raised_by_the_next_submit_and_what_follows_is_not_run() -> None:
    ran: list[int] = []

    def work(i: int) -> None:
        if i == 2:
            raise ValueError("batch 2 failed")
        ran.append(i)

    worker = OrderedWorker(depth=1)
    with pytest.raises(ValueError, match="batch 2 failed"):
        with worker:
            for i in range(10):
                worker.submit(lambda i=i: work(i))
                time.sleep(0.01)
            worker.finish()
    worker.finish()  # nothing left behind
    assert ran == [0, 1]


def test_finish_raises_an_error_of_the_last_work() -> None:
    worker = OrderedWorker()
    worker.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        worker.finish()


def test_leaving_on_an_interrupt_ends_the_running_work_and_drops_the_waiting() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        ran.append("slow")

    worker = OrderedWorker(depth=1)
    with pytest.raises(KeyboardInterrupt):
        with worker:
            worker.submit(slow)
            started.wait(5)
            worker.submit(lambda: ran.append("waiting"))
            threading.Timer(0.1, release.set).start()
            raise KeyboardInterrupt
    # the exit waited for the running work to end; the waiting one never ran
    assert ran == ["slow"]
    again = OrderedWorker()
    again.submit(lambda: ran.append("next run"))
    again.finish()
    assert ran == ["slow", "next run"]


def test_the_callers_autograd_modes_apply_to_the_work() -> None:
    modes: list[tuple[bool, bool]] = []

    def record() -> None:
        modes.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))

    with OrderedWorker() as worker:
        worker.submit(record)
        with torch.no_grad():
            worker.submit(record)
        with torch.inference_mode():
            worker.submit(record)
        worker.finish()
    assert modes == [(True, False), (False, False), (False, True)]


def test_a_run_started_from_the_host_thread_runs_in_line() -> None:
    inner: list[str] = []

    def nested() -> None:
        with OrderedWorker() as worker:
            worker.submit(lambda: inner.append(_thread().name))
            worker.finish()

    outer = OrderedWorker()
    outer.submit(nested)
    outer.finish()
    assert inner == ["berg-host"]


def _in_child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    worker = OrderedWorker()
    worker.submit(lambda: queue.put(_thread().name))
    worker.finish()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_gets_a_host_thread_of_its_own() -> None:
    OrderedWorker().finish()  # the parent's host thread exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_in_child, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and queue.get(timeout=5) == "berg-host"
