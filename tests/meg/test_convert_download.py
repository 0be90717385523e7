"""``berg convert`` stores one sensor per chunk so sensor selections read only their own rows; download and demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from .meg_reference import MODEL_DIR, MODEL_ID, N_COMPONENTS, WEIGHTS_DIR


@pytest.fixture(scope="module")
def converted(meg_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_core.workflows.convert import convert_store

    dst = tmp_path_factory.mktemp("meg_zarr")
    convert_store(str(meg_store), str(dst), models=[MODEL_ID], subjects=[1], show_progress=False)
    return dst


def test_convert_chunks_one_sensor_per_chunk(converted: Path):
    import zarr

    weights = converted / WEIGHTS_DIR
    names = sorted(p.name for p in weights.iterdir())
    assert names == ["weights_P1_all_training_splits.zarr",
                     *[f"weights_P1_single_training_split_{k}.zarr" for k in range(1, 5)]]
    group = zarr.open_group(str(weights / names[0]), mode="r")
    assert group["reg_param/coef_"].chunks == (281, N_COMPONENTS)
    assert (converted / MODEL_DIR / "metadata" / "metadata_P1.zarr").is_dir()


@pytest.mark.parametrize("train_splits", ["all", "single"])
def test_converted_store_gives_identical_results(converted, load, encode, full_all, full_single, train_splits):
    from berg_core import BERG

    berg = BERG(converted)
    with load(berg=berg, train_splits=train_splits) as model:
        assert all(p.endswith(".npy") for p in model.weight_files)  # BERG 2.0's names, read from their twins
        out = encode(model, berg=berg)
    expected = full_all if train_splits == "all" else full_single
    np.testing.assert_array_equal(out.values, expected.values)
    for c in expected.coords:
        np.testing.assert_array_equal(out[c].values, expected[c].values)


def test_a_sensor_selection_reads_only_its_own_chunks(converted, tmp_path, load, encode, full_all):
    """Remove every coef chunk of the other sensors: the selected sensors still load and encode exactly."""
    from berg_core import BERG

    root = tmp_path / "partial"
    shutil.copytree(converted, root)
    coef = root / WEIGHTS_DIR / "weights_P1_all_training_splits.zarr" / "reg_param" / "coef_" / "c"
    keep = {8, 9}  # sensor positions 8 and 9: chunk rows 8 and 9
    removed = 0
    for chunk in coef.iterdir():
        if int(chunk.name) not in keep:
            shutil.rmtree(chunk)
            removed += 1
    assert removed == 269
    berg = BERG(root)
    with load(berg=berg, selection={"sensor_index": [9, 8]}) as model:
        out = encode(model, berg=berg)
    np.testing.assert_array_equal(out.values, full_all.values[:, [8, 9]])
    # the removed chunks did hold the other sensors' rows: the whole model needs them, and is refused rather
    # than read with zeros where they were
    from berg_core import IntegrityError

    with pytest.raises(IntegrityError, match=r"coef_/c/\d+/0 is listed in .*berg-manifest.json but missing"):
        load(berg=berg)


def test_download_fetches_one_subject(meg_store: Path, tmp_path: Path):
    from berg_core.workflows.download import download_model

    report = download_model(MODEL_ID, subjects=[2], dest=str(tmp_path / "copy"), berg_dir=str(meg_store), show_progress=False)
    names = sorted(Path(p).name for p in report.files)
    assert names == ["metadata_P2.npy", "weights_P2_all_training_splits.npy"]


def test_demo_settings_write_a_small_store(tmp_path: Path):
    from berg_core.registry.manager import get_plugin_manager

    from .meg_reference import write_store

    pm = get_plugin_manager()
    card = pm.registry.get(MODEL_ID).card
    settings = pm.owner_hook("berg_demo_settings", pm.registry.get(MODEL_ID).plugin_name)(card=card)
    assert settings.store_options == {"n_components": 16, "splits": False} and settings.selection is None
    written = write_store(tmp_path, [3], **settings.store_options)
    assert [Path(p).name for p in written] == ["weights_P3_all_training_splits.npy", "metadata_P3.npy"]
