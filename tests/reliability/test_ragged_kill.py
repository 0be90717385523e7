"""A ragged encode killed with SIGKILL part-way never looks whole, and resumes to exactly the uninterrupted result.

A child process encodes the participant-averaged ragged toy model (tests/core/forms_plugin.py: 0 to 3 rows per
image) into a Zarr store, slowly; the test kills it once some batches are recorded, checks that the store is an
unfinished result (not complete, refused by ``open_result``), then resumes in this process.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from berg_core import BERG, StoreError
from berg_core.registry.manager import PluginManager
from berg_core.results.zarr_sink import open_result, result_state
from berg_core.store.zarr_store import quiet_zarr

FORMS = Path(__file__).resolve().parents[1] / "core" / "forms_plugin.py"
N, BATCH = 12, 2

CHILD = r'''
import importlib.util, sys, time
import numpy as np
spec = importlib.util.spec_from_file_location("berg_tests_forms_plugin", sys.argv[1])
fp = importlib.util.module_from_spec(spec); sys.modules[spec.name] = fp; spec.loader.exec_module(fp)
from berg_core import BERG
from berg_core.registry.manager import PluginManager
pm = PluginManager(); pm.register(fp.FormsPlugin(), name="forms")
berg = BERG(sys.argv[2], plugin_manager=pm)
model = berg.get_encoding_model(fp.RAGGED, device="cpu")
original = type(model).encode_batch
def slow(self, batch, ids):
    time.sleep(0.4)
    return original(self, batch, ids)
type(model).encode_batch = slow
images = np.load(sys.argv[3])
berg.encode(model, images, batch_size=int(sys.argv[5]), show_progress=False, store=sys.argv[4])
'''


def _forms() -> Any:
    name = "berg_tests_forms_plugin"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FORMS)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_a_killed_ragged_run_never_looks_whole_and_resumes_exactly(tmp_path: Path) -> None:
    from berg_core.workflows.synthetic import write_synthetic_store

    fp = _forms()
    pm = PluginManager()
    pm.register(fp.FormsPlugin(), name="forms")
    write_synthetic_store(tmp_path / "store", models=[fp.RAGGED], seed=8, plugin_manager=pm)
    images = np.random.default_rng(12).integers(0, 256, size=(N, 3, 6, 5), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    berg = BERG(tmp_path / "store", plugin_manager=pm)
    model = berg.get_encoding_model(fp.RAGGED, device="cpu")
    expected = berg.encode(model, images, batch_size=BATCH, show_progress=False)

    target = tmp_path / "run.zarr"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(FORMS), str(tmp_path / "store"), str(tmp_path / "images.npy"),
                              str(target), str(BATCH)], env=env, stderr=subprocess.PIPE, text=True)
    done_dir = target / ".berg" / "done"
    deadline = time.monotonic() + 90
    try:
        while not (done_dir.is_dir() and len([p for p in done_dir.iterdir() if p.suffix == ".json"]) >= 2):
            if child.poll() is not None:
                pytest.fail(f"the child ended before it was killed: {child.stderr.read() if child.stderr else ''}")
            if time.monotonic() > deadline:
                pytest.fail("the child recorded no two batches within 90 s")
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    complete, done = result_state(str(target))
    assert not complete and 2 <= int(done.sum()) < N
    with pytest.raises(StoreError, match="unfinished"):
        open_result(str(target))
    with quiet_zarr():  # its listing meets berg's .berg folder, which is no Zarr node
        assert xr.open_zarr(target, consolidated=False).attrs["berg_complete"] == 0

    resumed = berg.encode(model, images, batch_size=BATCH, show_progress=False, store=target).load()
    assert resumed.dims == expected.dims and resumed.shape == expected.shape
    np.testing.assert_array_equal(resumed.values, expected.values)
    for name in ("stimulus", "time", "label"):
        assert resumed[name].values.tolist() == expected[name].values.tolist(), name
    assert result_state(str(target))[0]
