"""``berg describe`` / ``BERG.describe`` tell what can be selected: the valid values of every selection
key, preprocessing, performance as text, references, no mention of a section it does not print; with
``--store``, which subjects and ROIs that store holds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from berg_core import BERG
from berg_core.cards.describe_text import values_text
from berg_core.cli.main import main

FWRF = "fmri-nsd-fwrf"
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
EEG = "eeg-things_eeg_2-vit_b_32"
MODELS = BERG("/tmp").list_models()


@pytest.mark.parametrize("model_id", MODELS)
def test_every_selection_key_and_its_valid_values_are_described(model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    berg = BERG("/tmp")
    card = berg.get_card(model_id)
    assert main(["describe", model_id, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    keys = info["model_info"]["selection_keys"]
    assert list(keys) == [k.name for k in card.selection_keys]
    for key in card.selection_keys:
        assert keys[key.name]["valid_values"] == key.valid_values
    assert main(["describe", model_id]) == 0
    text = capsys.readouterr().out
    for key in card.selection_keys:
        assert re.search(rf"^  {re.escape(key.name)}:$", text, re.MULTILINE)
        for value in (key.valid_values or [])[:60]:
            if isinstance(value, str):
                assert value in text  # names are printed whole: a user picks from them
    assert berg.describe(model_id, print_output=False) == describe_dict(model_id)


def describe_dict(model_id: str) -> dict:
    from berg_core.api import describe_card

    return describe_card(BERG("/tmp").get_card(model_id))


@pytest.mark.parametrize("model_id", MODELS)
def test_every_section_the_text_mentions_is_printed(model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", model_id]) == 0
    text = capsys.readouterr().out
    headers = {ln.split(" (")[0].rstrip(":").lower() for ln in text.splitlines() if ln and not ln.startswith(" ")}
    for section in re.findall(r"see the (\w+) section", text, re.IGNORECASE):
        assert section.lower() in headers, f"'see the {section} section' but no such section in {sorted(headers)}"
    for mention in re.findall(r"\bsee (input|output)\b", text, re.IGNORECASE):
        assert mention.lower() in headers
    card = BERG("/tmp").get_card(model_id)
    for ref in card.references:
        assert " ".join(ref.citation.split())[:40] in " ".join(text.split())
    perf = text.split("Performance:", 1)[1].split("\n\n", 1)[0] if "Performance:" in text else ""
    assert "{'" not in perf and "metric:" in perf  # text, not a dict dump


def test_the_eeg_time_grid_reads_as_a_range_and_step(capsys: pytest.CaptureFixture[str]) -> None:
    from berg_eeg_things.layout import reference_times

    card = BERG("/tmp").get_card(EEG)
    times = next(k for k in card.selection_keys if k.name == "timepoints").valid_values
    assert times == pytest.approx(list(reference_times()), abs=1e-9)
    assert main(["describe", EEG]) == 0
    assert "valid: -0.1 to 0.595 in steps of 0.005 (140 values)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ([round(0.01 * i, 2) for i in range(20)], "0 to 0.19 in steps of 0.01 (20 values)"),
        (list(range(1, 9)), "1, 2, 3, 4, 5, 6, 7, 8"),  # short lists are listed
        ([*range(20), 30], ", ".join(map(str, [*range(20), 30]))),  # uneven: every value
        (["V1", "V2"], "V1, V2"),
        ([True] * 20, ", ".join(["True"] * 20)),
    ],
)
def test_values_text(values: list, text: str) -> None:
    assert values_text(values) == text


@pytest.fixture(scope="module")
def partial_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_core.workflows.synthetic import write_synthetic_store

    root = tmp_path_factory.mktemp("partial")
    write_synthetic_store(root, models=[FWRF], subjects=[1, 3], seed=1, backbone=False,
                          options={FWRF: {"rois": ["V1", "FFA-1"], "volume_shape": [9, 11, 8], "n_voxels": {"V1": 40, "FFA-1": 12}}})
    # subject 3 keeps only V1: a partial download
    for f in root.rglob("*sub-03_roi-FFA-1*"):
        f.unlink() if f.is_file() else None
    return root


def test_describe_store_lists_the_subjects_and_rois_it_holds(partial_store: Path) -> None:
    argv = [sys.executable, "-m", "berg_core.cli.main", "describe", FWRF, "--store", str(partial_store)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "subjects: 1, 3" in proc.stdout and "not there: subject(s) 2, 4, 5, 6, 7, 8" in proc.stdout
    assert "subject 1 ROIs: V1, FFA-1" in proc.stdout and "subject 3 ROIs: V1\n" in proc.stdout
    proc = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=120)
    held = json.loads(proc.stdout)["store"]
    assert held["subjects"] == [1, 3] and held["rois"] == {"1": ["V1", "FFA-1"], "3": ["V1"]}


def test_describe_store_without_the_model_is_a_one_line_error(partial_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", EEG, "--store", str(partial_store)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"holds no file of {EEG}" in err
