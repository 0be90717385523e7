"""Per-ROI time courses, the array export, the convert plan and the demo settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .reference import MODEL_ID


@pytest.fixture(scope="module")
def subset(load, features):
    with load("F", selection={"electrodes": [0, 1, 600, 601, 900, 901], "timepoints": slice(0.0, 0.05)}) as model:
        return model.encode_features(features, ["a", "b", "c"])


def test_roi_time_courses_average_each_rois_electrodes(subset):
    from berg_utah_tvsd.plots import roi_time_courses

    courses = roi_time_courses(subset.sel(stimulus=["b"]))
    assert list(courses) == ["V1", "V4", "IT"]  # card order; F's IT block comes before its V4 block
    mean, sem, n = courses["IT"]
    values = subset.sel(stimulus="b").values[[2, 3]].astype(np.float64)
    np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sem, values.std(axis=0, ddof=1) / np.sqrt(2), rtol=1e-12)
    assert n == 2


def test_plot_draws_each_roi(subset, tmp_path, plugin_manager):
    fig = subset.berg.plot(tmp_path / "tvsd.png", plugin_manager=plugin_manager, rois=["IT", "V1"])
    assert (tmp_path / "tvsd.png").stat().st_size > 1000
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "IT (2 electrodes)" in labels and "V1 (2 electrodes)" in labels and not any(lb.startswith("V4") for lb in labels)


def test_plot_options_are_checked(subset, plugin_manager):
    with pytest.raises(InvalidParameterError, match=r"V2.*\['V1', 'V4', 'IT'\]"):
        subset.berg.plot(None, plugin_manager=plugin_manager, rois=["V2"])
    with pytest.raises(InvalidParameterError, match="no electrode reaches reliability=99"):
        subset.berg.plot(None, plugin_manager=plugin_manager, reliability=99)
    with pytest.raises(InvalidParameterError, match="colour"):
        subset.berg.plot(None, plugin_manager=plugin_manager, colour="red")
    assert subset.berg.plot(None, plugin_manager=plugin_manager, reliability=0.5, stimulus="c") is not None


def test_plot_of_single_split_results(load, features, plugin_manager):
    with load("N", train_splits="single", selection={"roi": "V1", "timepoints": [0.05, 0.1]}) as model:
        r = model.encode_features(features, [0, 1, 2])
    fig = r.berg.plot(None, plugin_manager=plugin_manager)
    assert "4 training splits" in fig.texts[0].get_text() or "4 training splits" in (fig._suptitle.get_text()
                                                                                       if fig._suptitle else "")


def test_array_export(subset, plugin_manager, tmp_path):
    arr = subset.berg.export("array", plugin_manager=plugin_manager)
    assert isinstance(arr, np.ndarray) and arr.shape == subset.shape
    np.testing.assert_array_equal(arr, subset.values)
    with pytest.raises(InvalidParameterError, match=r"formats: \['array'\]"):
        subset.berg.export("nifti", tmp_path / "x.nii", plugin_manager=plugin_manager)
    with pytest.raises(InvalidParameterError, match="writes no file"):
        subset.berg.export("array", tmp_path / "x.npy", plugin_manager=plugin_manager)


def test_demo_settings_and_synthetic_options(plugin_manager: Any, tmp_path: Path):
    from .conftest import write_store

    card = plugin_manager.registry.get(MODEL_ID).card
    settings = plugin_manager.owner_hook("berg_demo_settings", "utah_tvsd")(card=card)
    assert settings.store_options == {"n_components": 16} and settings.selection is None
    written = write_store(plugin_manager, tmp_path, ["F"], n_components=2, train_splits="single")
    assert [Path(p).name for p in written] == [f"weights_monkeyF_single_training_split_{k}.npy" for k in range(1, 5)] + [
        "metadata_monkeyF.npy"]
    with pytest.raises(InvalidParameterError, match="train_splits"):
        write_store(plugin_manager, tmp_path, ["F"], train_splits=["some"])
    with pytest.raises(InvalidParameterError, match="unknown"):
        write_store(plugin_manager, tmp_path, ["F"], n_voxels=3)
