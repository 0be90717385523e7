"""Writing results when the disk says no: full, read-only, or permission denied.

Real mechanisms only: a small tmpfs that really fills up, a read-only bind mount, and a
``berg encode`` process that runs without the capability to override file permissions (the
tests run as root, whom plain ``chmod`` does not stop). Each failure is a StoreError naming the
target and the system's reason; nothing is ever marked complete; the write lock is given back;
and once the cause is gone the same request resumes to the result of an uninterrupted run.
Where the machine cannot provide a mechanism (no mount, no setpriv), the test is skipped
saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from berg_core import StimulusError, StoreError
from berg_core.results.locks import read_lock
from berg_core.results.zarr_sink import open_result, result_state

from .conftest import write_images
from .helpers import TOY, cli_env, encode_argv


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _need_mount() -> None:
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8) to build a real full or read-only filesystem")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: writing more than that fails with ENOSPC, as on a full disk."""
    _need_mount()
    where = tmp_path / "disk"
    where.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    yield where
    _umount(where)


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A writable folder and a read-only bind mount of it (EROFS, which stops root too)."""
    _need_mount()
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    done = _mount("--bind", str(rw), str(ro))
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    again = _mount("-o", "remount,bind,ro", str(ro))
    if again.returncode != 0:
        _umount(ro)
        pytest.skip(f"cannot make a bind mount read-only here: {again.stderr.strip()}")
    yield rw, ro
    _umount(ro)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 9, 11), dtype=np.uint8)


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _never_complete(target: Path) -> None:
    with pytest.raises(StoreError):
        open_result(str(target))
    zjson = target / "zarr.json"
    if zjson.is_file():
        assert not zarr.open_group(str(target), mode="r").attrs.get("berg_complete")


def test_a_full_disk_is_a_store_error_and_the_run_resumes_once_there_is_room(toy_berg: Any, small_disk: Path) -> None:
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    images = _images(48)
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * (_free_bytes(small_disk) - 64 * 1024))  # leave 64 KiB: the metadata and a few chunks
    target = small_disk / "run.zarr"
    with pytest.raises(StoreError) as err:
        toy_berg.encode(model, images, batch_size=1, show_progress=False, store=target)
    message = str(err.value)
    assert str(target) in message and "No space left on device" in message
    _never_complete(target)
    done = result_state(str(target))[1]
    assert 0 < done.sum() < done.size  # it failed part-way through
    del err
    filler.unlink()  # room again
    resumed = toy_berg.encode(model, images, batch_size=1, show_progress=False, store=target)
    memory = toy_berg.encode(model, images, batch_size=1, show_progress=False)
    np.testing.assert_array_equal(resumed.values, memory.values)
    assert result_state(str(target))[0] is True
    assert read_lock(str(target)) is None


def test_a_read_only_filesystem_is_a_store_error(toy_berg: Any, read_only_view: tuple[Path, Path], tmp_path: Path) -> None:
    from PIL import Image

    rw, ro = read_only_view
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    with pytest.raises(StoreError, match=r"cannot create the lock .*ro/new.zarr.lock: OSError: \[Errno 30\] Read-only file system"):
        toy_berg.encode(model, _images(2), show_progress=False, store=ro / "new.zarr")
    # an unfinished result (its third image is broken) that can no longer be written to
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(_images(4)):
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"im{i}.png")
    good = (folder / "im2.png").read_bytes()
    (folder / "im2.png").write_bytes(b"broken")
    with pytest.raises(StimulusError):
        toy_berg.encode(model, folder, batch_size=2, show_progress=False, store=rw / "run.zarr")
    (folder / "im2.png").write_bytes(good)
    with pytest.raises(StoreError, match=r"cannot create the lock .*ro/run.zarr.lock: OSError: \[Errno 30\] Read-only file system"):
        toy_berg.encode(model, folder, batch_size=2, show_progress=False, store=ro / "run.zarr")
    _never_complete(ro / "run.zarr")


# ---- permission denied -----------------------------------------------------------------------------
def _unprivileged_prefix(probe_dir: Path) -> list[str]:
    """A command prefix under which file permissions apply, checked on a read-only folder."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv(1) to run berg without root's permission override")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    probe_dir.mkdir()
    probe_dir.chmod(0o555)
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe_dir / 'x')!r}, 'w')"], capture_output=True, text=True)
    if probe.returncode == 0 or "PermissionError" not in probe.stderr:
        pytest.skip(f"file permissions cannot be enforced on this machine ({probe.stderr.strip()[-200:]})")
    return prefix


def _lock_dirs(group: Path) -> None:
    """Take write permission away from every folder of a result group."""
    for folder in [group, *(p for p in group.rglob("*") if p.is_dir())]:
        folder.chmod(0o555)


def test_permission_denied_while_writing_results_and_while_reading_images(
    toy_root: Path, toy_berg: Any, plugin_site: Path, tmp_path: Path
) -> None:
    prefix = _unprivileged_prefix(tmp_path / "probe")
    images = write_images(tmp_path / "images", 12, seed=9)
    target = tmp_path / "out" / "run.zarr"
    env = cli_env(plugin_site, BERG_TEST_BATCH_DELAY_S=0.3)
    writer = subprocess.Popen([*prefix, *encode_argv(toy_root, images, target, 2)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # at the same time, a run whose one image cannot be read
    secret = write_images(tmp_path / "secret", 2)
    (secret / "img01.png").chmod(0o000)
    reader = subprocess.Popen([*prefix, *encode_argv(toy_root, secret, tmp_path / "secret.zarr", 2)], env=cli_env(plugin_site),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while True:
        assert writer.poll() is None, f"the run ended before permission was taken away: {writer.communicate()}"
        assert time.monotonic() < deadline
        try:
            if result_state(str(target))[1].sum() >= 4:
                break
        except Exception:  # not created yet
            pass
        time.sleep(0.02)
    _lock_dirs(target)  # permission is taken away while the run writes
    _, err = writer.communicate(timeout=180)
    assert writer.returncode == 2, err
    assert err.startswith("berg encode: error: cannot write batch") and f"{target}: PermissionError: [Errno 13] Permission denied" in err
    _never_complete(target)
    assert not Path(f"{target}.lock").exists()  # the failed process gave its lock back

    _, err = reader.communicate(timeout=180)
    assert reader.returncode == 2
    assert "secret/img01.png' cannot be read: permission denied" in err

    # permission back: the same request resumes to the uninterrupted run's result
    for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    resumed = toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
    np.testing.assert_array_equal(resumed.values, toy_berg.encode(model, images, batch_size=2, show_progress=False).values)


@pytest.mark.parametrize("several", [False, True], ids=["one-model", "two-models"])
def test_a_disk_that_fills_while_a_result_is_created_leaves_it_resumable(toy_berg: Any, small_disk: Path, several: bool) -> None:
    """Every point of a result's creation (lock, records, group and array metadata, first chunks) is hit
    by leaving 0, 1, 2... free pages of the tmpfs; each failure is a StoreError, and the same call
    then finishes the result (nothing half-created is taken for a result, or blocks one)."""
    models = [toy_berg.get_encoding_model(TOY, subject=s, device="cpu") for s in (1, 2)]
    model: Any = models if several else models[0]
    images = _images(6)
    memory = toy_berg.encode(model, images, batch_size=2, show_progress=False)
    filler = small_disk / "filler.bin"
    failures = 0
    for pages in range(0, 24):
        target = small_disk / f"run{pages}.zarr"
        filler.write_bytes(b"\0" * max(0, _free_bytes(small_disk) - pages * 4096))
        try:
            toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
        except StoreError as exc:
            assert "No space left on device" in str(exc) or "Errno 28" in str(exc), exc
            failures += 1
        filler.unlink()
        try:  # resumed, or refused as complete when the first call had room enough
            toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
        except StoreError as exc:
            assert "complete result" in str(exc), exc
        for label, want in (memory.items() if several else [("", memory)]):
            got = toy_berg.open_results(target)[label or "/"]
            np.testing.assert_array_equal(next(iter(got.data_vars.values())).values, want.values)
        shutil.rmtree(target)
    assert failures >= 5  # the sweep did hit the creation



def test_a_result_whose_metadata_a_full_disk_cut_short_is_redone(toy_berg: Any, tmp_path: Path) -> None:
    # the state a full disk leaves when it strikes while the consolidated metadata is written: the group's and an
    # array's zarr.json empty, no batch done; the same call must redo it, not trip over the half-written array
    model = toy_berg.get_encoding_model(TOY, subject=1, device="cpu")
    images = _images(6)
    target = tmp_path / "run.zarr"
    toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
    for meta in [target / "zarr.json", *target.glob("*/zarr.json")]:
        meta.write_bytes(b"")
    shutil.rmtree(target / ".berg" / "done")
    redone = toy_berg.encode(model, images, batch_size=2, show_progress=False, store=target)
    np.testing.assert_array_equal(redone.values, toy_berg.encode(model, images, batch_size=2, show_progress=False).values)
