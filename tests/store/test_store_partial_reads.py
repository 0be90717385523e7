"""Selections read only the chunks they need, counted in bytes sent by the S3 server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

from berg_core import BERG
from berg_core.models.weights import ZarrWeightFile, open_weight_file, read_metadata
from berg_core.store.model_store import Store

from .conftest import EEG, FSAVERAGE, s3_options

FSAVERAGE_DIR = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
EEG_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
FS_WEIGHTS = f"{FSAVERAGE_DIR}/encoding_models_weights/weights_subject-01.zarr"
REGRESSION = ("lh_reg_param/", "rh_reg_param/")


def _stored_bytes(root: Path, prefixes: tuple[str, ...]) -> int:
    """Bytes of the chunks (not the array metadata, which comes consolidated) under ``prefixes``."""
    base = root / FS_WEIGHTS
    return sum(p.stat().st_size for pre in prefixes for p in (base / pre).rglob("*") if p.is_file() and "/c/" in p.as_posix())


def _sent(s3: Any, prefixes: tuple[str, ...]) -> int:
    return sum(s3.bytes_sent(f"weights_subject-01.zarr/{p}") for p in prefixes)


def test_one_roi_load_reads_under_a_tenth_of_the_whole_brain_regression(
    s3: Any, s3_stores: dict[str, str], native_root: Path, vit_weights_file: Path, tmp_path: Path
) -> None:
    whole = _stored_bytes(native_root, REGRESSION)
    berg = BERG(s3_stores["native"], storage_options=s3_options(s3), cache_dir=tmp_path / "roi")
    model = berg.get_encoding_model(FSAVERAGE, subject=1, selection={"roi": "FFA-1"}, device="cpu", backbone_weights=str(vit_weights_file))
    # the regression rows of the ROI, plus the row groups that say where they are stored
    roi_bytes = _sent(s3, (*REGRESSION, "row_group/"))
    assert model.selection
    assert 0 < roi_bytes < whole / 10, (roi_bytes, whole)

    s3.reset_log()
    berg = BERG(s3_stores["native"], storage_options=s3_options(s3), cache_dir=tmp_path / "whole")
    berg.get_encoding_model(FSAVERAGE, subject=1, device="cpu", backbone_weights=str(vit_weights_file))
    assert _sent(s3, REGRESSION) >= whole


def test_rows_read_exactly_the_chunks_holding_them(s3: Any, s3_stores: dict[str, str], native_root: Path, legacy_root: Path) -> None:
    store = Store(s3_stores["native"], s3_options(s3))
    meta = read_metadata(Store(str(legacy_root)), f"{FSAVERAGE_DIR}/metadata/metadata_subject-01.npy")
    rows = np.concatenate([meta["fmri"]["lh_fsaverage_rois"]["OFA"], meta["fmri"]["lh_fsaverage_rois"]["EBA"][::-1], [5, 5]])
    wf = open_weight_file(store, f"{FSAVERAGE_DIR}/encoding_models_weights/weights_subject-01.npy")
    assert isinstance(wf, ZarrWeightFile)
    s3.reset_log()
    got = wf.read("lh_reg_param/coef_", rows=rows)

    with open(legacy_root / FSAVERAGE_DIR / "encoding_models_weights/weights_subject-01.npy", "rb") as fh:
        from berg_core.io import load_pickled_npy

        legacy = load_pickled_npy(fh, "legacy")
    np.testing.assert_array_equal(got, legacy["lh_reg_param"]["coef_"][rows])

    # independently: where do these rows sit, and which chunks hold them?
    group = zarr.open_group(str(native_root / FS_WEIGHTS), mode="r")
    coef = group["lh_reg_param/coef_"]
    stored = np.argsort(group["row_group/lh_reg_param"][...], kind="stable")
    position = np.empty_like(stored)
    position[stored] = np.arange(stored.size)
    chunks = np.unique(position[rows] // coef.chunks[0])
    n_chunks = -(-coef.shape[0] // coef.chunks[0])
    assert chunks.size < n_chunks / 4
    expected = sum((native_root / FS_WEIGHTS / f"lh_reg_param/coef_/c/{c}/0").stat().st_size for c in chunks)
    assert s3.bytes_sent("weights_subject-01.zarr/lh_reg_param/coef_/") == expected


def test_eeg_channel_selection_reads_one_chunk_per_channel_and_repetition(
    s3: Any, s3_stores: dict[str, str], native_root: Path, vit_weights_file: Path
) -> None:
    berg = BERG(s3_stores["native"], storage_options=s3_options(s3))
    model = berg.get_encoding_model(EEG, subject=1, selection={"channels": ["Oz", "O1"]}, device="cpu", backbone_weights=str(vit_weights_file))
    assert model.selection
    base = native_root / EEG_DIR / "encoding_models_weights/weights_subject-01.zarr"
    group = zarr.open_group(str(base), mode="r")
    coef = group["reg_param/rep-1/coef_"]
    assert coef.chunks == (140, coef.shape[1])  # one channel (140 time points) per chunk
    channels = read_metadata(Store(str(native_root)), f"{EEG_DIR}/metadata/metadata_subject-01.npy")["eeg"]["ch_names"]
    wanted = [list(channels).index(c) for c in ("Oz", "O1")]
    expected = 0
    for rep in range(1, 5):
        expected += sum((base / f"reg_param/rep-{rep}/coef_/c/{i}/0").stat().st_size for i in wanted)
        # the intercepts too: only the chunks holding the selected channels' rows
        step = group[f"reg_param/rep-{rep}/intercept_"].chunks[0]
        rows = {(i * 140 + t) // step for i in wanted for t in range(140)}
        expected += sum((base / f"reg_param/rep-{rep}/intercept_/c/{r}").stat().st_size for r in rows)
    assert s3.bytes_sent("weights_subject-01.zarr/reg_param/") == expected
