"""Result stores never lose what berg did not write, and never get two writers, whatever the spelling.

Class 1 of the adversarial pass: a folder given as output that holds anything but berg's own
results is refused (even with ``overwrite=True``), with every file left as it was. Class 2: a
call touches only the groups it writes (a single-model call into a store of several results
writes its own group there; a store of one result never gets groups). Class 3: locks are keyed
on the resolved location, so every spelling of one store (symlink, ``.``, ``..``, trailing
slash, equivalent URLs) meets the same lock.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from berg_core import StoreError
from berg_core.results.locks import lock_url
from berg_core.results.zarr_sink import result_state

from .conftest import write_images
from .helpers import TOY, cli_env, encode_argv, run_cli

HOLD_SCRIPT = """
import sys
from berg_core.results.locks import WriteLock
lock = WriteLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 9, 11), dtype=np.uint8)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a digest of its bytes (what must survive a refused call)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _model(berg: Any, subject: int = 1) -> Any:
    return berg.get_encoding_model(TOY, subject=subject, device="cpu")


# ---- class 1: folders berg did not write ---------------------------------------------------------------
def _thesis(root: Path) -> Path:
    (root / "chapters").mkdir(parents=True)
    (root / "thesis.tex").write_text("\\documentclass{book}")
    (root / "chapters" / "intro.tex").write_text("Once upon a time")
    return root


def _foreign_zarr(root: Path) -> Path:
    zarr.open_group(str(root), mode="w").create_array("data", shape=(3,), dtype="f4")[:] = 1
    return root


def _hidden_file(root: Path) -> Path:
    root.mkdir()
    (root / ".DS_Store").write_bytes(b"\0\1")
    return root


@pytest.mark.parametrize("make", [_thesis, _foreign_zarr, _hidden_file], ids=["thesis", "foreign-zarr", "hidden-file"])
@pytest.mark.parametrize("several", [False, True], ids=["one-model", "two-models"])
@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
def test_a_folder_berg_did_not_write_is_refused_and_left_as_it_was(
    toy_berg: Any, tmp_path: Path, make: Any, several: bool, overwrite: bool
) -> None:
    folder = make(tmp_path / "mine")
    before = _snapshot(folder)
    models = [_model(toy_berg, 1), _model(toy_berg, 2)] if several else _model(toy_berg)
    with pytest.raises(StoreError, match="files berg did not write") as err:
        toy_berg.encode(models, _images(3), show_progress=False, store=folder, overwrite=overwrite)
    shown = sorted(p.name for p in folder.iterdir())[0]
    assert repr(shown) in str(err.value)  # names what is there
    assert _snapshot(folder) == before
    assert not Path(lock_url(str(folder))).exists()


def test_the_stimulus_folder_as_store_is_refused(toy_berg: Any, tmp_path: Path) -> None:
    images = write_images(tmp_path / "images", 4)
    before = _snapshot(images)
    for overwrite in (False, True):
        with pytest.raises(StoreError, match=r"files berg did not write \('img00.png'"):
            toy_berg.encode(_model(toy_berg), images, show_progress=False, store=images, overwrite=overwrite)
    assert _snapshot(images) == before


def test_a_file_as_store_is_refused(toy_berg: Any, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        toy_berg.encode(_model(toy_berg), _images(2), show_progress=False, store=target, overwrite=True)
    assert target.read_text() == "keep me"


def test_berg_encode_into_the_working_folder_is_refused_with_one_line(toy_root: Path, plugin_site: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    images = write_images(project / "images", 3)
    (project / "analysis.py").write_text("print('mine')")
    before = _snapshot(project)
    # with --overwrite too (one process: the API tests cover the variants)
    done = run_cli([*encode_argv(toy_root, images, ".", 2), "--overwrite"], cli_env(plugin_site), cwd=project)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "files berg did not write" in done.stderr and "'analysis.py'" in done.stderr
    assert _snapshot(project) == before


def test_overwrite_replaces_only_berg_nodes_of_the_group(toy_berg: Any, tmp_path: Path) -> None:
    store = tmp_path / "run.zarr"
    toy_berg.encode([_model(toy_berg, 1), _model(toy_berg, 2)], _images(4), show_progress=False, store=store)
    # files a user put into the store: beside the groups, and inside the group that is replaced
    (store / "README.txt").write_text("what this run is")
    (store / TOY / "subject-01" / "notes.txt").write_text("looked fine")
    again = toy_berg.encode(_model(toy_berg, 1), _images(2, seed=5), show_progress=False, store=store, overwrite=True)
    assert again.sizes["stimulus"] == 2
    assert (store / "README.txt").read_text() == "what this run is"
    assert (store / TOY / "subject-01" / "notes.txt").read_text() == "looked fine"


# ---- class 2: a call touches only the groups it writes ---------------------------------------------
def test_a_single_model_call_into_a_store_of_several_writes_only_its_group(toy_berg: Any, tmp_path: Path) -> None:
    store = tmp_path / "run.zarr"
    m1, m2 = _model(toy_berg, 1), _model(toy_berg, 2)
    both = toy_berg.encode([m1, m2], _images(4), show_progress=False, store=store)
    keep = both[f"{TOY}/subject-02"].values.copy()
    group2 = _snapshot(store / TOY / "subject-02")
    with pytest.raises(StoreError, match="holds a complete result.*overwrite=True"):
        toy_berg.encode(m1, _images(4)[:2], show_progress=False, store=store)
    assert result_state(store / TOY / "subject-01")[0] is True
    redone = toy_berg.encode(m1, _images(4)[:2], show_progress=False, store=store, overwrite=True)
    np.testing.assert_array_equal(redone.values, toy_berg.encode(m1, _images(4)[:2], show_progress=False).values)
    # the other group: byte for byte as it was, and still complete
    assert _snapshot(store / TOY / "subject-02") == group2
    tree = toy_berg.open_results(store)
    np.testing.assert_array_equal(next(iter(tree[f"{TOY}/subject-02"].data_vars.values())).values, keep)
    assert tree[f"{TOY}/subject-01"].sizes["stimulus"] == 2


def test_a_store_of_one_result_gets_no_groups(toy_berg: Any, tmp_path: Path) -> None:
    store = tmp_path / "one.zarr"
    toy_berg.encode(_model(toy_berg, 1), _images(3), show_progress=False, store=store)
    before = _snapshot(store)
    for overwrite in (False, True):
        with pytest.raises(StoreError, match="holds one result at its root.*another store"):
            toy_berg.encode([_model(toy_berg, 1), _model(toy_berg, 2)], _images(3), show_progress=False, store=store,
                            overwrite=overwrite)
    assert _snapshot(store) == before


def test_a_running_multi_model_encode_keeps_its_groups_against_a_single_model_call(
    toy_root: Path, toy_berg: Any, plugin_site: Path, tmp_path: Path
) -> None:
    images = write_images(tmp_path / "images", 8)
    store = tmp_path / "run.zarr"
    env = cli_env(plugin_site, BERG_TEST_BATCH_DELAY_S=0.3)
    proc = subprocess.Popen(encode_argv(toy_root, images, store, 2, subject="1,2"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (store / TOY / "subject-02" / ".berg" / "request.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # the same group, through the root, with or without overwrite: refused, nothing removed
        for overwrite in (False, True):
            with pytest.raises(StoreError, match="being written by another encode"):
                toy_berg.encode(_model(toy_berg, 2), images, show_progress=False, store=store, overwrite=overwrite)
        assert (store / TOY / "subject-01" / ".berg" / "request.json").exists()
    finally:
        _out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    memory = toy_berg.encode([_model(toy_berg, 1), _model(toy_berg, 2)], images, batch_size=2, show_progress=False)
    tree = toy_berg.open_results(store)
    for label, da in memory.items():
        np.testing.assert_array_equal(next(iter(tree[label].data_vars.values())).values, da.values)


# ---- class 3: one lock per place, whatever the spelling --------------------------------------------
def _spellings(tmp_path: Path) -> list[str]:
    real = tmp_path / "data" / "run.zarr"
    real.parent.mkdir(exist_ok=True)
    link = tmp_path / "link.zarr"
    if not link.exists():
        link.symlink_to(real, target_is_directory=True)
    (tmp_path / "data" / "sub").mkdir(exist_ok=True)
    return [str(real) + "/", str(real) + "/.", str(tmp_path / "data" / "sub" / ".." / "run.zarr"), str(link), str(link) + "/"]


def test_every_spelling_of_a_store_meets_the_same_lock(toy_berg: Any, tmp_path: Path) -> None:
    real = tmp_path / "data" / "run.zarr"
    spellings = _spellings(tmp_path)
    assert {lock_url(s) for s in spellings} == {os.path.realpath(real) + ".lock"}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(real)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for spelling in spellings:
            with pytest.raises(StoreError, match="being written by another encode"):
                toy_berg.encode(_model(toy_berg), _images(2), show_progress=False, store=spelling, overwrite=True)
    finally:
        holder.kill()
        holder.wait()
    assert not (real / "zarr.json").exists()


@pytest.mark.parametrize(
    "a, b",
    [("s3://bucket/run.zarr", "s3://bucket/run.zarr/"), ("s3://bucket/run.zarr", "s3://bucket/x/../run.zarr/."),
     ("s3://bucket/run.zarr", "s3://bucket//run.zarr"), ("s3://bucket/run.zarr", "bucket/run.zarr")],
)
def test_equivalent_urls_meet_the_same_lock(a: str, b: str) -> None:
    if "://" not in b:
        b = "s3://" + b
    assert lock_url(a) == lock_url(b)


def test_two_threads_with_two_spellings_and_overwrite_give_one_whole_result(toy_berg: Any, tmp_path: Path) -> None:
    real = tmp_path / "data" / "run.zarr"
    spellings = _spellings(tmp_path)
    first = toy_berg.encode(_model(toy_berg), _images(6), show_progress=False, store=real)
    assert first.sizes["stimulus"] == 6
    inputs = [_images(6, seed=1), _images(6, seed=2)]
    outcome: dict[int, Any] = {}

    def run(i: int) -> None:
        try:
            outcome[i] = toy_berg.encode(_model(toy_berg), inputs[i], batch_size=1, show_progress=False,
                                         store=spellings[3 * i], overwrite=True).values
        except StoreError as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [i for i, v in outcome.items() if isinstance(v, np.ndarray)]
    assert len(winners) >= 1
    stored = toy_berg.open_results(real)
    values = next(iter(stored.to_dict()["/"].data_vars.values())).values
    # whichever finished last, every row comes from one call's input
    expected = {i: toy_berg.encode(_model(toy_berg), inputs[i], batch_size=1, show_progress=False).values for i in winners}
    assert any(np.array_equal(values, expected[i]) for i in winners)
    for v in outcome.values():
        if isinstance(v, StoreError):
            assert "being written by another encode" in str(v)


def test_a_root_held_by_a_single_model_run_refuses_a_multi_model_call(toy_berg: Any, tmp_path: Path) -> None:
    store = tmp_path / "run.zarr"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(store) + "/."], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for overwrite in (False, True):
            with pytest.raises(StoreError, match="being written by another encode"):
                toy_berg.encode([_model(toy_berg, 1), _model(toy_berg, 2)], _images(2), show_progress=False, store=store,
                                overwrite=overwrite)
    finally:
        holder.kill()
        holder.wait()
    assert not store.exists() or not any(store.iterdir())
