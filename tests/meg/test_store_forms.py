"""Every documented form of the MEG files loads: weight-file names of three BERG versions, metadata spellings.

The newest weight-file names were not found upstream (see specs/store_layout.md), so the plugin tries the
names in order, newest first, and says which files it looked for when none is there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from berg_core.errors import IntegrityError, StoreError

from .meg_reference import (
    MODEL_DIR,
    WEIGHTS_DIR,
    assert_matches_reference,
    load_pickled,
    metadata_path,
    reference_meg,
    save_pickled,
    weights_path,
    write_store,
)


def _store(tmp_path: Path, meg_store: Path, names: dict[str, Path], metadata: dict | None = None) -> Path:
    """A store holding subject 1's weight files (hard links of the session store's) under other names."""
    root = tmp_path / "store"
    (root / WEIGHTS_DIR).mkdir(parents=True)
    for name, source in names.items():
        os.link(source, root / WEIGHTS_DIR / name)
    if metadata is None:
        (root / MODEL_DIR / "metadata").mkdir(parents=True)
        os.link(metadata_path(meg_store, 1), metadata_path(root, 1))
    else:
        save_pickled(metadata_path(root, 1), metadata)
    return root


def _berg(root: Path):
    from berg_core import BERG

    return BERG(root)


def test_model_code_00364415_names_full_and_splitN(tmp_path, meg_store, load, encode, features, meg_weights):
    names = {"weights_P1_full.npy": weights_path(meg_store, 1),
             **{f"weights_P1_split{k}.npy": weights_path(meg_store, 1, k) for k in range(1, 5)}}
    berg = _berg(_store(tmp_path, meg_store, names))
    with load(berg=berg) as model:
        assert model.weight_files[0].endswith("/weights_P1_full.npy")
        assert_matches_reference(encode(model, berg=berg).values, reference_meg(features["train"], meg_weights["all"]))
    with load(berg=berg, train_splits="single", selection={"sensors": "MZC"}) as model:
        assert [p.rsplit("/", 1)[1] for p in model.weight_files] == [f"weights_P1_split{k}.npy" for k in range(1, 5)]
        out = encode(model, berg=berg)
        idx = model.output.sensor_index
    expected = np.stack([reference_meg(features["train"], meg_weights[k])[:, idx] for k in range(1, 5)], axis=1)
    assert_matches_reference(out.values, expected)


def test_model_code_99951c64_plain_name(tmp_path, meg_store, load, encode, features, meg_weights):
    berg = _berg(_store(tmp_path, meg_store, {"weights_P1.npy": weights_path(meg_store, 1)}))
    with load(berg=berg) as model:
        assert model.weight_files[0].endswith("/weights_P1.npy")
        assert_matches_reference(encode(model, berg=berg).values, reference_meg(features["train"], meg_weights["all"]))
    # that version had no split models: asking for them names every file looked for
    with pytest.raises(StoreError) as err:
        load(berg=berg, train_splits="single")
    msg = str(err.value)
    assert "training split 1" in msg
    assert "weights_P1_single_training_split_1.npy" in msg and "weights_P1_split1.npy" in msg


def test_newest_name_wins_when_several_are_there(tmp_path, meg_store, load):
    names = {"weights_P1_all_training_splits.npy": weights_path(meg_store, 1),
             "weights_P1_full.npy": weights_path(meg_store, 1, 2), "weights_P1.npy": weights_path(meg_store, 1, 3)}
    with load(berg=_berg(_store(tmp_path, meg_store, names))) as model:
        assert model.weight_files[0].endswith("/weights_P1_all_training_splits.npy")


def test_no_weights_lists_every_name_looked_for(tmp_path, meg_store, load):
    with pytest.raises(StoreError) as err:
        load(berg=_berg(_store(tmp_path, meg_store, {})))
    msg = str(err.value)
    for name in ("weights_P1_all_training_splits.npy", "weights_P1_full.npy", "weights_P1.npy"):
        assert name in msg
    assert "train_splits='all'" in msg


def test_metadata_spellings_of_older_cards(tmp_path, meg_store, load, encode, full_all):
    """Card-spelled split keys, (times, sensors) maps, no prefix/hemisphere/region lists: same labels."""
    meta = load_pickled(metadata_path(meg_store, 1))
    em = meta["encoding_model"]
    for k in range(1, 5):
        em[f"single_training split_{k}"] = em.pop(f"single_training_split_{k}")
        for key in ("correlation_results", "percent_noise_ceiling"):
            em[f"single_training split_{k}"][key] = em[f"single_training split_{k}"][key].T
    em["ncsnr"], em["noise_ceiling"] = em["ncsnr"].T, em["noise_ceiling"].T
    meta["sensors"] = {"sensor_names": meta["sensors"]["sensor_names"], "n_sensors": 271}
    names = {"weights_P1_all_training_splits.npy": weights_path(meg_store, 1),
             **{f"weights_P1_single_training_split_{k}.npy": weights_path(meg_store, 1, k) for k in range(1, 5)}}
    berg = _berg(_store(tmp_path, meg_store, names, meta))
    with load(berg=berg) as model:
        out = encode(model, berg=berg)
    for c in ("sensor_name", "sensor_prefix", "hemisphere", "region", "ncsnr", "noise_ceiling"):
        np.testing.assert_array_equal(out[c].values, full_all[c].values)
    np.testing.assert_array_equal(out.values, full_all.values)
    with load(berg=berg, train_splits="single") as model:
        acc = model.accuracy()
    reference = load_pickled(metadata_path(meg_store, 1))["encoding_model"]
    np.testing.assert_array_equal(acc.values[2], reference["single_training_split_3"]["correlation_results"])


def test_flat_metadata_of_the_first_version(tmp_path, meg_store, load):
    """@00364415's flat keys: correlation_results, ncsnr, noise_ceiling (281, 271) straight in encoding_model."""
    meta = load_pickled(metadata_path(meg_store, 1))
    em = meta["encoding_model"]
    meta["encoding_model"] = {"correlation_results": em["all_training_splits"]["correlation_results"].T,
                              "ncsnr": em["ncsnr"].T, "noise_ceiling": em["noise_ceiling"].T}
    berg = _berg(_store(tmp_path, meg_store, {"weights_P1.npy": weights_path(meg_store, 1)}, meta))
    with load(berg=berg) as model:
        np.testing.assert_array_equal(model.accuracy().values, em["all_training_splits"]["correlation_results"])
        with pytest.raises(Exception, match="percent_noise_ceiling"):
            model.accuracy("percent_noise_ceiling")


@pytest.mark.parametrize(("where", "value", "match"), [
    (("encoding_model", "ncsnr"), np.zeros((270, 281)), "ncsnr has shape"),
    (("meg", "times"), np.zeros(281), "meg.times should increase"),
    (("sensors", "sensor_names"), np.array(["MLC11-1609"] * 271), "unique sensor names"),
    (("sensors", "sensor_regions"), np.array(["Central"] * 270), "sensor_regions has 270 entries"),
])
def test_inconsistent_metadata_is_an_integrity_error(tmp_path, meg_store, load, where, value, match):
    meta = load_pickled(metadata_path(meg_store, 1))
    meta[where[0]][where[1]] = value
    berg = _berg(_store(tmp_path, meg_store, {"weights_P1.npy": weights_path(meg_store, 1)}, meta))
    with pytest.raises(IntegrityError, match=match):
        load(berg=berg)


def test_synthetic_store_namings_and_formats(tmp_path):
    paths = write_store(tmp_path / "full", [3], n_components=2, naming="full")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["weights_P3_full.npy", *[f"weights_P3_split{k}.npy" for k in
                                                    range(1, 5)], "metadata_P3.npy"]
    paths = write_store(tmp_path / "plain", [4], n_components=2, naming="plain", splits=False)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["weights_P4.npy", "metadata_P4.npy"]
    raw = np.load(tmp_path / "plain" / paths[0], allow_pickle=True)
    assert raw.shape == () and raw.dtype == object  # np.save of a dict, as BERG 2.0 wrote it
    w = raw.item()
    assert set(w) == {"scaler_param", "pca_param", "reg_param"}
    assert set(w["reg_param"]) == {"coef_", "intercept_", "n_features_in_"}
    assert w["reg_param"]["coef_"].shape == (271 * 281, 2) and w["reg_param"]["coef_"].dtype == np.float64
    assert w["pca_param"]["components_"].shape == (2, 460_800)
    meta = np.load(tmp_path / "plain" / paths[1], allow_pickle=True).item()
    assert set(meta) == {"meg", "sensors", "encoding_model"}
    assert meta["meg"]["times"].shape == (281,) and meta["sensors"]["sensor_names"].shape == (271,)
    assert {f"single_training_split_{k}" for k in range(1, 5)} | {"all_training_splits"} <= set(meta["encoding_model"])
    assert meta["encoding_model"]["ncsnr"].shape == (271, 281)


def test_synthetic_store_options_are_checked(tmp_path):
    from berg_core.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="naming"):
        write_store(tmp_path, [1], n_components=2, naming="oldest")
    with pytest.raises(InvalidParameterError, match="splits=False"):
        write_store(tmp_path, [1], n_components=2, naming="plain")
    with pytest.raises(InvalidParameterError, match="unknown|colour"):
        write_store(tmp_path, [1], n_components=2, colour="red")
