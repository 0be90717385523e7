"""THINGS EEG2 models deep-copy, pickle and run in spawned processes over subjects."""

from __future__ import annotations

import copy
import functools
import multiprocessing
import pickle
from typing import Any

import numpy as np

from .eeg_reference import MODEL_ID


def test_deepcopy_copies_the_readout_and_shares_the_backbone(load: Any, session_berg: Any, images: np.ndarray) -> None:
    model = load(selection={"channels": ["Oz", "O1"]})
    clone = copy.deepcopy(model)
    assert clone.readout is not model.readout and clone.feature_extractor is model.feature_extractor
    expected = session_berg.encode(model, images, show_progress=False).values
    np.testing.assert_array_equal(session_berg.encode(clone, images, show_progress=False).values, expected)
    clone.readout.projection.weight.zero_()  # mutating the copy's weights leaves the original's alone
    clone.cleanup()
    np.testing.assert_array_equal(session_berg.encode(model, images, show_progress=False).values, expected)


def test_pickle_reloads_the_same_model(load: Any, session_berg: Any, images: np.ndarray) -> None:
    model = load(subject=2, selection={"channels": ["Pz"]}, preprocessing="berg-2.0")
    data = pickle.dumps(model)
    assert len(data) < 4096
    back = pickle.loads(data)
    assert (back.subject, back.selection, back.preprocessing) == (2, model.selection, "berg-2.0")
    np.testing.assert_array_equal(
        session_berg.encode(back, images, show_progress=False).values,
        session_berg.encode(model, images, show_progress=False).values,
    )


def test_spawned_workers_over_subjects_match_this_process(load: Any, session_berg: Any, images: np.ndarray) -> None:
    models = [load(subject=s, selection={"channels": ["Oz"]}) for s in (1, 2)]
    assert all(m.model_id == MODEL_ID for m in models)
    work = functools.partial(session_berg.encode, stimulus=images, show_progress=False)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        remote = pool.map(work, models)
    for model, result in zip(models, remote, strict=True):
        np.testing.assert_array_equal(result.values, session_berg.encode(model, images, show_progress=False).values)
