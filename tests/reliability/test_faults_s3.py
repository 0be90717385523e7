"""A flaky network: S3 unreachable, or stopped in the middle of a read or of writing results.

Each failure is a StoreError naming the URL, within a bounded time (timeouts and retries are
bounded, nothing hangs); a result whose writing was cut off is never marked complete, and the
same call resumes it once the server is back. A download cut off is resumed only if the file
on the server is still the one it started from. The server is a real S3 server (moto) on
127.0.0.1, stopped and restarted by the tests. (Silent servers: ``test_network_deadlines.py``.)
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from berg_core import BERG, StoreError
from berg_core.results.zarr_sink import result_state
from berg_core.workflows.download import download_model

from .conftest import FWRF, _store_fixtures
from .helpers import TOY, on_each_batch

BOUND_S = 60  # seconds: the worst case on a loaded machine, far below "forever"
FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
V1_WEIGHTS = f"{FWRF_DIR}/encoding_models_weights/weights_sub-01_roi-V1.pt"
V1_METADATA = f"{FWRF_DIR}/metadata/metadata_sub-01_roi-V1.npy"


def _options(server: Any, write: bool = False) -> dict[str, Any]:
    return {**_store_fixtures.s3_options(server), **({"anon": False} if write else {})}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.fixture(scope="module")
def fwrf_url(s3_server: Any, store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fwRF model's V1 files on the S3 server."""
    local = tmp_path_factory.mktemp("s3_upload")
    for rel in (V1_WEIGHTS, V1_METADATA):
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(store_root / rel, local / rel)
    return str(_store_fixtures.upload(s3_server, local, f"reliability-{time.time_ns()}"))


def _timed(call: Any) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        call()
    return err.value, time.monotonic() - start


def test_unreachable_server_reading_a_store(s3: Any) -> None:
    opts = {**_options(s3), "endpoint_url": f"http://127.0.0.1:{_closed_port()}"}
    url = f"s3://{_store_fixtures.BUCKET}/nowhere"
    err, elapsed = _timed(lambda: BERG(url, storage_options=opts).get_model_metadata(FWRF, subject=1, roi="V1"))
    assert elapsed < BOUND_S
    assert f"cannot read {url}/{FWRF_DIR}/" in str(err)


def test_unreachable_server_writing_results(toy_berg: Any, s3: Any) -> None:
    opts = {**_options(s3, write=True), "endpoint_url": f"http://127.0.0.1:{_closed_port()}"}
    target = f"s3://{_store_fixtures.BUCKET}/results/unreachable.zarr"
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    images = np.zeros((2, 3, 8, 8), np.uint8)
    err, elapsed = _timed(lambda: toy_berg.encode(model, images, show_progress=False, store=target, storage_options=opts))
    assert elapsed < BOUND_S
    assert "unreachable.zarr" in str(err)


def test_server_stopped_in_the_middle_of_a_file(s3: Any, fwrf_url: str, isolated_cache: Path, store_root: Path) -> None:
    s3.fault = _store_fixtures.Fault(V1_WEIGHTS, after_bytes=1_000_000)
    berg = BERG(fwrf_url, storage_options=_options(s3))
    err, elapsed = _timed(lambda: berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu"))
    assert elapsed < BOUND_S
    assert f"{fwrf_url}/{V1_WEIGHTS}" in str(err)
    assert not s3.running
    # nothing half-read is used: only the resumable partial copy is in the cache
    names = sorted(p.name for p in isolated_cache.rglob("weights_sub-01_roi-V1*"))
    assert names == ["weights_sub-01_roi-V1.pt.part", "weights_sub-01_roi-V1.pt.part.json"]  # the bytes, and their source's identity
    s3.restart()
    model = BERG(fwrf_url, storage_options=_options(s3)).get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")
    local = BERG(store_root).get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")
    images = np.random.default_rng(2).integers(0, 256, (1, 3, 30, 40), dtype=np.uint8)
    np.testing.assert_array_equal(BERG(store_root).encode(model, images, show_progress=False).values,
                                  BERG(store_root).encode(local, images, show_progress=False).values)


def _changed(old: bytes, kind: str) -> bytes:
    """Another version of ``old``: its first MiB differs (what a resume would keep), and maybe its size."""
    head = bytes(b ^ 0xA5 for b in old[: 1 << 20])
    return {"same-size": head + old[1 << 20 :], "shorter": head + old[1 << 20 : -12345], "longer": head + old[1 << 20 :] + b"x" * 999}[kind]


@pytest.mark.parametrize("kind", ["same-size", "shorter", "longer"])
def test_download_resumed_after_the_remote_file_changed(s3: Any, store_root: Path, tmp_path: Path, isolated_cache: Path, kind: str) -> None:
    import boto3

    local = tmp_path / "upload"
    for rel in (V1_WEIGHTS, V1_METADATA):
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(store_root / rel, local / rel)
    prefix = f"changed-{kind}-{time.time_ns()}"
    url = _store_fixtures.upload(s3, local, prefix)
    s3.fault = _store_fixtures.Fault(V1_WEIGHTS, after_bytes=5_000_000)  # berg download fetches 4 MiB per request
    get = lambda: download_model(FWRF, subjects=[1], rois=["V1"], berg_dir=url, storage_options=_options(s3), show_progress=False)  # noqa: E731
    with pytest.raises(StoreError, match=f"{url}/{V1_WEIGHTS}"):
        get()
    (part,) = isolated_cache.rglob("weights_sub-01_roi-V1.pt.part")
    assert part.stat().st_size == 4 << 20
    s3.restart()
    new = _changed((store_root / V1_WEIGHTS).read_bytes(), kind)
    boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1").put_object(
        Bucket=_store_fixtures.BUCKET, Key=f"{prefix}/{V1_WEIGHTS}", Body=new, ACL="public-read")
    s3.reset_log()
    report = get()
    assert V1_WEIGHTS in report.fetched
    (cached,) = isolated_cache.rglob("weights_sub-01_roi-V1.pt")
    assert cached.read_bytes() == new  # exactly the new version: nothing of the old one resumed
    assert s3.bytes_sent(V1_WEIGHTS) == len(new)  # started again from zero
    assert not list(isolated_cache.rglob("*.part*"))


class StopServerAt:
    """Stops the S3 server when batch number ``at`` (from 1) reaches preprocessing."""

    def __init__(self, server: Any, at: int) -> None:
        self.server, self.at, self.seen = server, at, 0

    def __call__(self, stimuli: Any) -> None:
        self.seen += 1
        if self.seen == self.at:
            self.server.stop()


def test_server_stopped_while_results_are_written(toy_berg: Any, s3: Any) -> None:
    import zarr

    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    images = np.random.default_rng(8).integers(0, 256, (8, 3, 10, 10), dtype=np.uint8)
    target = f"s3://{_store_fixtures.BUCKET}/results/stopped-{time.time_ns()}.zarr"
    opts = _options(s3, write=True)
    with on_each_batch(model, StopServerAt(s3, at=3)):
        err, elapsed = _timed(lambda: toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target, storage_options=opts))
    assert elapsed < BOUND_S
    assert "cannot write batch 4-6 to" in str(err) and target in str(err)
    s3.restart()
    group = zarr.open_group(zarr.storage.FsspecStore.from_url(target, storage_options=opts, read_only=True), mode="r")
    assert group.attrs["berg_complete"] == 0  # never marked complete
    np.testing.assert_array_equal(result_state(target, opts)[1], [1, 1, 1, 1, 0, 0, 0, 0])
    resumed = toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target, storage_options=opts)
    memory = toy_berg.encode(model, images, batch_size=2, show_progress=False)
    np.testing.assert_array_equal(resumed.values, memory.values)
    xr.testing.assert_identical(resumed.stimulus.astype(int), memory.stimulus)
