"""Manifests: every file of a converted or downloaded folder is checked before use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import BERG, IntegrityError
from berg_core.models.weights import open_weight_file
from berg_core.store.manifest import Manifest, manifest_root
from berg_core.store.model_store import Store

from .conftest import FSAVERAGE, FWRF, s3_options, upload, vit_options

FS_DIR = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
COEF_CHUNK = f"{FS_DIR}/encoding_models_weights/weights_subject-01.zarr/lh_reg_param/coef_/c/0/0"


@pytest.fixture
def native_copy(native_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "native"
    shutil.copytree(native_root / FS_DIR, root / FS_DIR)
    shutil.copytree(native_root / FWRF_DIR, root / FWRF_DIR)
    return root


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_manifest_root_rules() -> None:
    assert manifest_root(f"{FS_DIR}/metadata/metadata_subject-01.npy") == FS_DIR
    assert manifest_root("backbones/vit_b_32-d86f8d99.pth") == "backbones"
    assert manifest_root("pregenerated_insilico_neural_responses/modality-eeg/train_dataset-x/model-y/imageset-z/r.zarr/zarr.json") == (
        "pregenerated_insilico_neural_responses/modality-eeg/train_dataset-x/model-y/imageset-z"
    )
    assert manifest_root("encoding_models/README") is None


def test_altered_chunk_is_refused_naming_it(native_copy: Path, vit_weights_file: Path) -> None:
    _flip_byte(native_copy / COEF_CHUNK)
    wf = open_weight_file(Store(str(native_copy)), f"{FS_DIR}/encoding_models_weights/weights_subject-01.npy")
    with pytest.raises(IntegrityError, match=r"coef_/c/0/0 does not match its manifest: SHA-256"):
        wf.read("lh_reg_param/coef_")
    with pytest.raises(IntegrityError, match="coef_/c/0/0"):
        BERG(str(native_copy)).get_encoding_model(FSAVERAGE, subject=1, **vit_options(vit_weights_file))


def test_truncated_checkpoint_is_refused(native_copy: Path) -> None:
    pt = next((native_copy / FWRF_DIR).rglob("*roi-V1.pt"))
    with open(pt, "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(IntegrityError, match=rf"{pt.name} is truncated: 1000 bytes, the manifest says \d+"):
        BERG(str(native_copy)).get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")


def test_unlisted_file_is_refused(native_copy: Path) -> None:
    extra = native_copy / FS_DIR / "metadata/metadata_subject-02.npy"
    shutil.copy(native_copy / FWRF_DIR / "berg-manifest.json", extra)
    store = Store(str(native_copy))
    assert not store.exists(f"{FS_DIR}/metadata/metadata_subject-02.npy")  # the manifest is the listing
    with pytest.raises(IntegrityError, match="is not listed in"):
        store.read_bytes(f"{FS_DIR}/metadata/metadata_subject-02.npy")
    with pytest.raises(IntegrityError, match="is not listed in"):
        store.local_file(f"{FS_DIR}/metadata/metadata_subject-02.npy")


@pytest.mark.parametrize("text", ["{not json", json.dumps({"berg_manifest": 1, "files": [{"path": "../x", "size": 1, "sha256": "0" * 64}]}),
                                  json.dumps({"files": []})])
def test_malformed_manifest_is_refused(native_copy: Path, text: str) -> None:
    (native_copy / FS_DIR / "berg-manifest.json").write_text(text)
    with pytest.raises(IntegrityError, match="berg-manifest.json"):
        Store(str(native_copy)).exists(f"{FS_DIR}/metadata/metadata_subject-01.npy")


def test_altered_object_on_s3_is_refused_and_not_cached(s3: Any, native_copy: Path, isolated_cache: Path) -> None:
    _flip_byte(native_copy / COEF_CHUNK)
    url = upload(s3, native_copy, "tampered")
    wf = open_weight_file(Store(url, s3_options(s3)), f"{FS_DIR}/encoding_models_weights/weights_subject-01.npy")
    with pytest.raises(IntegrityError, match=f"{url}/{COEF_CHUNK}"):
        wf.read("lh_reg_param/coef_")
    assert not [p for p in isolated_cache.rglob("*") if p.as_posix().endswith("coef_/c/0/0")]


def test_manifest_round_trip_and_merge() -> None:
    a = Manifest.from_json(json.dumps({"berg_manifest": 1, "files": [{"path": "a/b", "size": 3, "sha256": "a" * 64}]}), "m")
    b = Manifest.from_json(json.dumps({"berg_manifest": 1, "files": [{"path": "c", "size": 1, "sha256": "b" * 64}]}), "n")
    merged = a.merged(b)
    assert Manifest.from_json(merged.to_json(), "x").files == merged.files
    assert merged.is_dir("a") and not merged.is_dir("c") and "c" in merged
    with pytest.raises(IntegrityError, match="too long"):
        merged.check_bytes("c", b"xy", "c")
    np.testing.assert_equal(len(merged), 2)
