"""``berg convert``: the Zarr layout holds the same numbers, chunked along output units."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
import zarr

from berg_core import BERG, IntegrityError, InvalidParameterError, StoreError
from berg_core.cards.model_card import card_from_dict
from berg_core.cli.main import main
from berg_core.io import load_pickled_npy
from berg_core.models.weights import (
    PickledNpyFile,
    ZarrWeightFile,
    open_weight_file,
    read_folded_projection,
    read_metadata,
)
from berg_core.store.model_store import Store
from berg_core.workflows.convert import convert_store

from .conftest import FSAVERAGE, s3_options

EEG_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
FS_DIR = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
WEIGHTS = "encoding_models_weights/weights_subject-01"
METADATA = "metadata/metadata_subject-01"


def _legacy(root: Path, rel: str) -> Any:
    with open(root / rel, "rb") as fh:
        return load_pickled_npy(fh, rel)


def _same_tree(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _same_tree(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


@pytest.mark.parametrize("folder", [EEG_DIR, FS_DIR])
def test_folded_projection_matches_numpy(folder: str, legacy_root: Path, native_root: Path) -> None:
    w = _legacy(legacy_root, f"{folder}/{WEIGHTS}.npy")
    sc, pca = w["scaler_param"], w["pca_param"]
    comp = pca["components_"].astype(np.float64)
    W_ref = comp / sc["scale_"]
    c_ref = -(comp @ (sc["mean_"] / sc["scale_"] + pca["mean_"].astype(np.float64)))
    wf = open_weight_file(Store(str(native_root)), f"{folder}/{WEIGHTS}.npy")
    assert isinstance(wf, ZarrWeightFile) and wf.folded
    W, c = read_folded_projection(wf)
    assert W.dtype == np.float32 and c.dtype == np.float32
    np.testing.assert_allclose(W, W_ref, rtol=1e-6, atol=1e-7 * np.abs(W_ref).max())
    np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=1e-6 * np.abs(c_ref).max())
    # readers written against BERG 2.0's keys still get components_, to float32 precision
    np.testing.assert_allclose(wf.read("pca_param/components_"), comp, rtol=1e-6, atol=1e-7 * np.abs(comp).max())


def test_regression_weights_are_chunked_along_output_units(native_root: Path) -> None:
    eeg = zarr.open_group(str(native_root / EEG_DIR / f"{WEIGHTS}.zarr"), mode="r")
    k = eeg["folded/W"].shape[0]
    assert eeg["reg_param/rep-1/coef_"].chunks == (140, k)  # one EEG channel per chunk
    assert eeg["folded/W"].chunks[0] == k
    fs = zarr.open_group(str(native_root / FS_DIR / f"{WEIGHTS}.zarr"), mode="r")
    assert fs["lh_reg_param/coef_"].chunks == (2048, k)
    assert fs["lh_reg_param/coef_"].attrs["berg_row_group"] == "row_group/lh_reg_param"
    assert "pca_param/components_" not in {k for k, _ in fs.arrays()}


def test_rows_come_back_in_the_original_order(legacy_root: Path, native_root: Path) -> None:
    legacy = _legacy(legacy_root, f"{FS_DIR}/{WEIGHTS}.npy")
    wf = open_weight_file(Store(str(native_root)), f"{FS_DIR}/{WEIGHTS}.npy")
    for hemi in ("lh", "rh"):
        ref = legacy[f"{hemi}_reg_param"]
        np.testing.assert_array_equal(wf.read(f"{hemi}_reg_param/coef_"), ref["coef_"])
        rows = np.random.default_rng(1).integers(0, ref["coef_"].shape[0], 500)
        rows = np.concatenate([rows, rows[:10], [0, -1]])  # duplicates, any order, negative
        np.testing.assert_array_equal(wf.read(f"{hemi}_reg_param/coef_", rows=rows), ref["coef_"][rows])
        np.testing.assert_array_equal(wf.read(f"{hemi}_reg_param/intercept_", rows=rows, dtype=np.float64), ref["intercept_"][rows].astype(np.float64))
        mask = np.zeros(ref["coef_"].shape[0], dtype=bool)
        mask[rows] = True
        np.testing.assert_array_equal(wf.read(f"{hemi}_reg_param/coef_", rows=mask), ref["coef_"][mask])
    assert wf.value("lh_reg_param/n_features_in_") == legacy["lh_reg_param"]["n_features_in_"]


def test_rows_out_of_range_raise_integrity_error(native_root: Path) -> None:
    wf = open_weight_file(Store(str(native_root)), f"{FS_DIR}/{WEIGHTS}.npy")
    n = wf.read("lh_reg_param/intercept_").shape[0]
    with pytest.raises(IndexError, match=f"has {n} rows"):
        wf.read("lh_reg_param/coef_", rows=[0, n])
    with pytest.raises(InvalidParameterError, match="1-D integer array or a boolean mask"):
        wf.read("lh_reg_param/coef_", rows=[0.5])


@pytest.mark.parametrize("rel", [f"{EEG_DIR}/{METADATA}", f"{FS_DIR}/{METADATA}", f"{FWRF_DIR}/metadata/metadata_sub-01_roi-lateral"])
def test_metadata_round_trips(rel: str, legacy_root: Path, native_root: Path) -> None:
    assert (native_root / f"{rel}.zarr").is_dir() and not (native_root / f"{rel}.npy").exists()
    _same_tree(_legacy(legacy_root, f"{rel}.npy"), read_metadata(Store(str(native_root)), f"{rel}.npy"))


def test_other_files_cards_and_manifests(legacy_root: Path, native_root: Path) -> None:
    for pt in (legacy_root / FWRF_DIR).rglob("*.pt"):
        copy = native_root / pt.relative_to(legacy_root)
        assert copy.read_bytes() == pt.read_bytes()  # fwRF checkpoints are copied as they are
    assert not (native_root / EEG_DIR / "encoding_models_accuracy").exists()
    for folder, model_id in ((EEG_DIR, "eeg-things_eeg_2-vit_b_32"), (FS_DIR, FSAVERAGE), (FWRF_DIR, "fmri-nsd-fwrf")):
        card = card_from_dict(yaml.safe_load((native_root / folder / "berg-card.yaml").read_text()))
        assert card == BERG(str(native_root)).get_card(model_id)
        manifest = yaml.safe_load((native_root / folder / "berg-manifest.json").read_text())
        listed = {f["path"]: f for f in manifest["files"]}
        on_disk = {p.relative_to(native_root / folder).as_posix(): p for p in (native_root / folder).rglob("*") if p.is_file()}
        assert set(listed) == set(on_disk) - {"berg-manifest.json"}
        for path, f in listed.items():
            data = on_disk[path].read_bytes()
            assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()


def test_cli_converts_one_model_and_subject(legacy_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "dst"
    assert main(["convert", str(legacy_root), str(dst), "--model", FSAVERAGE, "--subject", "1", "--quiet"]) == 0
    assert "converted 2 files" in capsys.readouterr().out
    assert [p.name for p in (dst / "encoding_models").rglob("model-*")] == ["model-vit_b_32"]
    assert (dst / FS_DIR / f"{WEIGHTS}.zarr/zarr.json").is_file()
    assert main(["convert", str(legacy_root), str(dst), "--model", FSAVERAGE, "--subject", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "subject(s) [2]" in err and "subjects found: [1]" in err


def test_convert_in_place_adds_twins_that_are_preferred(legacy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(legacy_root / FS_DIR, root / FS_DIR)
    report = convert_store(str(root), str(root), show_progress=False)
    assert len(report.converted) == 2 and not report.copied
    store = Store(str(root))
    assert isinstance(open_weight_file(store, f"{FS_DIR}/{WEIGHTS}.npy"), ZarrWeightFile)
    legacy = PickledNpyFile(store, f"{FS_DIR}/{WEIGHTS}.npy")  # still listed in the manifest, still verified
    assert legacy.read("lh_reg_param/coef_").shape[0] == 163_842


def test_convert_to_s3_and_read_back(s3: Any, legacy_root: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(legacy_root / FS_DIR, src / FS_DIR)
    dst = "s3://berg-store-tests/converted"
    opts = {**s3_options(s3), "anon": False}
    convert_store(str(src), dst, dst_options=opts, show_progress=False)
    store = Store(dst, opts)
    assert store.manifest(FS_DIR) is not None
    wf = open_weight_file(store, f"{FS_DIR}/{WEIGHTS}.npy")
    assert isinstance(wf, ZarrWeightFile)
    legacy = _legacy(legacy_root, f"{FS_DIR}/{WEIGHTS}.npy")
    np.testing.assert_array_equal(wf.read("rh_reg_param/coef_", rows=[7, 3]), legacy["rh_reg_param"]["coef_"][[7, 3]])


def test_convert_needs_model_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no model folders"):
        convert_store(str(tmp_path / "empty"), str(tmp_path / "out"), show_progress=False)


def test_files_just_converted_are_not_hashed_again_on_this_machine(
    legacy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """convert hashed what it wrote; a load here maps the projection without hashing 460 MB again."""
    from berg_core.store import manifest as manifest_mod

    out = tmp_path / "native"
    convert_store(str(legacy_root), str(out), models=[FSAVERAGE], subjects=[1], show_progress=False)
    hashed: list[str] = []
    check = manifest_mod.Manifest.check_file
    monkeypatch.setattr(manifest_mod.Manifest, "check_file", lambda self, p, *a: hashed.append(p) or check(self, p, *a))
    W, _ = read_folded_projection(open_weight_file(Store(str(out)), f"{FS_DIR}/{WEIGHTS}.npy"))
    assert isinstance(W, np.memmap) and hashed == []
    chunk = out / FS_DIR / f"{WEIGHTS}.zarr/folded/W/c/0/0"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # changed after the convert: hashed, and refused
    chunk.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        read_folded_projection(open_weight_file(Store(str(out)), f"{FS_DIR}/{WEIGHTS}.npy"))
