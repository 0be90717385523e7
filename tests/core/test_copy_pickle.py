"""Models, stores and the BERG facade copy and pickle (the third-party toy plugin of conftest)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from berg_core import BERG, InvalidParameterError
from berg_core.registry.manager import PluginManager
from berg_core.store.model_store import Store

MODEL = "toy-retina-luminance"
IMAGES = np.random.default_rng(3).integers(0, 256, size=(5, 3, 9, 7), dtype=np.uint8)


def _encode(berg: BERG, model: object) -> np.ndarray:
    return np.asarray(berg.encode(model, IMAGES, show_progress=False, batch_size=2).values)


def test_deepcopy_is_independent_and_encodes_identically(toy_store: BERG) -> None:
    model = toy_store.get_encoding_model(MODEL, subject=1, selection={"units": [0, 2]})
    clone = copy.deepcopy(model)
    assert clone is not model and clone.weight is not model.weight
    np.testing.assert_array_equal(_encode(toy_store, clone), _encode(toy_store, model))
    clone.weight.mul_(2)
    clone.selection["units"] = [1]
    clone.cleanup()
    assert clone.closed and not model.closed
    assert model.selection == {"units": [0, 2]}
    np.testing.assert_array_equal(_encode(toy_store, model), _encode(toy_store, copy.deepcopy(model)))
    # shared by design: one store handle and one backbone pass for both
    assert clone.store is model.store and clone.feature_key == model.feature_key


def test_shallow_copy_shares_weights_but_not_life_cycle(toy_store: BERG) -> None:
    model = toy_store.get_encoding_model(MODEL, subject=1)
    shallow = copy.copy(model)
    assert shallow.weight is model.weight
    shallow.cleanup()
    np.testing.assert_array_equal(_encode(toy_store, model), _encode(toy_store, copy.deepcopy(model)))


def test_pickle_round_trips_model_through_the_store(toy_store: BERG, tmp_path) -> None:
    model = toy_store.get_encoding_model(MODEL, subject=2, selection={"units": [3, 1]})
    data = pickle.dumps(model)
    assert len(data) < 4096  # weights are not in the pickle
    back = pickle.loads(data)
    assert type(back).__name__ == "ToyModel" and back.subject == 2 and back.selection == model.selection
    np.testing.assert_array_equal(_encode(toy_store, back), _encode(toy_store, model))
    # proof that the weights come from the store: changed weights give changed responses
    weights = tmp_path / "store" / model.card.store_path / "weights_subject-02.json"
    weights.write_text(weights.read_text().replace("-", ""))
    assert not np.array_equal(_encode(toy_store, pickle.loads(data)), _encode(toy_store, model))


def test_pickle_round_trips_the_facade(toy_store: BERG) -> None:
    back = pickle.loads(pickle.dumps(toy_store))
    assert back.berg_dir == toy_store.berg_dir and MODEL in back.list_models()
    assert copy.deepcopy(toy_store).plugin_manager is toy_store.plugin_manager
    model = back.get_encoding_model(MODEL, subject=1)
    np.testing.assert_array_equal(_encode(back, model), _encode(toy_store, toy_store.get_encoding_model(MODEL, subject=1)))


def test_store_pickles_as_its_settings(tmp_path) -> None:
    store = Store(tmp_path, storage_options={"auto_mkdir": True}, cache_dir=False)
    back = pickle.loads(pickle.dumps(store))
    assert (back.url, back.storage_options, back.root) == (store.url, store.storage_options, store.root)
    assert copy.deepcopy(store).url == store.url


def test_plugin_registered_by_hand_travels_with_the_model(tmp_path, toy_plugin_dir, monkeypatch) -> None:
    import importlib

    monkeypatch.setenv("BERG_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = PluginManager()
    pm.register(importlib.import_module("berg_toy.plugin"), name="by-hand")
    src = BERG(tmp_path / "store", plugin_manager=pm)
    pm.owner_hook("berg_write_synthetic_store", "by-hand")(
        card=src.get_card(MODEL), root=str(tmp_path / "store"), subjects=[1], seed=4, options={}
    )
    model = src.get_encoding_model(MODEL, subject=1)
    back = pickle.loads(pickle.dumps(model))
    assert back.plugin_name == "by-hand"
    np.testing.assert_array_equal(_encode(src, back), _encode(src, model))


def test_cleaned_up_or_hand_made_models_refuse_with_a_clear_error(toy_store: BERG) -> None:
    model = toy_store.get_encoding_model(MODEL, subject=1)
    model.cleanup()
    for action in (copy.deepcopy, pickle.dumps):
        with pytest.raises(InvalidParameterError, match="cleaned up"):
            action(model)
    hand_made = type(model)(model.card, 1, None, toy_store.store, model.device, {})
    with pytest.raises(InvalidParameterError, match="get_encoding_model"):
        pickle.dumps(hand_made)
    np.testing.assert_array_equal(_encode(toy_store, copy.deepcopy(hand_made)), _encode(toy_store, hand_made))


def test_plugin_registered_by_hand_in_the_process_wide_manager_reaches_a_fresh_process(
    tmp_path, toy_plugin_dir, monkeypatch
) -> None:
    """A fresh process (its own process-wide manager, no entry points) gets the plugin from the pickle."""
    import importlib

    from berg_core.registry import manager as plugins

    monkeypatch.setenv("BERG_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setattr(plugins, "_PM", None)
    plugins.get_plugin_manager().register(importlib.import_module("berg_toy.plugin"), name="toy-by-hand")
    berg = BERG(tmp_path / "store")
    berg.plugin_manager.owner_hook("berg_write_synthetic_store", "toy-by-hand")(
        card=berg.get_card(MODEL), root=str(tmp_path / "store"), subjects=[2], seed=5, options={}
    )
    model = berg.get_encoding_model(MODEL, subject=2)
    data, facade = pickle.dumps(model), pickle.dumps(berg)
    monkeypatch.setattr(plugins, "_PM", None)  # what a spawned worker starts with
    back = pickle.loads(data)
    assert back._plugin_manager is plugins.get_plugin_manager() and back.plugin_name == "toy-by-hand"
    assert pickle.loads(facade).plugin_manager is plugins.get_plugin_manager()
    np.testing.assert_array_equal(_encode(berg, back), _encode(berg, model))


def test_a_pickled_model_of_a_plugin_registered_by_hand_encodes_in_a_spawned_process(tmp_path, toy_plugin_dir, monkeypatch) -> None:
    """A fresh interpreter, entry points off: the plugin and the store settings come from the pickle alone."""
    import importlib
    import os
    import subprocess
    import sys

    monkeypatch.setenv("BERG_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = PluginManager()
    pm.register(importlib.import_module("berg_toy.plugin"), name="by-hand")
    berg = BERG(tmp_path / "store", plugin_manager=pm)
    pm.owner_hook("berg_write_synthetic_store", "by-hand")(
        card=berg.get_card(MODEL), root=str(tmp_path / "store"), subjects=[2], seed=8, options={}
    )
    model = berg.get_encoding_model(MODEL, subject=2, selection={"units": [1, 3]})
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "images.npy", IMAGES)
    child = (
        "import pickle, sys, numpy as np\n"
        "from berg_core import BERG\n"
        "from berg_core.registry.manager import get_plugin_manager\n"
        "assert get_plugin_manager().registry.ids() == []\n"
        "model = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "assert model.plugin_name == 'by-hand'\n"
        "out = BERG(sys.argv[2], plugin_manager=model._plugin_manager).encode(model, np.load(sys.argv[3]), batch_size=2, "
        "show_progress=False)\n"
        "np.save(sys.argv[4], out.values)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy_plugin_dir), *sys.path])}
    subprocess.run([sys.executable, "-c", child, str(tmp_path / "model.pkl"), str(tmp_path / "store"),
                    str(tmp_path / "images.npy"), str(tmp_path / "out.npy")], check=True, env=env, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), _encode(berg, model))
