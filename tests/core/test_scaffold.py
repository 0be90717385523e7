"""``berg new-plugin``: the scaffolded distribution is found, validates, passes its own tests (berg's
conformance kit) and keeps ``berg models`` free of torch.

"Installed" as tests/core/conftest.py installs the toy plugin: its folder on the path plus a dist-info
with the entry point (``pip install -e`` is too slow for the suite; it was tried by hand).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from berg_core.cli.main import main
from berg_core.cli.scaffold import plugin_names
from berg_core.testing import sdk_import_violations

DIST = "berg-scaffold-probe"
NAMES = plugin_names(DIST)


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scaffold")
    assert main(["new-plugin", DIST, "--output", str(out)]) == 0
    return out / DIST


@pytest.fixture(scope="module")
def env(scaffold: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a process in which the scaffold is installed (and no bundled plugin is needed)."""
    site = tmp_path_factory.mktemp("site")
    dist = site / f"{NAMES['package']}-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[berg.plugins]\n{NAMES['entry_point']} = {NAMES['package']}.plugin\n")
    paths = [str(scaffold), str(site), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}


def berg(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from berg_core.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def test_layout_and_packaging(scaffold: Path):
    package = scaffold / NAMES["package"]
    assert (package / "cards" / f"{NAMES['model_id']}.yaml").is_file()
    for name in ("__init__.py", "plugin.py", "model.py", "synthetic.py", "plots.py", "layout.py"):
        assert (package / name).is_file(), name
    assert (scaffold / "tests" / "test_conformance.py").is_file()
    assert not list(scaffold.rglob("*.tmpl")) and not list(scaffold.rglob("*$*"))
    project = tomllib.loads((scaffold / "pyproject.toml").read_text())
    assert project["project"]["name"] == DIST
    assert project["project"]["entry-points"]["berg.plugins"] == {NAMES["entry_point"]: f"{NAMES['package']}.plugin"}
    # the cards ship in wheels, not only in editable installs
    assert project["tool"]["setuptools"]["package-data"] == {NAMES["package"]: ["cards/*.yaml"]}


def test_plugin_imports_only_the_sdk(scaffold: Path):
    bad = sdk_import_violations(scaffold / NAMES["package"])  # its tests may import berg_core.testing too
    assert not bad, bad


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_generated_code_is_lint_clean(scaffold: Path):
    out = subprocess.run(["ruff", "check", "--isolated", "--select", "E,F,W,I,B,UP,RUF", "--line-length", "120",
                          str(scaffold)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_listed_validated_and_torch_free(env: dict[str, str]):
    listed = berg(env, "models")
    assert listed.returncode == 0, listed.stderr
    assert NAMES["model_id"] in listed.stdout and f"[{NAMES['entry_point']}]" in listed.stdout
    valid = berg(env, "validate", NAMES["entry_point"])
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "1 valid, 0 invalid" in valid.stdout
    code = "import sys; from berg_core.cli.main import main; main(['models']); print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert NAMES["model_id"] in out.stdout
    assert out.stdout.strip().endswith("[]"), out.stdout


def test_joins_the_demo(env: dict[str, str], tmp_path: Path):
    """``berg demo`` writes the scaffold's synthetic store, encodes with it and draws its result.

    ``--model`` keeps it to the scaffold's model (the bundled ones take ~20 s more); that every
    installed model joins a plain ``berg demo`` is tested in tests/demo with a third-party plugin.
    """
    import numpy as np
    import xarray as xr
    from PIL import Image

    model_id = NAMES["model_id"]
    out = berg(env, "demo", "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "out"), "--no-progress",
               "--model", model_id)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 model(s) encoded 8 images" in out.stdout and f"model   {model_id}/subject-01" in out.stdout

    tree = xr.open_datatree(tmp_path / "out" / "results.zarr", engine="zarr")
    assert list(tree.children) == [model_id]
    result = tree[f"{model_id}/subject-01"]["response"]
    assert dict(result.sizes) == {"stimulus": 8, "unit": 4}
    assert list(result["unit"].values) == ["unit_a", "unit_b", "unit_c", "unit_d"]
    assert np.isfinite(result.values).all() and result.values.std() > 0  # the read-out of real features

    with Image.open(tmp_path / "out" / "pictures" / f"{model_id}_subject-01.png") as picture:
        grey = np.asarray(picture.convert("L"), dtype=float)
    assert grey.size > 100_000 and grey.std() > 10, "a blank picture"


def test_its_own_tests_pass(scaffold: Path, env: dict[str, str], tmp_path: Path):
    """The generated tests run berg's conformance kit on a synthetic store (seeded backbone included)."""
    # their temporary store lives in this test's folder, which goes with it
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run")],
                         cwd=scaffold, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad name", "must be a distribution name"),
        ("trailing-dash-", "must be a distribution name"),
        ("1st-model", "which Python cannot import"),
        ("class", "which Python cannot import"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str):
    assert main(["new-plugin", name, "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / DIST
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    assert main(["new-plugin", DIST, "--output", str(tmp_path)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    # an empty folder is fine
    (target / "mine.txt").unlink()
    assert main(["new-plugin", DIST, "--output", str(tmp_path)]) == 0
    assert (target / "pyproject.toml").is_file()
