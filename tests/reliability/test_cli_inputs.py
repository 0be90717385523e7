"""Parameters and command lines a hostile user types: each is refused with an InvalidParameterError
(API) or one line and exit status 2 (CLI), never a raw ValueError/TypeError, a traceback or a hang.

Parser errors are checked in-process for many variants (fast) and in real ``berg`` processes for a
few, since only a real process shows a traceback or a hang. A seeded sample of odd values goes
through every selection key of the three bundled models.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import BERG, InvalidParameterError
from berg_core.cli.main import main

from .conftest import EEG, FSAVERAGE, FWRF

BERG_CLI = [sys.executable, "-m", "berg_core.cli.main"]


def _berg(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BERG_CLI, *argv], capture_output=True, text=True, timeout=timeout)


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


# ---- class 12: subjects --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def berg(store_root: Path) -> Any:
    return BERG(store_root)


@pytest.mark.parametrize(
    "subject", ["²", "١", "1.0", "1e0", "", " ", "0x1", "+1", "-1", "1_0", True, False, 1.5, 1.0, float("nan"),
                [1], (1,), {"s": 1}, b"1", None, 10**30, "9" * 40, np.float32(1.0), np.array([1])],
    ids=repr,
)
def test_odd_subjects_are_refused_with_the_valid_subjects(berg: Any, subject: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"subject.*\[1, 2, 3"):
        berg.get_model_metadata(FWRF, subject=subject, roi="V1")


@pytest.mark.parametrize("subject", [1, " 1", "1", np.int64(1), np.uint8(1)], ids=repr)
def test_integer_subjects_in_their_usual_spellings_work(berg: Any, subject: Any) -> None:
    assert berg.get_model_metadata(FWRF, subject=subject, roi="V1")


# ---- class 12: selections ------------------------------------------------------------------------
#: Odd values in every position a selection value can take: nested, wrong type, NaN, empty.
ODD = [
    None, True, np.bool_(False), float("nan"), float("-inf"), 1e308, -(10**40), "", "²", "0.1", b"V1", 1j,
    [], [[]], [0.1, [0.2]], [[0.1], [0.2, 0.3]], [0.1, None], [None], [True, 0.1], [float("nan")], ["V1", ["V2"]],
    ["V1", None], ["V1", 3], {"a": 1}, [{"a": 1}], {1, 2}, (0.1,), np.array([[0.1]]), np.array(["a"]),
    np.array([0.1, np.nan]), np.zeros(3, dtype=object), slice(None), slice(0.1, [0.2]), slice("a", "b"),
    slice(0.1, 0.2, 1), slice(float("nan"), 1), object(), [object()], [0.5] * 5, [2] * 140, np.ones(163_842) * 2,
]
KEYS = {EEG: ["channels", "timepoints"], FSAVERAGE: ["roi", "lh_vertices", "rh_vertices"], FWRF: ["roi"]}


def _sample(seed: int, n: int) -> list[tuple[str, str, Any]]:
    cases = [(m, k, v) for m, keys in KEYS.items() for k in keys for v in ODD]
    return random.Random(seed).sample(cases, n)


@pytest.mark.parametrize(("model_id", "key", "value"), _sample(seed=11, n=40),
                         ids=lambda x: repr(x)[:30] if not isinstance(x, str) else x)
def test_odd_selection_values_raise_invalid_parameter_errors(berg: Any, model_id: str, key: str, value: Any) -> None:
    try:
        model = berg.get_encoding_model(model_id, subject=1, selection={key: value}, device="cpu")
    except InvalidParameterError as exc:
        assert str(exc)
        return
    # a few odd-looking values are valid (a slice of seconds, a flat 0/1 mask): they must select something
    assert model is not None


@pytest.mark.parametrize("value", [[1], ["train"], {"train": 1}, None, 3, b"train", ""], ids=repr)
def test_odd_preprocessing_values_list_the_modes(berg: Any, value: Any) -> None:
    if value is None:  # None means the card's default
        assert berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu", preprocessing=value)
        return
    with pytest.raises(InvalidParameterError, match=r"preprocessing(=.* is not available for fmri-nsd-fwrf; expected| must be a string,) one of \['berg-2.0', 'train'\]"):
        berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu", preprocessing=value)


@pytest.mark.parametrize("value", [[0.1, [0.2]], [[0.1], [0.2, 0.3]], ["Oz", ["O1"]], [0.1, None], [float("nan")]], ids=repr)
def test_nested_or_nan_timepoints_name_the_time_grid(berg: Any, value: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"timepoints.*|time\(s\)"):
        berg.get_encoding_model(EEG, subject=1, selection={"timepoints": value}, device="cpu")


# ---- class 14: the parser, in-process (many variants) --------------------------------------------
PARSER_CASES = [
    (["encode", "", "x", "-o", "y"], r"argument models: expected model id\(s\)"),
    (["encode", ",,", "x", "-o", "y"], r"argument models: expected model id\(s\)"),
    (["encode", " , ", "x", "-o", "y"], r"argument models: expected model id\(s\)"),
    (["encode", "m", "x", "-o", "y", "--batch-size", "9" * 20], r"expected a positive integer, got '9{20}' \(accepted: 1 to"),
    (["encode", "m", "x", "-o", "y", "--batch-size", "²"], r"expected a positive integer, got '²'"),
    (["encode", "m", "x", "-o", "y", "--batch-size", "-3"], r"expected a positive integer, got '-3'"),
    (["encode", "m", "x", "-o", "y", "--batch-size", "1.5"], r"expected a positive integer, got '1.5'"),
    (["encode", "m", "x", "-o", "y", "--subject", "²"], r"subjects must be integers"),
    (["encode", "m", "x", "-o", "y", "--subject", "1,x y"], r"subjects must be integers or names"),
    (["encode", "m", "x", "-o", "y", "--subject", "-1"], r"subjects must be integers or names"),
    (["encode", "m", "x", "-o", "y", "--subject", "N/F"], r"subjects must be integers or names"),
    (["encode", "m", "x", "-o", "y", "--subject", ",,"], r"subjects must be integers"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "garbage"], r"expected 'local', 'local:N' or a scheduler address"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "http://h:1"], r"expected 'local', 'local:N' or a scheduler address"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "local:abc"], r"local:N needs a number of workers from 1"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "local:0"], r"local:N needs a number of workers from 1"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "local:-1"], r"local:N needs a number of workers from 1"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "local:" + "9" * 20], r"local:N needs a number of workers from 1"),
    (["encode", "m", "x", "-o", "y", "--scheduler", "local:"], r"local:N needs a number of workers from 1"),
    (["encode", "m", "x", "-o", "y", "--scheduler-timeout", "0"], r"expected a number of seconds, got '0'"),
    (["encode", "m", "x", "-o", "y", "--select", "roi"], r"expected \[MODEL:\]KEY=VALUE"),
    (["encode", "m", "x", "-o", "y", "--select", "=V1"], r"expected \[MODEL:\]KEY=VALUE"),
    (["encode", "m", "x", "-o", "y", "--select", "m:roi="], r"expected \[MODEL:\]KEY=VALUE"),
    (["encode", "m", "x", "-o", "y", "--roi", ","], r"expected one or more names"),
    (["download", "m", "--subject", "a b"], r"subjects must be integers or names"),
    (["convert", "a", "b", "--subject", "+1"], r"subjects must be integers or names"),
    (["encode", "m", "x"], r"the following arguments are required: -o/--output"),
    (["cache", "clear", "--cache-dir", ""], r"--cache-dir: expected a folder path, got an empty string"),
    (["demo", "-o", " "], r"--output-dir: expected a folder path, got an empty string"),
    (["plot", "r.zarr", "-o", ""], r"--output-dir: expected a folder path, got an empty string"),
    (["nope"], r"invalid choice: 'nope'"),
]


@pytest.mark.parametrize(("argv", "message"), PARSER_CASES, ids=lambda x: " ".join(x) if isinstance(x, list) else None)
def test_parser_errors_are_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    line = _one_line_error(capsys.readouterr().err)
    assert re.search(message, line), line


def test_subjects_as_a_comma_list_and_repeated_merge(tmp_path: Path) -> None:
    from berg_core.cli.main import build_parser

    args = build_parser().parse_args(["download", "m", "--subject", "1,2", "--subject", "3", "--subject", "2"])
    assert args.subject == [1, 2, 3]
    args = build_parser().parse_args(["convert", "a", "b", "--subject", "4", "--no-progress"])
    assert args.subject == [4] and args.progress is False
    # names stay names (the card resolves them later); numbers become integers
    args = build_parser().parse_args(["download", "m", "--subject", "N,F", "--subject", "01,UTS01"])
    assert args.subject == ["N", "F", 1, "UTS01"]
    args = build_parser().parse_args(["download", "m", "--quiet", "--roi", "V1,V2", "--roi", "FFA-1"])
    assert args.progress is False and args.roi == ["V1", "V2", "FFA-1"]


# ---- class 14: real processes --------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [["encode", "", "x", "-o", "y"], ["encode", "m", "x", "-o", "y", "--batch-size", "1" * 20],
     ["encode", "m", "x", "-o", "y", "--scheduler", "local:-1"]],
    ids=["empty model list", "20-digit batch size", "local:-1"],
)
def test_a_real_berg_process_prints_one_line_and_exits_2(argv: list[str]) -> None:
    proc = _berg(*argv)
    assert proc.returncode == 2
    assert _one_line_error(proc.stderr).startswith("berg encode: error:")


@pytest.fixture
def silent_endpoint() -> Any:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("kind", ["silent", "refused"])
def test_an_unreachable_scheduler_is_refused_within_the_timeout(
    store_root: Path, image_dir: Path, tmp_path: Path, silent_endpoint: str, kind: str
) -> None:
    address = silent_endpoint if kind == "silent" else "tcp://127.0.0.1:9"
    out = tmp_path / "run.zarr"
    t0 = time.monotonic()
    proc = _berg("encode", FWRF, str(image_dir), "-o", str(out), "--subject", "1", "--roi", "V1", "--berg-dir",
                 str(store_root), "--device", "cpu", "--scheduler", address, "--scheduler-timeout", "2")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2
    line = _one_line_error(proc.stderr)
    assert f"no Dask scheduler answered at {address} within 2 s" in line
    assert elapsed < 30  # interpreter start-up plus the 2 s deadline, not dask's 30 s or a hang
    assert not out.exists()


def test_an_unexpected_error_is_one_line_unless_the_traceback_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug (here: a command that divides by zero) is summarised in one line, exit 2; BERG_TRACEBACK=1 raises it."""
    import berg_core.cli.commands.models as models_command

    def buggy(args: Any) -> int:
        return 1 // 0

    monkeypatch.setattr(models_command, "run", buggy)
    monkeypatch.delenv("BERG_TRACEBACK", raising=False)
    assert main(["models"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("berg models: internal error: ZeroDivisionError") and "BERG_TRACEBACK=1" in line
    monkeypatch.setenv("BERG_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main(["models"])
