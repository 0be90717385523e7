"""Store files are read safely: a pickle that tries to run code is refused before anything runs,
and files whose content does not fit the model are reported as IntegrityError."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core import BERG
from berg_core.errors import IntegrityError

from .eeg_reference import MODEL_ID, load_pickled, metadata_path, weights_path, write_store


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: the marker file proves the code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


class _RunsShell:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    write_store(root, [1], n_components=4)
    return root


def _replace(path: Path, obj: Any) -> None:
    np.save(path, obj, allow_pickle=True)


@pytest.mark.parametrize("payload", [_CreatesFile, _RunsShell])
def test_malicious_weights_file_is_refused_and_never_runs(store, tmp_path, hub_weights, shared_backbone, payload):
    marker = tmp_path / "pwned"
    weights = load_pickled(weights_path(store, 1))
    weights["reg_param"]["rep-2"]["n_features_in_"] = payload(marker)
    _replace(weights_path(store, 1), weights)
    berg = BERG(store)
    with pytest.raises(
        IntegrityError, match=r"weights_subject-01.npy is unsafe: its pickle asks for .*Nothing from it was executed"
    ):
        berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights))
    assert not marker.exists()
    # the payload is live: NumPy's own pickle loading runs it
    np.load(weights_path(store, 1), allow_pickle=True)
    assert marker.exists()


def test_malicious_metadata_file_is_refused_and_never_runs(store, tmp_path, hub_weights, shared_backbone):
    marker = tmp_path / "pwned"
    meta = load_pickled(metadata_path(store, 1))
    meta["encoding_models"]["train_img_info"] = _CreatesFile(marker)
    _replace(metadata_path(store, 1), meta)
    berg = BERG(store)
    with pytest.raises(IntegrityError, match="metadata_subject-01.npy is unsafe"):
        berg.get_model_metadata(MODEL_ID, subject=1)
    with pytest.raises(IntegrityError, match="metadata_subject-01.npy is unsafe"):
        berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights))
    assert not marker.exists()


def test_truncated_weights_file(store, hub_weights, shared_backbone):
    path = weights_path(store, 1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="corrupt or truncated"):
        BERG(store).get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights))


def _edit_weights(store: Path, edit: Any) -> None:
    weights = load_pickled(weights_path(store, 1))
    edit(weights)
    _replace(weights_path(store, 1), weights)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda w: w["pca_param"].pop("components_"), r"has no entry 'pca_param/components_'"),
        (
            lambda w: (
                w["pca_param"].update(components_=np.zeros((4, 1000)), mean_=np.zeros(1000))
                or w["scaler_param"].update(mean_=np.zeros(1000), scale_=np.ones(1000))
            ),
            r"components_ have 1000 features, expected 460800",
        ),
        (
            lambda w: w["scaler_param"].update(scale_=np.ones(10)),
            r"scaler scale_ has shape \(10,\), expected \(460800,\)",
        ),
        (
            lambda w: w["reg_param"]["rep-3"].update(intercept_=np.zeros(100)),
            r"rep-3/intercept_ has shape \(100,\), expected \(8820,\)",
        ),
        (
            lambda w: w["reg_param"]["rep-4"].update(coef_=np.zeros((100, 4))),
            r"rep-4/coef_ has 100 rows, expected 8820",
        ),
        (
            lambda w: w["reg_param"]["rep-1"].update(coef_=np.zeros((8820, 5))),
            r"rep-1/coef_ rows have shape \(5,\), expected \(4,\)",
        ),
        (lambda w: w["reg_param"].pop("rep-4"), r"has no entry 'reg_param/rep-4/intercept_'"),
    ],
)
def test_weights_that_do_not_fit_the_model(store, hub_weights, shared_backbone, edit, pattern):
    _edit_weights(store, edit)
    with pytest.raises(IntegrityError, match=pattern):
        BERG(store).get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights))


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda m: m["eeg"].pop("times"), r"has no entry 'eeg/times'"),
        (lambda m: m["eeg"].update(ch_names=["Oz", "Oz"]), r"eeg.ch_names should be unique channel name strings"),
        (lambda m: m["eeg"].update(times=np.zeros((2, 70))), r"eeg.times should be a 1-D array of seconds"),
        (
            lambda m: m["encoding_models"].update(correlation_averaged_repetitions=np.zeros((63, 10))),
            r"correlation_averaged_repetitions has shape \(63, 10\), expected \(63, 140\)",
        ),
    ],
)
def test_metadata_that_does_not_fit_the_model(store, hub_weights, shared_backbone, edit, pattern):
    meta = load_pickled(metadata_path(store, 1))
    edit(meta)
    _replace(metadata_path(store, 1), meta)
    with pytest.raises(IntegrityError, match=pattern):
        BERG(store).get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights))
