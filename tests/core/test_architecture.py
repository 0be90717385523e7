"""The folder layout is the architecture: the import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    # layers (interfaces on top, file formats at the bottom) and no cycles, function-local imports included
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_the_top_level_stays_small() -> None:
    # concerns live in subpackages; the top level keeps the facade, errors and a few entry points
    modules = sorted(p.name for p in (ROOT / "berg_core").glob("*.py"))
    assert len(modules) <= 10, modules
    packages = sorted(p.parent.name for p in (ROOT / "berg_core").glob("*/__init__.py"))
    for package in packages:
        doc = (ROOT / "berg_core" / package / "__init__.py").read_text()
        assert doc.lstrip().startswith('"""'), f"berg_core/{package}/__init__.py says what the package is for"
