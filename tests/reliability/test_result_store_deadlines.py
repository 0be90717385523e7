"""Bounded waits for result stores: ``encode(..., store="s3://...")`` and ``open_results``.

Every request to a result store (inspecting the layout, the write lock, Zarr's reads and
writes, the completion records) has the same deadline as a model store's
(``$BERG_NETWORK_TIMEOUT``): a server that accepts connections and then says nothing gives a
``StoreError`` naming the store once it has passed, at the first contact or in the middle of
a run, instead of holding the call for minutes while botocore and s3fs retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from berg_core import BERG, StoreError
from berg_core.results.groups import open_results
from berg_core.results.zarr_sink import result_state
from berg_core.store.network import NETWORK_TIMEOUT_ENV, S3_CONFIG_DEFAULTS, bounded_filesystem

from . import test_network_deadlines as _deadlines
from .conftest import _store_fixtures
from .helpers import TOY, on_each_batch
from .test_network_deadlines import DEADLINE, SLACK, STALL_DEADLINE

silent = _deadlines.silent  # the fixture: a server that accepts connections and never answers

IMAGES = np.random.default_rng(5).integers(0, 256, (8, 3, 10, 10), dtype=np.uint8)


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv(NETWORK_TIMEOUT_ENV, str(DEADLINE))
    return DEADLINE


def _silent_options(endpoint: str) -> dict[str, Any]:
    # no config_kwargs: berg's botocore defaults apply, as for a user who set none
    return {"endpoint_url": f"http://{endpoint}", "key": "k", "secret": "s", "skip_instance_cache": True}


def _late(call: Any, url: str, deadline: float = DEADLINE, requests: int = 1, since: Any = None) -> None:
    """``call()`` raises the deadline's StoreError naming ``url`` within ``requests`` deadlines
    after ``since()`` (the start of the call by default)."""
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        call()
    elapsed = time.monotonic() - (since() if since else start)
    message = str(err.value)
    assert url in message, message
    assert f"no answer from the server within {deadline:g} s" in message and NETWORK_TIMEOUT_ENV in message, message
    assert elapsed < requests * deadline + SLACK  # the deadline ended it, not botocore's and s3fs's retries


def test_encode_to_a_silent_s3_store(toy_berg: BERG, silent: str, short_deadline: float) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    target = f"s3://{_store_fixtures.BUCKET}/run.zarr"
    _late(lambda: toy_berg.encode(model, IMAGES, show_progress=False, store=target, storage_options=_silent_options(silent)), target)


@pytest.mark.parametrize("opener", [BERG.open_results, open_results])
def test_open_results_from_a_silent_s3_store(silent: str, short_deadline: float, opener: Any) -> None:
    target = f"s3://{_store_fixtures.BUCKET}/run.zarr"
    _late(lambda: opener(target, _silent_options(silent)), target)


def test_result_filesystems_get_bounded_botocore_settings(silent: str) -> None:
    fs, _ = bounded_filesystem(f"s3://{_store_fixtures.BUCKET}/run.zarr", _silent_options(silent))
    assert fs.config_kwargs == S3_CONFIG_DEFAULTS
    mine = {"read_timeout": 3}
    fs, _ = bounded_filesystem(f"s3://{_store_fixtures.BUCKET}/run.zarr", {**_silent_options(silent), "config_kwargs": mine})
    assert fs.config_kwargs == {**S3_CONFIG_DEFAULTS, **mine}  # the user's settings win


class Hang:
    """WSGI layer: once ``start`` is set, every request waits (the connection open, nothing sent) for ``release``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.start, self.release = threading.Event(), threading.Event()
        self.started_at = 0.0

    def begin(self) -> None:
        self.started_at = time.monotonic()
        self.start.set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.start.is_set():
            self.release.wait(60)
        return self.app(environ, start_response)


@pytest.fixture
def hanging(s3: Any) -> Iterator[Hang]:
    server = s3._moto._server
    hang = Hang(server.app)
    server.app = hang
    try:
        yield hang
    finally:
        hang.release.set()
        server.app = hang.app


def test_s3_store_that_stops_answering_mid_run(toy_berg: BERG, s3: Any, hanging: Hang, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NETWORK_TIMEOUT_ENV, str(STALL_DEADLINE))  # the live server must answer within it first
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    target = f"s3://{_store_fixtures.BUCKET}/results/hung-{time.time_ns()}.zarr"
    opts = {**_store_fixtures.s3_options(s3), "anon": False, "config_kwargs": {}}  # berg's botocore defaults
    batches = iter(range(1, 100))

    def hang_at_third(_: Any) -> None:
        if next(batches) == 3:
            hanging.begin()

    with on_each_batch(model, hang_at_third):
        # two requests wait: the write of batch 3, then the release of the write lock, which reads it first
        _late(lambda: toy_berg.encode(model, IMAGES, batch_size=2, show_progress=False, store=target, storage_options=opts),
              target, STALL_DEADLINE, requests=2, since=lambda: hanging.started_at)
    hanging.release.set()
    hanging.start.clear()
    complete, done = result_state(target, opts)
    assert not complete and done[:4].all() and not done[4:].any()  # the answered batches kept, never marked complete
