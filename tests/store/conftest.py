"""Fixtures of the store tests: seeded stores on disk and on a real S3 server (moto).

The S3 server is moto's ``ThreadedMotoServer`` on 127.0.0.1 (a free port), as
s3fs's own tests use it, with a public-read bucket. A WSGI layer in front of
it counts the bytes of every response, and can stop the server in the middle
of sending a file, so tests can prove partial reads and clean failures.
Fake credentials and an endpoint override are set for every test: nothing
ever reaches AWS.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUCKET = "berg-store-tests"
SEED = 7
N_COMPONENTS = 8
EEG = "eeg-things_eeg_2-vit_b_32"
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"
FWRF_ROIS = ["V1", "lateral"]  # lateral comes in two split files
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


# ---- a real S3 server --------------------------------------------------------------------
class _Counting:
    """WSGI middleware: logs (method, path, bytes sent) and can cut a response short."""

    def __init__(self, app: Any, server: S3Server) -> None:
        self.app = app
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        body = self.app(environ, start_response)
        return self._stream(method, path, body)

    def _stream(self, method: str, path: str, body: Any) -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in body:
                for i in range(0, max(len(chunk), 1), 1 << 16):
                    piece = chunk[i : i + (1 << 16)]
                    fault = self.server.fault
                    if fault is not None and fault.match in path and method == "GET":
                        if fault.sent + len(piece) > fault.after_bytes:
                            self.server.record(method, path, sent)
                            self.server.fault = None
                            threading.Thread(target=self.server.stop, daemon=True).start()
                            raise ConnectionAbortedError(f"test fault: server stopped while sending {path}")
                        fault.sent += len(piece)
                    sent += len(piece)
                    yield piece
        finally:
            if hasattr(body, "close"):
                body.close()
        self.server.record(method, path, sent)


@dataclass
class Fault:
    """Stop the server once ``after_bytes`` of files whose path contains ``match`` were sent."""

    match: str
    after_bytes: int
    sent: int = 0


class S3Server:
    """moto's threaded S3 server with a byte log and stop/restart on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.log: list[tuple[str, str, int]] = []
        self.fault: Fault | None = None
        self._lock = threading.Lock()
        self._moto: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._moto is not None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        moto.start()
        self.port = moto.get_host_and_port()[1]
        moto._server.app = _Counting(moto._server.app, self)
        self._moto = moto

    def stop(self) -> None:
        moto, self._moto = self._moto, None
        if moto is not None:
            moto.stop()
            moto._server.server_close()  # refuse connections, as a stopped server does

    def restart(self) -> None:
        if not self.running:
            self.start()

    def record(self, method: str, path: str, n: int) -> None:
        with self._lock:
            self.log.append((method, path, n))

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def bytes_sent(self, contains: str = "", method: str = "GET") -> int:
        with self._lock:
            return sum(n for m, p, n in self.log if m == method and contains in p)

    def requests(self) -> int:
        with self._lock:
            return len(self.log)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    saved = {k: os.environ.get(k) for k in FAKE_AWS}
    os.environ.update(FAKE_AWS)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = S3Server()
    server.start()
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET, ACL="public-read")
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                       "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}],
    }))
    yield server
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The running server, its byte log cleared; restarted afterwards if a test stopped it."""
    # anything that forgets endpoint_url still lands on the test server, never on AWS
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
    s3_server.restart()
    s3_server.fault = None
    s3_server.reset_log()
    yield s3_server
    s3_server.fault = None
    s3_server.restart()


def s3_options(server: S3Server) -> dict[str, Any]:
    """Anonymous access to the test server with bounded timeouts and retries."""
    return {
        "endpoint_url": server.endpoint,
        "anon": True,
        "skip_instance_cache": True,
        "config_kwargs": {"connect_timeout": 2, "read_timeout": 5, "retries": {"max_attempts": 1}},
    }


def upload(server: S3Server, local_root: Path, prefix: str) -> str:
    """Copy a local folder to ``s3://BUCKET/prefix`` (objects public-read); returns the URL."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
    files = [p for p in sorted(local_root.rglob("*")) if p.is_file()]

    def put(path: Path) -> None:
        key = f"{prefix}/{path.relative_to(local_root).as_posix()}"
        client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes(), ACL="public-read")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return f"s3://{BUCKET}/{prefix}"


# ---- seeded stores -----------------------------------------------------------------------
def write_synthetic(root: Path, model_id: str, options: dict[str, Any]) -> list[str]:
    """A model's seeded store files, written by its own plugin (real BERG 2.0 formats)."""
    from berg_core import BERG

    pm = BERG(str(root)).plugin_manager
    reg = pm.registry.get(model_id)
    hook = pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)
    return list(hook(card=reg.card, root=str(root), subjects=[1], seed=SEED, options=options))


@pytest.fixture(scope="session")
def legacy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BERG 2.0 store (subject 1 of each model; fwRF: two ROIs) in the reference layout."""
    root = tmp_path_factory.mktemp("legacy_store")
    write_synthetic(root, EEG, {"n_components": N_COMPONENTS})
    write_synthetic(root, FSAVERAGE, {"n_components": N_COMPONENTS})
    write_synthetic(root, FWRF, {"rois": FWRF_ROIS, "n_voxels": {"V1": 300, "lateral": 400}})
    # an accuracy plot, which convert leaves out
    plot = root / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32/encoding_models_accuracy/plot_subject-01.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(b"\x89PNG\r\n\x1a\nnot needed to encode")
    return root


@pytest.fixture(scope="session")
def native_root(legacy_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same store converted to berg's Zarr layout."""
    from berg_core.workflows.convert import convert_store

    root = tmp_path_factory.mktemp("native_store")
    convert_store(str(legacy_root), str(root), show_progress=False)
    return root


@pytest.fixture(scope="session")
def s3_stores(s3_server: S3Server, legacy_root: Path, native_root: Path) -> dict[str, str]:
    """Both stores uploaded to the test bucket."""
    return {"legacy": upload(s3_server, legacy_root, "legacy"), "native": upload(s3_server, native_root, "native")}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache folder (never ~/.cache/berg), fake AWS credentials, and an
    S3 endpoint that refuses connections unless the ``s3`` fixture points it at the test server."""
    cache = tmp_path / "berg-cache"
    monkeypatch.setenv("BERG_CACHE_DIR", str(cache))
    monkeypatch.delenv("BERG_DIR", raising=False)
    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return cache


@pytest.fixture(scope="session")
def images() -> Any:
    """Two seeded uint8 images of an odd size and aspect."""
    import numpy as np

    return np.random.default_rng(3).integers(0, 256, (2, 3, 61, 90), dtype=np.uint8)


@pytest.fixture(scope="session")
def shared_backbone(vit_weights_file: Path) -> Any:
    """Keeps one ViT-B/32 extractor alive for the session: every model given
    ``backbone_weights=vit_weights_file`` shares it instead of building its own."""
    from berg_core.backbones.vit_b_32 import get_vit_b_32

    return get_vit_b_32("cpu", weights=vit_weights_file)


def vit_options(vit_weights_file: Path) -> dict[str, Any]:
    return {"device": "cpu", "backbone_weights": str(vit_weights_file)}


@pytest.fixture(scope="session")
def features() -> Any:
    """Seeded ViT-B/32-shaped features of two stimuli.

    Stores differ only in where weights come from, so most tests read out
    these features with ``model.encode_features`` instead of running the
    (slow on a CPU) backbone; ``encode`` itself is tested end to end once.
    """
    import torch

    g = torch.Generator().manual_seed(5)
    return torch.randn((2, 460_800), generator=g)


def respond(berg: Any, model: Any, images: Any, features: Any) -> Any:
    """The model's responses: read out from ``features`` for ViT models, encoded from ``images`` otherwise."""
    if model.feature_extractor is not None:
        return model.encode_features(features, list(range(features.shape[0])))
    return berg.encode(model, images, show_progress=False)


@dataclass
class StoreUnderTest:
    """A store location and how to open it."""

    kind: str  # local or s3
    layout: str  # legacy or native
    url: str
    storage_options: dict[str, Any] | None

    def berg(self, **kw: Any) -> Any:
        from berg_core import BERG

        return BERG(self.url, storage_options=self.storage_options, **kw)


@pytest.fixture(params=["local-legacy", "local-native", "s3-legacy", "s3-native"])
def any_store(request: pytest.FixtureRequest, legacy_root: Path, native_root: Path) -> StoreUnderTest:
    """The same seeded models from a local folder or S3, in BERG 2.0's layout or the Zarr one."""
    kind, layout = request.param.split("-")
    if kind == "local":
        return StoreUnderTest(kind, layout, str(legacy_root if layout == "legacy" else native_root), None)
    server = request.getfixturevalue("s3")
    urls = request.getfixturevalue("s3_stores")
    return StoreUnderTest(kind, layout, urls[layout], s3_options(server))
