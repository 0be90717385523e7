"""Selections, every documented file name, and what is said when files are missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError, StoreError

from .conftest import make_berg, write_store
from .reference import MODEL_DIR, MODEL_ID, N_ELECTRODES, N_TIMES, load_pickled, metadata_path


def _select(load, features, subject="N", **kwargs):
    with load(subject, **kwargs) as model:
        return model.encode_features(features, [0, 1, 2])


def test_rois_are_a_union_in_array_order(load, features, full):
    r = _select(load, features, selection={"roi": ["IT", "V1"]})
    expected = np.concatenate([np.arange(512), np.arange(768, 1024)])
    np.testing.assert_array_equal(r["electrode"].values, expected)
    np.testing.assert_array_equal(r.values, full.values[:, expected])


def test_roi_and_electrodes_combine(load, features, full):
    mask = np.zeros(N_ELECTRODES, dtype=int)
    mask[[5, 600]] = 1
    r = _select(load, features, selection={"roi": "V4", "electrodes": mask})
    expected = np.concatenate([[5], np.arange(512, 768)])
    np.testing.assert_array_equal(r["electrode"].values, expected)
    np.testing.assert_array_equal(r.values, full.values[:, expected])
    r = _select(load, features, selection={"electrodes": [900, 3]})
    np.testing.assert_array_equal(r["electrode"].values, [3, 900])


@pytest.mark.parametrize(
    ("timepoints", "indices"),
    [
        ([0.1, -0.05], [200, 50]),  # seconds, in the order given
        (0.0, [100]),
        (slice(0.05, 0.06), list(range(150, 161))),  # both ends inclusive
        (np.eye(N_TIMES, dtype=int)[7] + np.eye(N_TIMES, dtype=int)[3], [3, 7]),  # BERG 2.0's binary mask
    ],
)
def test_timepoints(load, features, full, timepoints, indices):
    r = _select(load, features, selection={"timepoints": timepoints, "electrodes": [1, 2]})
    np.testing.assert_array_equal(r.values, full.values[:, [1, 2]][:, :, indices])
    np.testing.assert_allclose(r["time"].values, full["time"].values[indices])
    np.testing.assert_array_equal(r["ncsnr"].values, full["ncsnr"].values[[1, 2]][:, indices])


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        ({"roi": ["V2"]}, "V2"),
        ({"electrodes": np.ones(10)}, "1,024"),
        ({"electrodes": [1024]}, "electrode"),
        ({"timepoints": [0.5]}, "0.5"),
        ({"timepoints": np.ones(299, dtype=bool)}, "300"),
        ({"channels": ["Oz"]}, "roi"),
    ],
)
def test_bad_selections_are_refused(load, selection, words):
    with pytest.raises(InvalidParameterError, match=words):
        load("N", selection=selection)


def test_bad_train_splits_is_refused(load):
    with pytest.raises(InvalidParameterError, match="all.*single"):
        load("N", train_splits="both")


def _copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src / MODEL_DIR, dst / MODEL_DIR)
    return dst


def test_every_documented_file_name_is_read(store_root, tmp_path, plugin_manager, hub_weights, features, full):
    root = _copy_store(store_root, tmp_path)
    weights = root / MODEL_DIR / "encoding_models_weights"
    meta = root / MODEL_DIR / "metadata"
    # the model code's names: weights_monkeyN.npy, and the test script's doubled metadata prefix
    (weights / "weights_monkeyN_all_training_splits.npy").rename(weights / "weights_monkeyN.npy")
    (meta / "metadata_monkeyN.npy").rename(meta / "metadata_monkeymonkeyN.npy")
    berg = make_berg(root, plugin_manager)
    with berg.get_encoding_model(MODEL_ID, subject="N", device="cpu", backbone_weights=str(hub_weights)) as model:
        assert model.weight_files == [f"{MODEL_DIR}/encoding_models_weights/weights_monkeyN.npy"]
        np.testing.assert_array_equal(model.encode_features(features, [0, 1, 2]).values, full.values)
    assert berg.get_model_metadata(MODEL_ID, subject="N")["utah_array"]["monkey_id"] == "monkeyN"


def test_missing_files_name_every_file_looked_for(store_root, tmp_path, plugin_manager, hub_weights):
    root = _copy_store(store_root, tmp_path)
    berg = make_berg(root, plugin_manager)
    (root / MODEL_DIR / "encoding_models_weights" / "weights_monkeyF_all_training_splits.npy").unlink()
    with pytest.raises(StoreError, match=r"weights_monkeyF_all_training_splits\.npy.*weights_monkeyF\.npy"):
        berg.get_encoding_model(MODEL_ID, subject="F", device="cpu", backbone_weights=str(hub_weights))
    with pytest.raises(StoreError, match=r"training split 1.*weights_monkeyF_single_training_split_1\.npy"):
        berg.get_encoding_model(MODEL_ID, subject="F", device="cpu", backbone_weights=str(hub_weights),
                                train_splits="single")
    (root / MODEL_DIR / "metadata" / "metadata_monkeyF.npy").unlink()
    with pytest.raises(StoreError, match=r"metadata_monkeyF\.npy.*metadata_monkeymonkeyF\.npy"):
        berg.get_model_metadata(MODEL_ID, subject="F")


def test_times_in_seconds_and_the_docs_key_spelling(tmp_path, plugin_manager, hub_weights, features, full, store_root):
    from berg_core.plugin import save_npy_dict

    root = _copy_store(store_root, tmp_path)
    meta = load_pickled(metadata_path(root, "N"))
    section = meta.pop("utah_array")
    section["times"] = section["times"] / 1000.0
    meta["utah-array"] = section  # the docs' spelling of the key
    save_npy_dict(root, f"{MODEL_DIR}/metadata/metadata_monkeyN.npy", meta)
    berg = make_berg(root, plugin_manager)
    with berg.get_encoding_model(MODEL_ID, subject="N", device="cpu", backbone_weights=str(hub_weights),
                                 selection={"timepoints": slice(0.0, 0.002)}) as model:
        r = model.encode_features(features, [0, 1, 2])
    np.testing.assert_allclose(r["time"].values, [0.0, 0.001, 0.002])
    np.testing.assert_array_equal(r.values, full.values[:, :, 100:103])


def test_converted_store_gives_identical_results(tmp_path, plugin_manager, hub_weights, features):
    import zarr

    from berg_core.workflows.convert import convert_store

    src, dst = tmp_path / "berg2", tmp_path / "zarr"
    write_store(plugin_manager, src, ["N"], n_components=3, train_splits=["all", "single"])
    convert_store(str(src), str(dst), plugin_manager=plugin_manager, show_progress=False)
    weights = dst / MODEL_DIR / "encoding_models_weights"
    assert not list(weights.glob("*.npy")) and (weights / "weights_monkeyN_all_training_splits.zarr").is_dir()
    coef = zarr.open_group(str(weights / "weights_monkeyN_all_training_splits.zarr"), mode="r")["reg_param/coef_"]
    assert coef.chunks[0] == 8 * N_TIMES  # whole electrodes per chunk: an electrode selection reads its own
    results = []
    for root in (src, dst):
        berg = make_berg(root, plugin_manager)
        for splits in ("all", "single"):
            with berg.get_encoding_model(MODEL_ID, subject="N", device="cpu", backbone_weights=str(hub_weights),
                                         train_splits=splits, selection={"roi": "V4", "timepoints": [0.1]}) as model:
                results.append(model.encode_features(features, [0, 1, 2]))
    for a, b in zip(results[:2], results[2:], strict=True):
        np.testing.assert_array_equal(a.values, b.values)


def test_converted_store_reads_only_the_selected_electrodes_chunks(tmp_path, plugin_manager, hub_weights, monkeypatch):
    from berg_core.store.model_store import Store
    from berg_core.workflows.convert import convert_store

    src, dst = tmp_path / "berg2", tmp_path / "zarr"
    write_store(plugin_manager, src, ["F"], n_components=2)
    convert_store(str(src), str(dst), plugin_manager=plugin_manager, show_progress=False)
    read: list[str] = []
    original = Store.read_bytes

    def spy(self, relpath, *args, **kwargs):
        read.append(relpath)
        return original(self, relpath, *args, **kwargs)

    monkeypatch.setattr(Store, "read_bytes", spy)
    berg = make_berg(dst, plugin_manager)
    berg.get_encoding_model(MODEL_ID, subject="F", device="cpu", backbone_weights=str(hub_weights),
                            selection={"electrodes": [3, 900], "timepoints": [0.1]})
    coef_chunks = sorted(p.split("reg_param/coef_/c/")[1] for p in read if "reg_param/coef_/c/" in p)
    assert coef_chunks == ["0/0", "112/0"]  # 8 electrodes a chunk: electrodes 3 and 900 only
