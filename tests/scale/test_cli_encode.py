"""``berg encode``: one command, checked before any work, a summary at the end, resumable output."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from berg_core.cli.main import main

MODEL = "fmri-nsd_fsaverage-vit_b_32"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, size=(30 + i, 40, 3), dtype=np.uint8)).save(d / f"im{i}.png")
    return d


def _args(fmri_store, image_dir, out, vit_weights_file, *extra):
    return ["encode", MODEL, str(image_dir), "-o", str(out), "--berg-dir", str(fmri_store), "--subject", "1,2",
            "--roi", "V1", "--device", "cpu", "--backbone-weights", str(vit_weights_file), "--no-progress", *extra]


def test_encode_writes_every_model_and_prints_a_summary(fmri_store, image_dir, vit_weights_file, tmp_path, capsys):
    from berg_core import BERG

    out = tmp_path / "out.zarr"
    assert main(_args(fmri_store, image_dir, out, vit_weights_file, "--batch-size", "2")) == 0
    text = capsys.readouterr().out
    assert "encoded 5 stimuli with 2 model(s)" in text and "images/s" in text and str(out) in text
    berg = BERG(fmri_store)
    model = berg.get_encoding_model(MODEL, subject=2, selection={"roi": "V1"}, device="cpu", backbone_weights=str(vit_weights_file))
    ref = berg.encode(model, image_dir, batch_size=2, show_progress=False)
    ds = xr.open_zarr(out / f"{MODEL}/subject-02")
    got = ds[ds.attrs["berg_variable"]]
    np.testing.assert_array_equal(got.values, ref.values)
    assert list(got.stimulus.values) == [f"im{i}.png" for i in range(5)]
    # the same command again: says the result is complete, exits 0 and leaves it alone ...
    stamp = (out / f"{MODEL}/subject-02/zarr.json").stat().st_mtime_ns
    assert main(_args(fmri_store, image_dir, out, vit_weights_file, "--batch-size", "2")) == 0
    text = capsys.readouterr().out
    assert "already holds the complete result" in text and "--overwrite" in text
    assert (out / f"{MODEL}/subject-02/zarr.json").stat().st_mtime_ns == stamp
    # ... unless asked
    assert main(_args(fmri_store, image_dir, out, vit_weights_file, "--batch-size", "2", "--overwrite")) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--subject", "9"], r"subject\(s\) \[9\] are not available .*valid subjects: \[1, 2, 3, 4, 5, 6, 7, 8\]"),
        (["--channels", "Oz"], r"--channels does not apply to fmri-nsd_fsaverage-vit_b_32; its selection keys are \['roi'"),
        (["--select", "eeg-things_eeg_2-vit_b_32:channels=Oz"], r"names 'eeg-things_eeg_2-vit_b_32', which is not encoded here"),
        (["--select", "fmri-nsd_fsaverage-vit_b_32:channels=Oz"], r"has no selection key 'channels'; its selection keys: \['roi'"),
        (["--select", "roi=V2"], r"selection key roi is given twice \(--roi and --select\)"),
        (["--option", "dpi=3"], r"--option dpi=\.\.\. does not apply to fmri-nsd_fsaverage-vit_b_32; its options are \['preprocessing'"),
        (["--device", "tpu"], r"device='tpu' is not"),
    ],
)
def test_bad_arguments_fail_before_any_work(fmri_store, image_dir, vit_weights_file, tmp_path, capsys, extra, message):
    import re

    out = tmp_path / "bad.zarr"
    assert main(_args(fmri_store, image_dir, out, vit_weights_file, *extra)) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_argument_types_and_missing_subject(fmri_store, image_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["encode", MODEL, str(image_dir), "-o", str(tmp_path / "x.zarr"), "--batch-size", "0"])
    assert exc.value.code == 2 and "expected a positive integer, got '0'" in capsys.readouterr().err
    assert main(["encode", MODEL, str(image_dir), "-o", str(tmp_path / "x.zarr"), "--berg-dir", str(fmri_store)]) == 2
    assert "--subject is required; valid subjects" in capsys.readouterr().err
    assert main(["encode", "nope-model", str(image_dir), "-o", str(tmp_path / "x.zarr"), "--subject", "1"]) == 2
    assert "unknown model 'nope-model'" in capsys.readouterr().err
    assert main(["encode", MODEL, str(tmp_path / "missing"), "-o", str(tmp_path / "x.zarr"), "--subject", "1", "--berg-dir", str(fmri_store)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()
