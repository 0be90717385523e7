"""Bounded waits: a server that accepts connections and then says nothing.

Each network request of a store has a total deadline (``$BERG_NETWORK_TIMEOUT``), whatever
the protocol and its own retries: such a server gives a ``StoreError`` naming the URL and
the setting once the deadline has passed, for a query, a listing, a small file, a block of
a large file or the connection itself. The silent servers are plain sockets on 127.0.0.1
that accept and never answer; the server that stalls in the middle of a file is the moto S3
server of ``tests/store/conftest.py``. Tests run with deadlines of a few seconds to stay fast.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import BERG, InvalidParameterError, StoreError
from berg_core.cli.main import main
from berg_core.store.model_store import Store
from berg_core.store.network import DEFAULT_NETWORK_TIMEOUT, NETWORK_TIMEOUT_ENV, S3_CONFIG_DEFAULTS, network_timeout

from .conftest import FWRF, _store_fixtures

DEADLINE = 1.0  # silent servers never answer: any deadline shows the bound
STALL_DEADLINE = 3.0  # where the server answers at first: room for a complete 8 MiB block on a loaded machine
SLACK = 6.0  # seconds past the deadline a loaded 2-core machine may need to raise


@pytest.fixture
def silent() -> Iterator[str]:
    """``host:port`` of a server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv(NETWORK_TIMEOUT_ENV, str(DEADLINE))
    return DEADLINE


def _s3_store(endpoint: str, **options: Any) -> Store:
    # no config_kwargs: berg's botocore defaults apply, as for a user who set none
    return Store(f"s3://{_store_fixtures.BUCKET}/store", {"endpoint_url": f"http://{endpoint}", "anon": True,
                                                          "skip_instance_cache": True, **options}, cache_dir=False)


def _late(call: Callable[[], Any], url: str, action: str = "", deadline: float = DEADLINE) -> float:
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        call()
    elapsed = time.monotonic() - start
    message = str(err.value)
    assert url in message and f"{action}" in message
    assert f"no answer from the server within {deadline:g} s" in message and NETWORK_TIMEOUT_ENV in message
    assert deadline * 0.9 <= elapsed < deadline + SLACK  # the deadline ended it, not a refusal nor a retry budget
    return elapsed


@pytest.mark.parametrize(
    "operation, action",
    [("exists", "cannot reach"), ("size", "cannot reach"), ("read_bytes", "cannot read"), ("open", "cannot reach"),
     ("listdir", "cannot list"), ("find", "cannot list")],
)
def test_silent_s3_endpoint(operation: str, action: str, silent: str, short_deadline: float) -> None:
    store = _s3_store(silent)
    rel = "encoding_models/metadata.npy"
    _late(lambda: getattr(store, operation)(rel), store.url_of(rel), action)


def test_silent_s3_endpoint_loading_a_model(silent: str, short_deadline: float) -> None:
    berg = BERG(f"s3://{_store_fixtures.BUCKET}/store", storage_options={"endpoint_url": f"http://{silent}", "anon": True})
    load = lambda: berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")  # noqa: E731
    with pytest.raises(StoreError):
        load()  # the first call also imports the plugin's modules: the second is timed
    _late(load, f"{berg.berg_dir}/encoding_models/")


def test_silent_s3_endpoint_in_berg_download(silent: str, short_deadline: float, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{silent}")  # botocore's own setting, read by s3fs
    url = f"s3://{_store_fixtures.BUCKET}/store"
    start = time.monotonic()
    assert main(["download", FWRF, "--subject", "1", "--berg-dir", url, "--storage-option", "anon=true", "--quiet"]) == 2
    assert time.monotonic() - start < 10 * DEADLINE + SLACK  # plugins load first
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and url in err[0] and f"no answer from the server within {DEADLINE:g} s" in err[0]


def test_silent_http_endpoint(silent: str, short_deadline: float) -> None:
    store = Store(f"http://{silent}/store", cache_dir=False)  # another asynchronous filesystem (aiohttp)
    _late(lambda: store.read_bytes("weights.npy"), f"http://{silent}/store/weights.npy", "cannot read")


def test_silent_ftp_server_while_connecting(silent: str, short_deadline: float) -> None:
    # FTP connects while its filesystem is built, and waits for a greeting that never comes
    _late(lambda: Store(f"ftp://{silent}/store", cache_dir=False), f"ftp://{silent}/store", "cannot open")


def test_default_deadline_and_s3_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NETWORK_TIMEOUT_ENV, raising=False)
    assert network_timeout() == DEFAULT_NETWORK_TIMEOUT <= 20  # "well under a minute"
    assert S3_CONFIG_DEFAULTS["connect_timeout"] < DEFAULT_NETWORK_TIMEOUT
    assert _s3_store("127.0.0.1:9").fs.config_kwargs == S3_CONFIG_DEFAULTS
    mine = {"read_timeout": 3, "retries": {"max_attempts": 1}}
    store = _s3_store("127.0.0.1:9", config_kwargs=mine)
    assert store.fs.config_kwargs == {**S3_CONFIG_DEFAULTS, **mine}  # the user's settings win
    assert store.storage_options["config_kwargs"] == mine  # what the user gave is what travels (pickles, workers)
    monkeypatch.setenv(NETWORK_TIMEOUT_ENV, "90")
    assert network_timeout() == 90


@pytest.mark.parametrize("value", ["0", "-3", "abc", "nan", "inf", "1e400"])
def test_bad_deadline_setting(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NETWORK_TIMEOUT_ENV, value)
    with pytest.raises(InvalidParameterError, match=f"{NETWORK_TIMEOUT_ENV} must be a positive number of seconds, got '{value}'"):
        _s3_store("127.0.0.1:9")


class Stall:
    """WSGI layer: once ``after`` bytes of GETs of ``match`` were sent, the response stops
    (the connection stays open) until ``release`` is set. Stalls one response only."""

    def __init__(self, app: Any, match: str, after: int) -> None:
        self.app, self.match, self.after, self.sent = app, match, after, 0
        self.release = threading.Event()
        self.stalled = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self.app(environ, start_response)
        if environ["REQUEST_METHOD"] != "GET" or self.match not in environ.get("PATH_INFO", "") or self.stalled:
            return body
        return self._stream(body)

    def _stream(self, body: Any) -> Iterator[bytes]:
        try:
            for chunk in body:
                if not self.stalled and self.sent + len(chunk) > self.after:
                    self.stalled = True
                    yield chunk[: self.after - self.sent]
                    self.release.wait(60)
                    return
                self.sent += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()


def test_server_stalled_in_a_large_file_then_resumed(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv(NETWORK_TIMEOUT_ENV, str(STALL_DEADLINE))
    data = np.random.default_rng(11).integers(0, 256, 10 << 20, dtype=np.uint8).tobytes()  # two 8 MiB blocks
    prefix = f"stall-{time.time_ns()}"
    boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1").put_object(
        Bucket=_store_fixtures.BUCKET, Key=f"{prefix}/big.bin", Body=data, ACL="public-read")
    url = f"s3://{_store_fixtures.BUCKET}/{prefix}"
    opts = {**_store_fixtures.s3_options(s3), "config_kwargs": {}}  # berg's botocore defaults
    server = s3._moto._server
    stall = Stall(server.app, f"{prefix}/big.bin", after=9 << 20)
    server.app = stall
    try:
        store = Store(url, opts, cache_dir=tmp_path)
        _late(lambda: store.local_file("big.bin"), f"{url}/big.bin", "cannot read", STALL_DEADLINE)
        (part,) = tmp_path.rglob("big.bin.part")
        assert part.stat().st_size == 8 << 20  # the complete first block is kept
    finally:
        stall.release.set()
        server.app = stall.app
    s3.reset_log()
    got = Path(Store(url, opts, cache_dir=tmp_path).local_file("big.bin")).read_bytes()
    assert got == data
    assert s3.bytes_sent(f"{prefix}/big.bin") == len(data) - (8 << 20)  # resumed, not started again
