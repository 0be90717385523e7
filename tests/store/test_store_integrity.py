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


def test_a_listed_chunk_that_is_missing_is_refused_not_read_as_zeros(native_copy: Path, vit_weights_file: Path) -> None:
    (native_copy / COEF_CHUNK).unlink()
    wf = open_weight_file(Store(str(native_copy)), f"{FS_DIR}/encoding_models_weights/weights_subject-01.npy")
    with pytest.raises(IntegrityError, match=r"coef_/c/0/0 is listed in .*berg-manifest.json but missing"):
        wf.read("lh_reg_param/coef_")
    with pytest.raises(IntegrityError, match="coef_/c/0/0 is listed"):
        BERG(str(native_copy)).get_encoding_model(FSAVERAGE, subject=1, **vit_options(vit_weights_file))


@pytest.mark.parametrize("by_rows", [False, True], ids=["whole", "rows"])
def test_without_a_manifest_a_missing_chunk_is_refused_too(native_copy: Path, by_rows: bool) -> None:
    (native_copy / FS_DIR / "berg-manifest.json").unlink()
    (native_copy / COEF_CHUNK).unlink()
    wf = open_weight_file(Store(str(native_copy)), f"{FS_DIR}/encoding_models_weights/weights_subject-01.npy")
    rows = np.arange(wf.read("lh_reg_param/intercept_").shape[0]) if by_rows else None
    with pytest.raises(IntegrityError, match=r"1 chunk\(s\) of array 'lh_reg_param/coef_' are missing \(lh_reg_param/coef_/c/0/0\)"):
        wf.read("lh_reg_param/coef_", rows=rows)


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


W_CHUNK = f"{FS_DIR}/encoding_models_weights/weights_subject-01.zarr/folded/W/c/0/0"
WEIGHTS_NPY = f"{FS_DIR}/encoding_models_weights/weights_subject-01.npy"


def test_folded_projection_is_mapped_and_hashed_once_per_file_version(
    native_copy: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """berg convert writes W as one raw chunk: a local load maps it, checked against the manifest once per version."""
    from berg_core.models.weights import read_folded_projection
    from berg_core.store import manifest as manifest_mod

    hashed: list[str] = []
    check = manifest_mod.Manifest.check_file
    monkeypatch.setattr(manifest_mod.Manifest, "check_file", lambda self, p, *a: hashed.append(p) or check(self, p, *a))

    def load() -> np.ndarray:
        wf = open_weight_file(Store(str(native_copy)), WEIGHTS_NPY)
        W, _ = read_folded_projection(wf)
        return W

    first = load()
    assert isinstance(first, np.memmap) and hashed == ["encoding_models_weights/weights_subject-01.zarr/folded/W/c/0/0"]
    second = load()
    assert isinstance(second, np.memmap) and len(hashed) == 1  # the unchanged file is not hashed again
    np.testing.assert_array_equal(first, second)
    second[0, 0] += 1.0  # copy-on-write: the store's file is not changed
    assert load()[0, 0] == first[0, 0]
    _flip_byte(native_copy / W_CHUNK, offset=12345)  # another version: hashed again, and refused
    with pytest.raises(IntegrityError, match=r"folded/W/c/0/0 does not match its manifest: SHA-256"):
        load()


def test_folded_projection_without_manifest_is_checked_for_nan(native_copy: Path) -> None:
    from berg_core.models.weights import read_folded_projection

    (native_copy / FS_DIR / "berg-manifest.json").unlink()
    wf = open_weight_file(Store(str(native_copy)), WEIGHTS_NPY)
    assert isinstance(read_folded_projection(wf)[0], np.memmap)
    raw = np.memmap(native_copy / W_CHUNK, dtype=np.float32, mode="r+")
    raw[12345] = np.nan
    raw.flush()
    del raw
    wf = open_weight_file(Store(str(native_copy)), WEIGHTS_NPY)
    with pytest.raises(IntegrityError, match=r"folded/W \(rows 0 to .*NaN or infinite"):
        read_folded_projection(wf)


def test_projection_of_stores_converted_in_column_chunks_is_read_chunk_by_chunk(
    legacy_root: Path, native_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stores converted before W became one chunk ((k, 32768) chunks) load the same values."""
    from berg_core.models.weights import read_folded_projection
    from berg_core.store.zarr_layout import ArraySpec
    from berg_core.workflows import convert

    new_policy = convert._weights_policy

    def old_policy(*args: Any) -> Any:
        policy = new_policy(*args)
        return lambda key, arr: ArraySpec(chunks=(arr.shape[0], 32768)) if key == "folded/W" else policy(key, arr)

    monkeypatch.setattr(convert, "_weights_policy", old_policy)
    old = tmp_path / "old"
    convert.convert_store(str(legacy_root), str(old), models=[FSAVERAGE], subjects=[1], show_progress=False)
    W, _ = read_folded_projection(open_weight_file(Store(str(old)), WEIGHTS_NPY))
    assert not isinstance(W, np.memmap)
    np.testing.assert_array_equal(W, read_folded_projection(open_weight_file(Store(str(native_root)), WEIGHTS_NPY))[0])
