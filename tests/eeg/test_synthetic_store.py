"""The synthetic store is BERG 2.0's real file formats, seeded and reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .eeg_reference import MODEL_DIR, MODEL_ID, load_pickled, metadata_path, weights_path, write_store

F = 460_800


def test_paths_written(tmp_path):
    paths = write_store(tmp_path, [1, 10], n_components=2)
    assert paths == [
        f"{MODEL_DIR}/encoding_models_weights/weights_subject-01.npy",
        f"{MODEL_DIR}/metadata/metadata_subject-01.npy",
        f"{MODEL_DIR}/encoding_models_weights/weights_subject-10.npy",
        f"{MODEL_DIR}/metadata/metadata_subject-10.npy",
    ]
    assert all((tmp_path / p).is_file() for p in paths)


def test_weights_file_is_a_pickled_dict_of_sklearn_attributes(eeg_store):
    raw = np.load(weights_path(eeg_store, 1), allow_pickle=True)
    assert raw.shape == () and raw.dtype == object  # np.save of a dict, as BERG 2.0 wrote it
    w = raw.item()
    assert set(w) == {"scaler_param", "pca_param", "reg_param"}
    sc, pca, reg = w["scaler_param"], w["pca_param"], w["reg_param"]
    assert set(sc) == {"mean_", "scale_", "var_", "n_features_in_", "n_samples_seen_"}
    for key in ("mean_", "scale_", "var_"):
        assert sc[key].shape == (F,) and sc[key].dtype == np.float64
    np.testing.assert_allclose(sc["scale_"] ** 2, sc["var_"])
    assert sc["n_features_in_"] == F and isinstance(sc["n_samples_seen_"], np.integer)
    assert set(pca) == {
        "components_", "mean_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
        "n_components_", "n_samples_", "noise_variance_", "n_features_in_",
    }  # fmt: skip
    assert pca["components_"].shape == (8, F) and pca["components_"].dtype == np.float64
    assert pca["mean_"].shape == (F,)
    assert pca["explained_variance_"].shape == (8,) and np.all(np.diff(pca["explained_variance_"]) <= 0)
    assert pca["n_components_"] == 8 and pca["n_features_in_"] == F
    assert isinstance(pca["noise_variance_"], np.floating)
    assert set(reg) == {"rep-1", "rep-2", "rep-3", "rep-4"}
    for r in reg.values():
        assert set(r) == {"coef_", "intercept_", "n_features_in_"}
        assert r["coef_"].shape == (8820, 8) and r["intercept_"].shape == (8820,) and r["n_features_in_"] == 8
    assert not np.array_equal(reg["rep-1"]["coef_"], reg["rep-2"]["coef_"])


def test_metadata_file_is_the_nested_dict(eeg_store):
    from berg_eeg_things.layout import CHANNEL_NAMES

    meta = load_pickled(metadata_path(eeg_store, 1))
    assert set(meta) == {"eeg", "encoding_models"}
    assert meta["eeg"]["ch_names"] == list(CHANNEL_NAMES) and len(CHANNEL_NAMES) == 63
    assert meta["eeg"]["ch_names"][:4] == ["Fp1", "F3", "F7", "FT9"] and meta["eeg"]["ch_names"][-1] == "AF8"
    np.testing.assert_allclose(meta["eeg"]["times"], np.linspace(-0.1, 0.595, 140), atol=1e-12)
    em = meta["encoding_models"]
    assert em["correlation_averaged_repetitions"].shape == (63, 140)
    assert em["correlation_single_repetitions"].shape == (4, 63, 140)
    assert np.abs(em["correlation_single_repetitions"]).max() <= 1.0
    assert {k: v.shape for k, v in em["train_img_info"].items()} == {
        "train_img_concepts": (16540,), "train_img_concepts_THINGS": (16540,), "train_img_files": (16540,),
    }  # fmt: skip
    assert {k: v.shape for k, v in em["test_img_info"].items()} == {
        "test_img_concepts": (200,), "test_img_concepts_THINGS": (200,), "test_img_files": (200,),
    }  # fmt: skip


def test_same_seed_same_files_other_seed_other_weights(tmp_path):
    write_store(tmp_path / "a", [3], seed=1, n_components=2)
    write_store(tmp_path / "b", [3], seed=1, n_components=2)
    write_store(tmp_path / "c", [3], seed=2, n_components=2)
    assert weights_path(tmp_path / "a", 3).read_bytes() == weights_path(tmp_path / "b", 3).read_bytes()
    assert metadata_path(tmp_path / "a", 3).read_bytes() == metadata_path(tmp_path / "b", 3).read_bytes()
    assert weights_path(tmp_path / "a", 3).read_bytes() != weights_path(tmp_path / "c", 3).read_bytes()


def test_float32_option(tmp_path):
    write_store(tmp_path, [1], n_components=2, dtype="float32")
    w = load_pickled(weights_path(tmp_path, 1))
    assert w["pca_param"]["components_"].dtype == np.float32
    assert w["reg_param"]["rep-1"]["coef_"].dtype == np.float32


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"n_pcs": 3}, r"unknown synthetic-store option\(s\) \['n_pcs'\] for .*; accepted: .*n_components"),
        ({"n_components": 0}, "n_components must be an integer from 1 to 1000.*got 0"),
        ({"n_components": 2.5}, "n_components must be an integer.*got 2.5"),
        ({"dtype": "float16"}, "dtype must be 'float64'.*got 'float16'"),
    ],
)
def test_bad_options(tmp_path, options, pattern):
    with pytest.raises(InvalidParameterError, match=pattern):
        write_store(tmp_path, [1], **options)
    assert not any(tmp_path.rglob("*.npy"))  # refused before any file is written


@pytest.mark.parametrize(
    ("subjects", "pattern"),
    [([11], r"subject 11 is not available for eeg-things_eeg_2-vit_b_32; valid subjects: \[1, 2"), ([], r"non-empty list of subjects from \[1, .*\], got \[\]")],
)
def test_bad_subjects_are_refused_by_core_before_the_plugin_writes(tmp_path, subjects, pattern):
    from berg_core.workflows.synthetic import write_synthetic_store

    with pytest.raises(InvalidParameterError, match=pattern):
        write_synthetic_store(tmp_path, models=[MODEL_ID], subjects=subjects)
    assert not any(tmp_path.rglob("*.npy"))


def test_backbone_option_leaves_the_callers_random_state_alone(tmp_path):
    import torch

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    paths = write_store(tmp_path, [1], n_components=2, backbone=True)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert paths[-1] == "backbones/vit_b_32-d86f8d99.pth" and not list(tmp_path.rglob("*.part"))
