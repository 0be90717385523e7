"""``berg download``: just the files a model needs, resumable, verified, with a manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import BERG, InvalidParameterError, StoreError
from berg_core.cli.main import main
from berg_core.workflows.download import download_model

from .conftest import EEG, FSAVERAGE, FWRF, Fault, respond, s3_options, vit_options

EEG_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
EEG_WEIGHTS = f"{EEG_DIR}/encoding_models_weights/weights_subject-01.npy"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_cli_downloads_one_subject_with_a_manifest(
    s3: Any, s3_stores: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], images: np.ndarray, features: Any,
    vit_weights_file: Path, shared_backbone: Any,
) -> None:
    dest = tmp_path / "dest"
    opts = [f"--storage-option={k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in s3_options(s3).items()]
    assert main(["download", EEG, str(dest), "--subject", "1", "--berg-dir", s3_stores["legacy"], "--progress", *opts]) == 0
    out = capsys.readouterr()
    assert "fetched" in out.out and EEG in out.err  # the tqdm bar names the model
    assert _files(dest) == {EEG_WEIGHTS, f"{EEG_DIR}/metadata/metadata_subject-01.npy", f"{EEG_DIR}/berg-manifest.json"}
    manifest = json.loads((dest / EEG_DIR / "berg-manifest.json").read_text())
    for entry in manifest["files"]:
        data = (dest / EEG_DIR / entry["path"]).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    local = BERG(str(dest))
    remote = BERG(s3_stores["legacy"], storage_options=s3_options(s3))
    outs = []
    for berg in (local, remote):
        with berg.get_encoding_model(EEG, subject=1, selection={"channels": ["Oz"]}, **vit_options(vit_weights_file)) as m:
            outs.append(respond(berg, m, images, features).values)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_per_roi_files(s3: Any, s3_stores: dict[str, str], tmp_path: Path) -> None:
    report = download_model(FWRF, subjects=[1], rois=["lateral"], dest=tmp_path / "d", berg_dir=s3_stores["native"],
                            storage_options=s3_options(s3), show_progress=False)
    tops = {p[len(FWRF_DIR) + 1 :].split(".zarr/")[0] for p in report.files}  # a Zarr group counts once
    assert tops == {
        "berg-card.yaml",
        "berg-manifest.json",
        "encoding_models_weights/weights_sub-01_roi-lateral_split-1.pt",
        "encoding_models_weights/weights_sub-01_roi-lateral_split-2.pt",
        "metadata/metadata_sub-01_roi-lateral",
    }
    # the downloaded store loads the model, checked against its manifest
    model = BERG(str(tmp_path / "d")).get_encoding_model(FWRF, subject=1, selection={"roi": "lateral"}, device="cpu")
    assert model.selection
    with pytest.raises(InvalidParameterError, match=r"ROI\(s\) \['XYZ'\] are not available.*valid ROIs: \['V1'"):
        download_model(FWRF, rois=["XYZ"], dest=tmp_path / "e", berg_dir=s3_stores["native"], storage_options=s3_options(s3), show_progress=False)


def test_whole_brain_models_note_that_roi_does_not_reduce(s3: Any, s3_stores: dict[str, str], tmp_path: Path) -> None:
    report = download_model(FSAVERAGE, subjects=[1], rois=["V1"], dest=tmp_path / "d", berg_dir=s3_stores["legacy"],
                            storage_options=s3_options(s3), show_progress=False)
    assert any("does not reduce the download" in n for n in report.notes)
    with pytest.raises(InvalidParameterError, match=r"no files of .* for subject\(s\) \[2\]"):
        download_model(FSAVERAGE, subjects=[2], dest=tmp_path / "e", berg_dir=s3_stores["legacy"], storage_options=s3_options(s3), show_progress=False)


def test_interrupted_download_resumes(s3: Any, s3_stores: dict[str, str], legacy_root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    size = (legacy_root / EEG_WEIGHTS).stat().st_size
    s3.fault = Fault(EEG_WEIGHTS, after_bytes=size // 2)
    kw = {"subjects": [1], "dest": dest, "berg_dir": s3_stores["legacy"], "show_progress": False}
    with pytest.raises(StoreError, match=EEG_WEIGHTS):
        download_model(EEG, storage_options=s3_options(s3), **kw)
    part = dest / (EEG_WEIGHTS + ".part")
    kept = part.stat().st_size
    assert 0 < kept <= size // 2 and not (dest / EEG_WEIGHTS).exists()
    s3.restart()
    s3.reset_log()
    report = download_model(EEG, storage_options=s3_options(s3), **kw)
    assert EEG_WEIGHTS in report.fetched
    assert s3.bytes_sent(EEG_WEIGHTS) == size - kept  # only the missing part travelled
    assert (dest / EEG_WEIGHTS).read_bytes() == (legacy_root / EEG_WEIGHTS).read_bytes()
    again = download_model(EEG, storage_options=s3_options(s3), **kw)
    assert not again.fetched and EEG_WEIGHTS in again.already_there


def test_default_destination_is_the_cache(s3: Any, s3_stores: dict[str, str]) -> None:
    url = s3_stores["native"]
    report = download_model(FWRF, subjects=[1], rois=["V1"], berg_dir=url, storage_options=s3_options(s3), show_progress=False)
    assert report.fetched
    s3.stop()
    model = BERG(url, storage_options=s3_options(s3)).get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")
    assert model.selection


def test_local_source_needs_a_destination(legacy_root: Path) -> None:
    with pytest.raises(InvalidParameterError, match="local store already"):
        download_model(EEG, subjects=[1], berg_dir=str(legacy_root), show_progress=False)
