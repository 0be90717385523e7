"""``berg demo`` end to end (the README's first command), and when its cached store is reused or rebuilt.

The end-to-end test runs the real command in a temporary cache with an empty
torch hub cache: the backbone must come from inside the demo store. Its
outputs are checked against the models' math computed independently from the
files the demo wrote.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from berg_core.cli.main import main
from berg_core.errors import InvalidParameterError
from berg_core.store.synthetic_marker import SYNTHETIC_MARKER, SYNTHETIC_NOTE, read_synthetic_marker

from .pictures import assert_picture
from .reference import assert_close, eeg_responses, fsaverage_responses, load_pickled, vit_features
from .thirdparty import third_party_manager

EEG = "eeg-things_eeg_2-vit_b_32"
FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"


def test_berg_demo_end_to_end(tmp_path, monkeypatch, empty_torch_home, capsys):
    from berg_core.backbones import VIT_B_32_STORE_PATH
    from berg_core.demo.images import DEMO_IMAGE_IDS, demo_images
    from berg_core.demo.run import ensure_demo_store
    from berg_core.registry.manager import get_plugin_manager
    from berg_core.results.groups import open_results

    cache = tmp_path / "cache"
    monkeypatch.setenv("BERG_CACHE_DIR", str(cache))
    assert main(["demo"]) == 0
    out = capsys.readouterr().out

    # one store of every installed model, with the backbone inside it; the torch hub cache untouched
    store = cache / "demo" / "store"
    installed = get_plugin_manager().registry.ids()
    marker = read_synthetic_marker(store)
    assert marker is not None and sorted(marker["models"]) == installed and marker["backbone"] is True
    assert (store / VIT_B_32_STORE_PATH).is_file()
    import torch

    assert torch.hub.get_dir().startswith(str(empty_torch_home))
    assert not (empty_torch_home / "hub").exists()  # nothing looked up or written in the torch hub cache

    # labelled results of every model, each saying it comes from synthetic weights
    results_dir = cache / "demo" / "output" / "results.zarr"
    results = open_results(results_dir)
    assert sorted(label.split("/")[0] for label in results) == installed
    import xarray as xr

    assert sorted(xr.open_datatree(results_dir, engine="zarr").children) == installed  # plain xarray opens it too
    kinds = {m: get_plugin_manager().registry.get(m).card.stimuli for m in installed}
    image_models = [m for m in installed if kinds[m] == "images"]
    for label, da in results.items():
        assert da.attrs["synthetic_weights"] == SYNTHETIC_NOTE
        if kinds[label.split("/")[0]] == "images":  # models of other kinds get the demo stimuli of their kind
            assert list(da["stimulus"].values) == list(DEMO_IMAGE_IDS)
    assert results[f"{FWRF}/subject-01"].shape == (8, 1350)

    # the values are the models' math on the demo images, computed here independently
    _, images = demo_images()
    features = vit_features(store / VIT_B_32_STORE_PATH, images)
    eeg_dir = store / "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32/encoding_models_weights"
    eeg = results[f"{EEG}/subject-01"]
    assert_close(np.asarray(eeg.values), eeg_responses(features, load_pickled(eeg_dir / "weights_subject-01.npy")))
    fs_dir = store / "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32/encoding_models_weights"
    fs = results[f"{FSAVERAGE}/subject-01"]
    rh = np.flatnonzero(np.asarray(fs["hemisphere"].values) == "rh")[::997]  # a spread of right-hemisphere vertices
    vertices = np.asarray(fs["fsaverage_index"].values)[rh]
    expected = fsaverage_responses(features, load_pickled(fs_dir / "weights_subject-01.npy"), "rh", vertices)
    assert_close(np.asarray(fs.values)[:, rh], expected)

    # one picture per model, plus the stimuli
    pictures = cache / "demo" / "output" / "pictures"
    assert sorted(p.name for p in pictures.iterdir()) == sorted(
        ["stimuli.png", *(["stimuli-video.png"] if "video" in kinds.values() else []),
         *(label.replace("/", "_") + ".png" for label in results)]
    )
    for path in pictures.iterdir():
        assert_picture(path)

    # the summary says what ran, where things are, how fast, and that the weights are synthetic
    assert f"{len(image_models)} model(s) encoded 8 images in one pass" in out
    assert str(results_dir) in out and str(pictures) in out and "images/s" in out
    assert "SYNTHETIC WEIGHTS" in out and "(built in" in out
    assert ensure_demo_store(store, get_plugin_manager())[0] is False  # the next run reuses the store

    # a result left by a model whose plugin has since been uninstalled is ignored by the next run
    import warnings

    from berg_core.results.plotting import UndrawableResultWarning

    _as_result_of_an_uninstalled_model(results_dir, f"{FWRF}/subject-01", "uninstalled-model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["demo"]) == 0
    assert not [w for w in caught if issubclass(w.category, UndrawableResultWarning)]  # not even tried
    assert "uninstalled-model" not in capsys.readouterr().out
    assert not any("uninstalled" in p.name for p in pictures.iterdir())
    assert "uninstalled-model/subject-01" in open_results(results_dir)  # left alone, not deleted


def _as_result_of_an_uninstalled_model(results_dir, label, model_id):
    """Copy the result group ``label`` as ``model_id/subject-01``, relabelled: what an uninstalled plugin left."""
    import shutil

    import zarr

    target = results_dir / model_id / "subject-01"
    shutil.copytree(results_dir / label, target)
    shutil.copy(results_dir / label.split("/")[0] / "zarr.json", results_dir / model_id / "zarr.json")
    group = zarr.open_group(str(target), mode="r+", use_consolidated=False)
    variable = group.attrs["berg_variable"]
    group[variable].attrs["model_id"] = model_id
    group["model_id"][...] = model_id
    zarr.consolidate_metadata(str(target))


def test_the_cached_store_is_reused_until_refresh_or_a_change(tmp_path):
    from berg_core.demo.run import ensure_demo_store

    pm, plugin = third_party_manager(tmp_path)
    store = tmp_path / "demo" / "store"
    built, marker = ensure_demo_store(store, pm)
    assert built and marker["models"] == {"thirdparty-toy-model": [1]} and len(plugin.calls) == 1
    assert ensure_demo_store(store, pm) == (False, marker) and len(plugin.calls) == 1
    assert ensure_demo_store(store, pm, refresh=True)[0] is True and len(plugin.calls) == 2

    stale = json.loads((store / SYNTHETIC_MARKER).read_text())
    stale["demo"]["format"] = 0  # written by an older berg: rebuilt
    (store / SYNTHETIC_MARKER).write_text(json.dumps(stale))
    assert ensure_demo_store(store, pm)[0] is True
    (store / SYNTHETIC_MARKER).unlink()  # an interrupted build never got its marker: rebuilt
    assert ensure_demo_store(store, pm)[0] is True
    assert [p.name for p in store.parent.iterdir()] == ["store"]  # no building folders left behind


def test_a_chosen_model_reuses_a_store_that_holds_it(tmp_path):
    """``berg demo --model ID``: a cached store of more models serves it; one lacking a wanted model is rebuilt."""
    from berg_core.demo.run import ensure_demo_store
    from berg_core.errors import PluginError

    pm, plugin = third_party_manager(tmp_path)
    store = tmp_path / "demo" / "store"
    assert ensure_demo_store(store, pm)[0] is True and len(plugin.calls) == 1  # every installed model
    assert ensure_demo_store(store, pm, models=["thirdparty-toy-model"])[0] is False and len(plugin.calls) == 1
    with pytest.raises(PluginError, match="does not write synthetic stores"):  # skipped in that store, not held
        ensure_demo_store(store, pm, models=["thirdparty-toy-model", "thirdparty-unwritable"])
    assert ensure_demo_store(store, pm)[0] is False  # the cached store is left as it was
    # built for the chosen model only: the next run of every model needs a store that holds them all
    built, marker = ensure_demo_store(store, pm, refresh=True, models="thirdparty-toy-model")
    assert built and marker["models"] == {"thirdparty-toy-model": [1]} and marker["skipped"] == {}
    calls = len(plugin.calls)
    assert ensure_demo_store(store, pm)[0] is True and len(plugin.calls) == calls + 1


def test_a_model_the_demo_cannot_run_is_refused_before_anything_is_written(tmp_path):
    from berg_core.demo.run import ensure_demo_store
    from berg_core.errors import ModelNotFoundError, PluginError

    pm, plugin = third_party_manager(tmp_path)
    store = tmp_path / "demo" / "store"
    with pytest.raises(ModelNotFoundError, match="Did you mean 'thirdparty-toy-model'"):
        ensure_demo_store(store, pm, models=["thirdparty-toy-modle"])
    with pytest.raises(InvalidParameterError, match="empty list"):
        ensure_demo_store(store, pm, models=[])
    with pytest.raises(PluginError, match="does not write synthetic stores"):
        ensure_demo_store(store, pm, models=["thirdparty-unwritable"])
    assert not store.exists() and plugin.calls == []
    assert not store.parent.exists() or not any(store.parent.iterdir())  # no half-built store left behind


def test_demo_model_flag_errors_are_one_line(tmp_path, capsys):
    assert main(["demo", "--cache-dir", str(tmp_path), "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # refused before the store was built


def test_demo_folders_follow_the_cache_settings(tmp_path, monkeypatch):
    from berg_core.demo.run import demo_paths

    monkeypatch.setenv("BERG_CACHE_DIR", str(tmp_path / "env"))
    assert demo_paths().store == tmp_path / "env" / "demo" / "store"
    assert demo_paths().results == tmp_path / "env" / "demo" / "output" / "results.zarr"
    chosen = demo_paths(cache_dir=tmp_path / "flag", output_dir=tmp_path / "out")  # --cache-dir and -o win
    assert chosen.store == tmp_path / "flag" / "demo" / "store" and chosen.pictures == tmp_path / "out" / "pictures"
    monkeypatch.delenv("BERG_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert demo_paths().store == tmp_path / "home" / ".cache" / "berg" / "demo" / "store"
