"""``berg convert`` groups the regression rows by ROI, loads read only their own chunks, and ``berg demo`` runs the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .conftest import write_store
from .reference import MODEL_DIR, MODEL_ID


def test_converted_store_gives_identical_results(tmp_path: Path, plugin_manager: Any, hub_weights: Path, features):
    from berg_core import BERG
    from berg_core.workflows.convert import convert_store

    src, dst = tmp_path / "berg2", tmp_path / "zarr"
    write_store(plugin_manager, src, [1], n_components=3)
    convert_store(str(src), str(dst), plugin_manager=plugin_manager, show_progress=False)
    weights = dst / MODEL_DIR / "encoding_models_weights"
    assert not list(weights.glob("*.npy")) and (weights / "weights_sub-01.zarr").is_dir()
    results = []
    for root in (src, dst):
        berg = BERG(berg_dir=str(root), plugin_manager=plugin_manager)
        with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", selection={"roi": ["rPPA", "V1"]},
                                     backbone_weights=str(hub_weights)) as model:
            results.append(model.encode_features(features, [0, 1, 2]))
        assert berg.get_model_metadata(MODEL_ID, subject=1)["roi"]["V1"].size > 0
    np.testing.assert_array_equal(results[0].values, results[1].values)
    for name in results[0].coords:
        np.testing.assert_array_equal(results[0][name].values, results[1][name].values)


def test_convert_plan_groups_rows_by_roi():
    from berg_fmri_things.convert_plan import VOXEL_ROWS_PER_CHUNK, things_fmri_convert_plan
    from berg_fmri_things.synthetic import make_metadata

    meta = make_metadata(3, 1, rois=["V1", "V2", "IT", "lFFA"])
    weights = {"reg_param": {"coef_": np.zeros((211_339, 1), np.float32)}}
    plan = things_fmri_convert_plan(weights, meta, "test")
    assert plan.rows_per_chunk == VOXEL_ROWS_PER_CHUNK
    groups = plan.row_groups["reg_param"]
    order = np.argsort(groups, kind="stable")
    for name in ("V1", "V2", "IT"):  # each region's rows are one run once stored in group order
        stored = np.flatnonzero(np.isin(order, meta["roi"][name]))
        assert stored[-1] - stored[0] + 1 == stored.size
    assert things_fmri_convert_plan(weights, None, "test").row_groups == {}


def test_demo_settings_write_a_small_store(plugin_manager: Any, tmp_path: Path):
    card = plugin_manager.registry.get(MODEL_ID).card
    settings = plugin_manager.owner_hook("berg_demo_settings", "fmri_things")(card=card)
    assert settings.store_options == {"n_components": 16} and settings.selection is None
    written = write_store(plugin_manager, tmp_path, [3], **settings.store_options)
    assert [Path(p).name for p in written] == ["weights_sub-03.npy", "metadata_sub-03.npy"]


def test_a_roi_load_from_the_zarr_layout_reads_few_chunks(tmp_path: Path, plugin_manager: Any, hub_weights: Path,
                                                          monkeypatch):
    from berg_core import BERG
    from berg_core.store.model_store import Store
    from berg_core.workflows.convert import convert_store

    src, dst = tmp_path / "berg2", tmp_path / "zarr"
    write_store(plugin_manager, src, [1], n_components=2)
    convert_store(str(src), str(dst), plugin_manager=plugin_manager, show_progress=False)
    read: list[str] = []
    original = Store.read_bytes

    def spy(self, relpath, *args, **kwargs):
        read.append(relpath)
        return original(self, relpath, *args, **kwargs)

    monkeypatch.setattr(Store, "read_bytes", spy)
    BERG(berg_dir=str(dst), plugin_manager=plugin_manager).get_encoding_model(
        MODEL_ID, subject=1, device="cpu", selection={"roi": "V1"}, backbone_weights=str(hub_weights))
    chunks = {p for p in read if "reg_param/coef_/c/" in p}
    n_chunks = -(-211_339 // 2048)
    assert 0 < len(chunks) <= 3 < n_chunks  # V1's rows are stored together: one or two chunks of 104
