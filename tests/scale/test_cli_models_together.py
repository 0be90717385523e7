"""``berg encode`` runs models with different selection keys together: per-model ``--select`` and
``--option`` (the ``[MODEL:]KEY=VALUE`` rule of ``berg plot --option``), Zarr arrays as stimuli, a
finished run that says so and exits 0, and progress while the models load.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from berg_core import BERG
from berg_core.cli.main import main

EEG = "eeg-things_eeg_2-vit_b_32"
FWRF = "fmri-nsd-fwrf"
SMALL = {EEG: {"n_components": 4}, FWRF: {"rois": ["V1", "FFA-1"], "volume_shape": [9, 11, 8], "n_voxels": {"V1": 40, "FFA-1": 12}}}


@pytest.fixture(scope="module")
def eeg_fwrf_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_core.workflows.synthetic import write_synthetic_store

    root = tmp_path_factory.mktemp("eeg_fwrf")
    write_synthetic_store(root, models=[EEG, FWRF], subjects=[1], seed=4, options=SMALL, backbone=False)
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(2)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, size=(20 + i, 24, 3), dtype=np.uint8)).save(d / f"im{i}.png")
    return d


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "berg_core.cli.main", *argv], capture_output=True, text=True, timeout=300, env=env)


def test_eeg_and_fwrf_in_one_command_with_per_model_selections(
    eeg_fwrf_store: Path, images: Path, vit_weights_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.zarr"
    argv = [
        "encode", f"{EEG},{FWRF}", "--subject", "1", "--select", f"{FWRF}:roi=V1", "--select", "channels=Oz,O1",
        str(images), "-o", str(out), "--berg-dir", str(eeg_fwrf_store), "--device", "cpu",
        "--backbone-weights", str(vit_weights_file),  # only the EEG model declares it: fwRF has its own network
    ]
    proc = _cli(*argv, "--progress")
    assert proc.returncode == 0, proc.stderr
    assert "encoded 3 stimuli with 2 model(s)" in proc.stdout
    assert f"loaded {FWRF}/subject-01 in" in proc.stderr and f"loaded {EEG}/subject-01 in" in proc.stderr  # progress while the models load
    eeg = xr.open_zarr(out, group=f"{EEG}/subject-01")
    fwrf = xr.open_zarr(out, group=f"{FWRF}/subject-01")
    assert list(eeg["channel"].values) == ["Oz", "O1"]
    berg = BERG(eeg_fwrf_store)
    alone = berg.encode(berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu"), images, show_progress=False)
    got = fwrf[next(iter(fwrf.data_vars))]
    assert got.shape == alone.shape
    np.testing.assert_allclose(got.values, alone.values, rtol=1e-5, atol=1e-6)

    # the same command again: the store finds the same computation complete; exit 0
    assert main([*argv, "--no-progress"]) == 0
    assert "already holds the complete result" in capsys.readouterr().out
    # other pixels under the same file names: not "complete", refused in one line saying what changed
    changed = tmp_path / "changed"
    shutil.copytree(images, changed)
    Image.fromarray(np.zeros((20, 24, 3), dtype=np.uint8)).save(changed / "im0.png")
    assert main([*(str(changed) if a == str(images) else a for a in argv), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "already holds the complete result" not in err


@pytest.mark.parametrize(
    ("flags", "channels", "n_voxels"),
    [
        (["--roi", "V1"], 63, 40),  # sugar: applies to the model that has a ROI, not an error for EEG
        (["--roi", "V1,FFA-1", "--channels", "Cz"], 1, 52),
        (["--select", f"{FWRF}:roi=FFA-1", "--select", f"{EEG}:channels=[\"O2\",\"Oz\",\"O1\"]"], 3, 12),
        (["--select", "roi=V1", "--select", f"{FWRF}:roi=FFA-1"], 63, 12),  # the prefixed value wins for its model
    ],
)
def test_selection_flags_reach_the_models_that_declare_them(
    eeg_fwrf_store: Path, vit_weights_file: Path, tmp_path: Path, flags: list[str], channels: int, n_voxels: int
) -> None:
    import zarr

    arr = zarr.create_array(str(tmp_path / "stim.zarr"), shape=(2, 3, 16, 16), chunks=(1, 3, 16, 16), dtype="uint8")
    arr[:] = np.random.default_rng(0).integers(0, 256, (2, 3, 16, 16), dtype=np.uint8)
    out = tmp_path / "o.zarr"
    assert main(["encode", f"{EEG},{FWRF}", "--subject", "1", *flags, str(tmp_path / "stim.zarr"), "-o", str(out),
                 "--berg-dir", str(eeg_fwrf_store), "--device", "cpu", "--backbone-weights", str(vit_weights_file),
                 "--no-progress"]) == 0
    eeg = xr.open_zarr(out, group=f"{EEG}/subject-01")
    fwrf = xr.open_zarr(out, group=f"{FWRF}/subject-01")
    assert eeg.sizes["channel"] == channels and eeg.sizes["stimulus"] == 2
    assert fwrf.sizes["voxel"] == n_voxels


def test_a_zarr_array_on_the_command_line_matches_the_api(eeg_fwrf_store: Path, tmp_path: Path) -> None:
    import zarr

    pixels = np.random.default_rng(5).integers(0, 256, (3, 3, 12, 14), dtype=np.uint8)
    zarr.create_array(str(tmp_path / "stim.zarr"), shape=pixels.shape, chunks=(2, 3, 12, 14), dtype="uint8")[:] = pixels
    out = tmp_path / "o.zarr"
    assert main(["encode", FWRF, "--subject", "1", "--roi", "FFA-1", str(tmp_path / "stim.zarr"), "-o", str(out),
                 "--berg-dir", str(eeg_fwrf_store), "--device", "cpu", "--no-progress"]) == 0
    berg = BERG(eeg_fwrf_store)
    ref = berg.encode(berg.get_encoding_model(FWRF, subject=1, selection={"roi": "FFA-1"}, device="cpu"), pixels, show_progress=False)
    ds = xr.open_zarr(out)
    np.testing.assert_allclose(ds[next(iter(ds.data_vars))].values, ref.values, rtol=1e-5, atol=1e-6)


def _zarr_group(d: Path) -> Path:
    import zarr

    zarr.open_group(str(d / "g.zarr"), mode="w").create_array("pix", shape=(1, 3, 4, 4), dtype="uint8")
    return d / "g.zarr"


def _h5_file(d: Path) -> Path:
    (d / "s.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    return d / "s.h5"


def _damaged_zarr(d: Path) -> Path:
    (d / "bad.zarr").mkdir()
    (d / "bad.zarr" / "zarr.json").write_text("{not json")
    return d / "bad.zarr"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_zarr_group, r"g\.zarr is a Zarr group, not an array of images .*'pix'"),
        (_h5_file, r"s\.h5 is an HDF5 file: name the dataset"),
        (lambda d: d / "missing.zarr", r"Zarr array '.*missing\.zarr' does not exist"),
        (_damaged_zarr, r"zarr\.json cannot be read as Zarr metadata"),
    ],
    ids=["group", "h5 without dataset", "missing", "damaged metadata"],
)
def test_stimulus_arrays_that_cannot_be_read_are_one_line_errors(
    eeg_fwrf_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    import re

    target = make(tmp_path)
    out = tmp_path / "o.zarr"
    assert main(["encode", FWRF, "--subject", "1", "--roi", "V1", str(target), "-o", str(out),
                 "--berg-dir", str(eeg_fwrf_store), "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert not out.exists()


def test_a_folder_with_subfolders_needs_recursive(eeg_fwrf_store: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nested = tmp_path / "nested"
    shutil.copytree(images, nested / "sub")
    shutil.copy(images / "im0.png", nested / "top.png")
    base = ["encode", FWRF, "--subject", "1", "--roi", "V1", str(nested), "--berg-dir", str(eeg_fwrf_store), "--device", "cpu",
            "--no-progress"]
    assert main([*base, "-o", str(tmp_path / "a.zarr")]) == 2  # never silently the top level only
    assert "--recursive" in capsys.readouterr().err and not (tmp_path / "a.zarr").exists()
    assert main([*base, "-o", str(tmp_path / "b.zarr"), "--recursive"]) == 0
    ids = list(xr.open_zarr(tmp_path / "b.zarr")["stimulus"].values)
    assert sorted(ids) == ["sub/im0.png", "sub/im1.png", "sub/im2.png", "top.png"]


def test_a_scheduler_address_that_answers_is_used(eeg_fwrf_store: Path, images: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        out = tmp_path / "dist.zarr"
        assert main(["encode", FWRF, "--subject", "1", "--roi", "V1", str(images), "-o", str(out), "--berg-dir", str(eeg_fwrf_store),
                     "--device", "cpu", "--no-progress", "--scheduler", cluster.scheduler_address, "--scheduler-timeout", "10"]) == 0
    berg = BERG(eeg_fwrf_store)
    ref = berg.encode(berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu"), images, show_progress=False)
    ds = xr.open_zarr(out)
    np.testing.assert_allclose(ds[next(iter(ds.data_vars))].values, ref.values, rtol=1e-5, atol=1e-6)
