"""``berg plot RESULT.zarr``: one picture per model group of a multi-model store, or one for a single result."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.cli.main import main

from .pictures import assert_picture

FWRF = "fmri-nsd-fwrf"


def test_multi_model_store_gives_one_picture_per_group(encoded, tmp_path, capsys):
    from berg_core.results.groups import find_result_groups

    groups = find_result_groups(encoded)
    assert groups == [
        "eeg-things_eeg_2-vit_b_32/subject-01",
        "fmri-nsd-fwrf/subject-01",
        "fmri-nsd_fsaverage-vit_b_32/subject-01",
    ]
    argv = ["plot", str(encoded), "-o", str(tmp_path / "pics"), "--stimulus", "1", "--reliability", "0.5", "--option", "dpi=40"]
    assert main(argv) == 0  # --reliability masks the fMRI results; the EEG result has no reliability to mask
    out = capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert names == [g.replace("/", "_") + ".png" for g in groups]
    for name in names:
        assert_picture(tmp_path / "pics" / name, min_colours=20)
    assert "3 picture(s)" in out


def test_single_result_store(store_root, images, tmp_path, capsys):
    from berg_core import BERG

    berg = BERG(store_root)
    with berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu") as model:
        berg.encode(model, images[:2], store=str(tmp_path / "v1.zarr"), show_progress=False)
    assert main(["plot", str(tmp_path / "v1.zarr"), "-o", str(tmp_path), "--reliability", "0.2",
                 "--option", "n_slices=4"]) == 0
    assert_picture(tmp_path / "fmri-nsd-fwrf_subject-01.png", min_colours=20)
    assert "fmri-nsd-fwrf/subject-01:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--option", "eeg-things_eeg_2-vit_b_32:times=[5]"], "times [5.0] lie outside this result's time range"),
        (["--option", "views=[\"lateral\"]"], "unknown plot option(s) ['views'] for eeg-things_eeg_2-vit_b_32 results"),
        (["--option", "fmri-nsd:dpi=50"], "plot options given for model(s) ['fmri-nsd'], which made none of these results"),
        (["--option", "stimulus=1", "--stimulus", "2"], "--stimulus and --option stimulus=... both given"),
    ],
)
def test_bad_plot_options_report_errors(encoded, tmp_path, capsys, argv, message):
    assert main(["plot", str(encoded), "-o", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_results_is_refused(tmp_path, capsys):
    (tmp_path / "empty.zarr").mkdir()
    assert main(["plot", str(tmp_path / "empty.zarr")]) == 2
    assert "holds no berg result" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing.zarr")]) == 2
    assert "no result store at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", str(tmp_path), "--option", "novalue"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_open_results_reads_labels_and_values(encoded):
    from berg_core.results.groups import open_results

    results = open_results(encoded)
    fwrf = results["fmri-nsd-fwrf/subject-01"]
    assert fwrf.dims == ("stimulus", "voxel") and fwrf.attrs["model_id"] == FWRF
    assert np.isfinite(np.asarray(fwrf.values)).all()
