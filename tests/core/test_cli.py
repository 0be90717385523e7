"""The ``berg`` command line: models, describe, validate, --help everywhere, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from berg_core.cli.commands import COMMANDS
from berg_core.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_console_script_is_installed_and_lists_models():
    out = subprocess.run(["berg", "models"], capture_output=True, text=True, check=True).stdout
    assert "eeg-things_eeg_2-vit_b_32" in out and "fmri-nsd-fwrf" in out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage: berg" in capsys.readouterr().out


def test_every_command_module_registers_a_subcommand():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"id": "fmri-nsd-fwrf", "modality": "fmri", "plugin": "fmri_nsd"} in rows


def test_describe_prints_the_card_and_unknown_model_is_an_error(capsys):
    assert main(["describe", "eeg-things_eeg_2-vit_b_32"]) == 0
    assert "things_eeg_2" in capsys.readouterr().out
    assert main(["describe", "eeg-things_eeg_2-vit_b_31", "--json"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'eeg-things_eeg_2-vit_b_31'" in err and "Did you mean" in err


def test_validate_files_folders_and_installed_plugins(tmp_path, capsys):
    # every shipped card (plugins/<dist>/<package>/cards/*.yaml)
    shipped = [p for p in (ROOT / "plugins").glob("*/*/cards/*.yaml")]
    assert main(["validate", str(ROOT / "plugins")]) == 0
    out = capsys.readouterr().out
    assert f"{len(shipped)} valid, 0 invalid" in out and len(shipped) >= 14
    assert all(p.stem in out for p in shipped)
    assert main(["validate", "fmri_nsd"]) == 0
    assert "fmri_nsd:fmri-nsd-fwrf" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    src = (ROOT / "plugins/berg_fmri_nsd/berg_fmri_nsd/cards/fmri-nsd-fwrf.yaml").read_text()
    bad.write_text(src.replace("species: human", "species: 42\nsize: big"))
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "field 'size'" in out and "field 'species'" in out
    assert main(["validate", "no-such-plugin"]) == 2
    assert "neither a card file" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "berg_core.cli.main", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("berg ")
