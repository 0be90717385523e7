"""The local cache of remote stores: offline second loads, size report, clearing, faults."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import BERG, IntegrityError, StoreError
from berg_core.cli.main import main
from berg_core.store.fetch import BLOCK_SIZE
from berg_core.store.model_store import Store

from .conftest import BUCKET, FSAVERAGE, FWRF, Fault, respond, s3_options, vit_options

FS_WEIGHTS = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32/encoding_models_weights/weights_subject-01.npy"
CASES = {
    "fsaverage-legacy": ("legacy", FSAVERAGE, {"roi": "V1"}),
    "fsaverage-native": ("native", FSAVERAGE, {"roi": "V1"}),
    "fwrf-legacy": ("legacy", FWRF, {"roi": "lateral"}),
}


def _files(folder: Path) -> dict[str, int]:
    out = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            out[os.path.join(dirpath, n)] = os.path.getsize(os.path.join(dirpath, n))
    return out


def _load_and_encode(url: str, opts: dict[str, Any], case: str, images: np.ndarray, features: Any, weights: Path) -> np.ndarray:
    _, model_id, selection = CASES[case]
    berg = BERG(url, storage_options=opts)
    extra = {"device": "cpu"} if model_id == FWRF else vit_options(weights)
    with berg.get_encoding_model(model_id, subject=1, selection=selection, **extra) as model:
        return respond(berg, model, images, features).values


@pytest.mark.parametrize("case", sorted(CASES))
def test_second_load_needs_no_network(
    case: str, s3: Any, s3_stores: dict[str, str], images: np.ndarray, features: Any, vit_weights_file: Path, shared_backbone: Any
) -> None:
    url = s3_stores[CASES[case][0]]
    first = _load_and_encode(url, s3_options(s3), case, images, features, vit_weights_file)
    assert s3.requests() > 0
    s3.stop()  # any request now fails
    second = _load_and_encode(url, s3_options(s3), case, images, features, vit_weights_file)
    np.testing.assert_array_equal(first, second)


def test_cache_dir_argument_and_env(s3: Any, s3_stores: dict[str, str], tmp_path: Path, isolated_cache: Path) -> None:
    opts = s3_options(s3)
    BERG(s3_stores["legacy"], storage_options=opts).get_model_metadata(FSAVERAGE, subject=1)
    assert any(p.endswith("metadata_subject-01.npy") for p in _files(isolated_cache))  # $BERG_CACHE_DIR
    elsewhere = tmp_path / "elsewhere"
    BERG(s3_stores["legacy"], storage_options=opts, cache_dir=elsewhere).get_model_metadata(FSAVERAGE, subject=1)
    assert any(p.endswith("metadata_subject-01.npy") for p in _files(elsewhere))


def test_cache_info_and_clear(s3: Any, s3_stores: dict[str, str], isolated_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = s3_stores["legacy"]
    meta = BERG(url, storage_options=s3_options(s3)).get_model_metadata(FSAVERAGE, subject=1)
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    files = {p: n for p, n in _files(isolated_cache).items() if not p.endswith(".berg-cache.json")}
    assert info["cache_dir"] == str(isolated_cache)
    assert info["total_bytes"] == sum(files.values()) > 0
    (entry,) = info["stores"]
    assert entry["url"] == url and entry["endpoint"] == s3.endpoint and entry["files"] == len(files)
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert url in text and f"{len(files)} files" in text

    assert main(["cache", "clear"]) == 0
    assert "freed" in capsys.readouterr().out
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stores"] == []
    s3.stop()
    with pytest.raises(StoreError, match=url):
        BERG(url, storage_options=s3_options(s3)).get_model_metadata(FSAVERAGE, subject=1)
    assert meta  # the first read had worked


def test_truncated_cached_file_is_refused(s3: Any, s3_stores: dict[str, str], isolated_cache: Path) -> None:
    url = s3_stores["legacy"]
    BERG(url, storage_options=s3_options(s3)).get_model_metadata(FSAVERAGE, subject=1)
    (cached,) = [p for p in _files(isolated_cache) if p.endswith("metadata_subject-01.npy")]
    with open(cached, "r+b") as fh:
        fh.truncate(os.path.getsize(cached) // 2)
    with pytest.raises(IntegrityError, match="metadata_subject-01.npy"):
        BERG(url, storage_options=s3_options(s3)).get_model_metadata(FSAVERAGE, subject=1)


def test_server_stopped_mid_file_gives_store_error_then_resumes(
    s3: Any, s3_stores: dict[str, str], isolated_cache: Path, images: np.ndarray, features: Any, vit_weights_file: Path, legacy_root: Path,
    shared_backbone: Any,
) -> None:
    url = s3_stores["legacy"]
    size = (legacy_root / FS_WEIGHTS).stat().st_size
    s3.fault = Fault(FS_WEIGHTS, after_bytes=20_000_000)
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        BERG(url, storage_options=s3_options(s3)).get_encoding_model(FSAVERAGE, subject=1, selection={"roi": "V1"}, **vit_options(vit_weights_file))
    assert time.monotonic() - start < 30  # bounded retries, no hang
    assert f"{url}/{FS_WEIGHTS}" in str(err.value)
    assert not s3.running
    cached = _files(isolated_cache)
    assert not any(p.endswith("weights_subject-01.npy") for p in cached)  # nothing half-written is used
    (part,) = [p for p in cached if p.endswith("weights_subject-01.npy.part")]
    kept = cached[part]
    assert 0 < kept <= 20_000_000

    s3.restart()
    s3.reset_log()
    got = _load_and_encode(url, s3_options(s3), "fsaverage-legacy", images, features, vit_weights_file)
    assert s3.bytes_sent(FS_WEIGHTS) == size - kept  # resumed from the partial copy
    local = _load_and_encode(str(legacy_root), {}, "fsaverage-legacy", images, features, vit_weights_file)
    np.testing.assert_array_equal(got, local)


def test_server_stopped_during_zarr_chunks(s3: Any, s3_stores: dict[str, str], vit_weights_file: Path, isolated_cache: Path) -> None:
    url = s3_stores["native"]
    s3.fault = Fault("weights_subject-01.zarr/folded/W/c/", after_bytes=3_000_000)
    with pytest.raises(StoreError, match=f"{url}/.*weights_subject-01.zarr/folded/W/c/"):
        BERG(url, storage_options=s3_options(s3)).get_encoding_model(FSAVERAGE, subject=1, selection={"roi": "V1"}, **vit_options(vit_weights_file))
    # complete chunks may be cached (each was verified against the manifest); none is partial under its own name.
    # folded/W is one chunk of several fetch blocks: its received blocks stay as a .part, resumed by the next load
    files = _files(isolated_cache)
    assert not [p for p in files if p.endswith(".tmp")]
    assert not [p for p in files if p.endswith("folded/W/c/0/0")]
    assert [p for p in files if p.endswith(".part")] in ([], [p for p in files if p.endswith("folded/W/c/0/0.part")])


def test_partial_copy_of_a_changed_remote_file_is_not_resumed(s3: Any, tmp_path: Path) -> None:
    """Interrupted, then the object is replaced: the cached file is exactly the new version."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    old = np.random.default_rng(12).integers(0, 256, BLOCK_SIZE + (2 << 20), dtype=np.uint8).tobytes()  # two requests
    new = bytes(b ^ 0x5A for b in old[:4096]) + old[4096:]  # same size, differs in what a resume would keep
    key = f"changing-{time.time_ns()}/weights.npy"
    client.put_object(Bucket=BUCKET, Key=key, Body=old, ACL="public-read")
    url = f"s3://{BUCKET}/{key.split('/')[0]}"
    cache = tmp_path / "cache"
    s3.fault = Fault(key, after_bytes=BLOCK_SIZE + (1 << 20))
    with pytest.raises(StoreError, match=f"{url}/weights.npy"):
        Store(url, s3_options(s3), cache_dir=cache).local_file("weights.npy")
    (part,) = cache.rglob("weights.npy.part")
    assert part.stat().st_size == BLOCK_SIZE  # the first block is kept
    s3.restart()
    client.put_object(Bucket=BUCKET, Key=key, Body=new, ACL="public-read")
    s3.reset_log()
    store = Store(url, s3_options(s3), cache_dir=cache)
    assert Path(store.local_file("weights.npy")).read_bytes() == new
    assert s3.bytes_sent(key) == len(new)  # from zero, not from the old version's first block

    # a finished copy is used only at the size recorded when it was fetched
    cached = Path(store.local_file("weights.npy"))
    with open(cached, "r+b") as fh:
        fh.truncate(len(new) - 1)
    with pytest.raises(IntegrityError, match=f"cached copy of {url}/weights.npy .* has {len(new) - 1} bytes, expected {len(new)}"):
        Store(url, s3_options(s3), cache_dir=cache).local_file("weights.npy")
    # the same when the record was lost: the remote is asked for the size again
    (index,) = cache.rglob(".berg-cache.json")
    index.unlink()
    with pytest.raises(IntegrityError, match=f"has {len(new) - 1} bytes, expected {len(new)}"):
        Store(url, s3_options(s3), cache_dir=cache).local_file("weights.npy")
    with pytest.raises(IntegrityError, match=f"has {len(new) - 1} bytes, expected {len(new)}"):
        index.unlink()
        Store(url, s3_options(s3), cache_dir=cache).read_bytes("weights.npy")
