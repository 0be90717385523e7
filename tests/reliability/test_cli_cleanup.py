"""Tools that clean up after themselves: a store outlives the plugins that wrote it.

A third-party plugin, really installed for a ``berg`` subprocess (a package with an entry point on
PYTHONPATH), writes its result next to a bundled model's in one store; in this process, where it is
not installed, ``berg plot`` draws the rest into a folder it creates and names what it skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from berg_core.cli.main import main

from .conftest import FWRF
from .helpers import TOY, cli_env, run_cli


@pytest.fixture(scope="module")
def mixed_results(store_root: Path, toy_pm: Any, plugin_site: Path, image_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run.zarr`` holding ``fmri-nsd-fwrf/subject-01`` and the toy model's result, encoded together."""
    import sys

    base = tmp_path_factory.mktemp("mixed")
    root = base / "store"
    shutil.copytree(store_root, root)
    card = toy_pm.registry.get(TOY).card
    toy_pm.owner_hook("berg_write_synthetic_store", "toy")(card=card, root=str(root), subjects=[1], seed=0, options={})
    out = base / "run.zarr"
    argv = [sys.executable, "-m", "berg_core.cli.main", "encode", f"{TOY},{FWRF}", str(image_dir), "-o", str(out),
            "--subject", "1", "--select", f"{FWRF}:roi=V1", "--select", f"{TOY}:units=[0]", "--berg-dir", str(root),
            "--device", "cpu", "--no-progress"]
    proc = run_cli(argv, cli_env(plugin_site))
    assert proc.returncode == 0, proc.stderr
    return out


def test_plot_creates_its_folder_and_skips_results_of_uninstalled_models(
    mixed_results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pictures = tmp_path / "new" / "deeper" / "pics"
    assert main(["plot", str(mixed_results), "-o", str(pictures), "--option", "dpi=30"]) == 0
    captured = capsys.readouterr()
    assert [p.name for p in pictures.iterdir()] == [f"{FWRF}_subject-01.png"]
    warnings = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert warnings == [f"berg plot: warning: skipped {TOY}/subject-01: no installed plugin provides {TOY} "
                        "(install its plugin to draw it)"]
    assert "1 picture(s)" in captured.out


def test_plot_into_a_path_that_is_a_file_is_a_one_line_error(mixed_results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["plot", str(mixed_results), "-o", str(tmp_path / "a_file" / "pics")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot create the picture folder" in err


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_cache_info_and_clear_cover_the_demo_and_leave_foreign_files(
    isolated_cache: Path, store_root: Path, mixed_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sys

    from berg_core.store.cache import StoreCache

    demo = isolated_cache / "demo"
    shutil.copytree(store_root, demo / "store")  # a store in the real formats, as the demo builds
    shutil.copytree(mixed_results, demo / "output" / "results.zarr")
    mirror = StoreCache.for_store("s3://bucket/berg", None)
    mirror.write("encoding_models/a.npy", b"x" * 1000)
    mirror.remember("encoding_models/a.npy", 1000)  # what a read of the remote records
    (isolated_cache / "my_notes.txt").write_text("the user's, not berg's")
    demo_bytes = _folder_bytes(demo)

    proc = run_cli([sys.executable, "-m", "berg_core.cli.main", "cache", "info", "--json"], cli_env(Path(".")))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    parts = {p["name"]: p for p in info["parts"]}
    assert parts["demo"]["bytes"] == demo_bytes > 0 and parts["stores"]["bytes"] == 1000
    assert info["total_bytes"] == demo_bytes + 1000 and info["not_berg"] == ["my_notes.txt"]
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert "demo/:" in text and "stores/:" in text and "s3://bucket/berg" in text and "my_notes.txt" in text

    assert main(["cache", "clear", "--only", "demo"]) == 0
    assert "cleared demo" in capsys.readouterr().out and not demo.exists() and mirror.has("encoding_models/a.npy")
    assert main(["cache", "clear"]) == 0
    assert "everything berg keeps" in capsys.readouterr().out
    assert sorted(p.name for p in isolated_cache.iterdir()) == ["my_notes.txt"]
