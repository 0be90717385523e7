"""Real processes running ``berg encode`` into a Zarr store.

* a run killed with SIGKILL once some batches are marked done resumes, with the same command,
  to exactly the result of an uninterrupted run, preparing only the stimuli that were not done;
* two processes started together on one store: one writes it, the other is refused naming the
  writer, and no stimulus is lost or prepared twice.

The toy third-party plugin (installed in a folder on PYTHONPATH, with a batch-throttling plugin
so that a test can act while a run is under way) keeps each process cheap.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from berg_core import StoreError
from berg_core.results.locks import read_lock
from berg_core.results.zarr_sink import open_result, result_state

from .conftest import write_images
from .helpers import TOY, batch_log, cli_env, encode_argv, run_cli

N_IMAGES = 16
BATCH = 2


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("process_images"), N_IMAGES, seed=4)


@pytest.fixture(scope="module")
def reference(toy_root: Path, toy_pm: Any, images: Path, tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """An uninterrupted run of the same request (same store, model, stimuli and batches), here in-process."""
    from berg_core import BERG

    berg = BERG(toy_root, plugin_manager=toy_pm)
    out = tmp_path_factory.mktemp("reference") / "run.zarr"
    berg.encode(berg.get_encoding_model(TOY, subject=1, device="cpu"), images, batch_size=BATCH, show_progress=False, store=out)
    return xr.open_zarr(out).load()


def _same_result(target: Path, reference: xr.Dataset) -> None:
    got = xr.open_zarr(target)
    assert got.attrs["berg_complete"] == 1 and set(got.variables) == set(reference.variables)
    var = got.attrs["berg_variable"]
    np.testing.assert_array_equal(got[var].values, reference[var].values)
    assert list(got.stimulus.values) == list(reference.stimulus.values) == [f"img{i:02d}.png" for i in range(N_IMAGES)]
    np.testing.assert_array_equal(result_state(str(target))[1], np.ones(N_IMAGES, dtype=bool))
    assert read_lock(str(target)) is None


def _done(target: Path) -> np.ndarray | None:
    try:
        return result_state(str(target))[1]
    except Exception:  # not created yet
        return None


def test_a_killed_run_resumes_to_the_identical_result(
    toy_root: Path, plugin_site: Path, images: Path, reference: xr.Dataset, tmp_path: Path
) -> None:
    target, log = tmp_path / "run.zarr", tmp_path / "batches.log"
    argv = encode_argv(toy_root, images, target, BATCH)
    env = cli_env(plugin_site, BERG_TEST_BATCH_DELAY_S=0.3, BERG_TEST_BATCH_LOG=log)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "no batch was marked done in time"
        done = _done(target)
        if done is not None and done.sum() >= 2 * BATCH:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # what the killed run left: a resumable, unfinished result, and its (now stale) lock
    done = _done(target)
    assert done is not None
    n_done = int(done.size if done.all() else np.argmin(done))
    assert 2 * BATCH <= n_done < N_IMAGES and not done[n_done:].any()
    assert zarr.open_group(str(target), mode="r").attrs["berg_complete"] == 0
    with pytest.raises(StoreError, match="unfinished result"):
        open_result(str(target))
    assert read_lock(str(target)).pid == proc.pid  # type: ignore[union-attr]

    killed = batch_log(log)
    again = run_cli(argv, env)  # the same command
    assert again.returncode == 0, again.stderr
    resumed = {pid: ids for pid, ids in batch_log(log).items() if pid not in killed}
    (resumed_ids,) = resumed.values()
    assert resumed_ids == [f"img{i:02d}.png" for i in range(n_done, N_IMAGES)]  # only what was not done
    _same_result(target, reference)


def test_two_processes_on_one_store_one_writes_and_the_other_is_refused(
    toy_root: Path, plugin_site: Path, images: Path, reference: xr.Dataset, tmp_path: Path
) -> None:
    target, log = tmp_path / "run.zarr", tmp_path / "batches.log"
    argv = encode_argv(toy_root, images, target, BATCH)
    # slow batches: the run that takes the lock holds it far longer than the two need to start
    env = cli_env(plugin_site, BERG_TEST_BATCH_DELAY_S=0.5, BERG_TEST_BATCH_LOG=log)
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    err: Any = outputs[loser][1]
    assert err.startswith("berg encode: error:")
    assert f"run.zarr is being written by another encode: process {procs[winner].pid} on host" in err
    assert f"{target}.lock" in err  # where the lock is, to clear it if its holder were gone
    # nothing lost, nothing done twice: the refused process prepared no stimulus
    seen = batch_log(log)
    assert list(seen) == [procs[winner].pid]
    assert seen[procs[winner].pid] == [f"img{i:02d}.png" for i in range(N_IMAGES)]
    _same_result(target, reference)
