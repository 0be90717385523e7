"""Ragged results and named subjects in a result store on S3 (a real moto server): appended rows, a resume
that cuts back the rows of an unfinished batch, and groups named ``subject-N`` / ``<model_id>``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from berg_core import BERG
from berg_core.registry.manager import PluginManager

from .conftest import BUCKET, s3_options


def _forms() -> Any:
    """The toy plugin of tests/core (a module of its own name, so its classes pickle within this process)."""
    name = "berg_tests_forms_plugin"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "core" / "forms_plugin.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fp = _forms()
IMAGES = np.random.default_rng(11).integers(0, 256, size=(7, 3, 6, 5), dtype=np.uint8)


@pytest.fixture
def berg(tmp_path: Path) -> BERG:
    from berg_core.workflows.synthetic import write_synthetic_store

    pm = PluginManager()
    pm.register(fp.FormsPlugin(), name="forms")
    write_synthetic_store(tmp_path / "store", subjects={fp.NAMED: ["N"]}, seed=6, plugin_manager=pm)
    return BERG(tmp_path / "store", plugin_manager=pm)


def _same(a: xr.DataArray, b: xr.DataArray) -> None:
    assert a.dims == b.dims and a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    for name in b.coords:
        assert np.asarray(a[name].values).tolist() == np.asarray(b[name].values).tolist(), name


def test_ragged_rows_and_named_subjects_on_s3_resume_exactly(berg: BERG, s3: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target, opts = f"s3://{BUCKET}/results/ragged-{tmp_path.name}.zarr", {**s3_options(s3), "anon": False}
    ragged = berg.get_encoding_model(fp.RAGGED, device="cpu")
    named = berg.get_encoding_model(fp.NAMED, subject="N", device="cpu")
    local = {m.model_id: berg.encode(m, IMAGES, batch_size=2, show_progress=False) for m in (named, ragged)}
    assert local[fp.RAGGED].sizes["tr"] == sum(fp.n_rows(i) for i in IMAGES) > 0

    original, calls = type(ragged).encode_batch, {"n": 0}

    def failing(self: Any, batch: Any, stimulus_ids: list[Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("connection lost")
        return original(self, batch, stimulus_ids)

    monkeypatch.setattr(type(ragged), "encode_batch", failing)
    with pytest.raises(RuntimeError, match="connection lost"):
        berg.encode([named, ragged], IMAGES, batch_size=2, show_progress=False, store=target, storage_options=opts)
    monkeypatch.setattr(type(ragged), "encode_batch", original)
    out = berg.encode([named, ragged], IMAGES, batch_size=2, show_progress=False, store=target, storage_options=opts)
    assert sorted(out) == [f"{fp.NAMED}/subject-N", fp.RAGGED]
    _same(out[fp.RAGGED].load(), local[fp.RAGGED])
    _same(out[f"{fp.NAMED}/subject-N"].load(), local[fp.NAMED])
    plain = xr.open_zarr(f"{target}/{fp.RAGGED}", storage_options=opts)
    assert plain.attrs["berg_rows"] == "tr" and plain["responses"].shape == local[fp.RAGGED].shape
    np.testing.assert_array_equal(plain["time"].values, local[fp.RAGGED]["time"].values)
