"""``berg demo`` runs each model on procedural stimuli of its card's kind: images, sentences, a timed-word story,
video clips drawn in code; one pass per kind, all results in one store, each equal to the model's math."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core.demo.run import run_demo
from berg_core.demo.stimuli import DEMO_CLIP_IDS, DEMO_SENTENCES, demo_clips, demo_stimuli, demo_stories
from berg_core.results.groups import open_results

from .pictures import assert_picture


def _toys() -> Any:
    """The toy plugin per kind of tests/core (loaded by path: tests/core is no package)."""
    import importlib.util

    name = "stimulus_kind_toys"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "core" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


def test_the_demo_stimuli_of_each_kind_are_fixed_and_valid() -> None:
    ids, clips = demo_clips()
    assert ids == list(DEMO_CLIP_IDS) and clips.shape == (3, 16, 3, 64, 64) and clips.dtype == np.uint8
    np.testing.assert_array_equal(clips, demo_clips()[1])
    assert not np.array_equal(clips[:, 0], clips[:, -1])  # they move
    story_ids, stories = demo_stories()
    assert story_ids == ["fox", "lighthouse"] and stories[0].words[:3] == ("A", "small", "red")
    assert all((np.diff(s.onsets) > 0).all() and (s.offsets > s.onsets).all() for s in stories)
    video = demo_stimuli("video")
    assert video.frame_rates() == [8.0] * 3 and video.kind == "video"
    assert demo_stimuli("sentences").texts() == list(DEMO_SENTENCES)
    assert demo_stimuli("timed_words").n_units() == sum(len(s) for s in stories)
    assert demo_stimuli("images", 32).stacked().shape == (8, 3, 32, 32)


def test_the_demo_runs_each_kind_on_its_own_stimuli(tmp_path: Path) -> None:
    toys = _toys()
    pm = toys.plugin_manager()
    report = run_demo(cache_dir=tmp_path / "cache", plugin_manager=pm, image_size=32)
    results = open_results(report.paths.results)
    assert sorted(results) == sorted(f"{m}/subject-01" for m in toys.IDS.values())
    store = report.paths.store
    expected = {
        "sentences": [toys.sentence_numbers(t) for t in DEMO_SENTENCES],
        "timed_words": [toys.story_numbers(list(s.words), s.onsets) for s in demo_stories()[1]],
        "video": [toys.clip_numbers(c, 8.0) for c in demo_clips()[1]],
    }
    for kind, numbers in expected.items():
        got = results[f"{toys.IDS[kind]}/subject-01"]
        np.testing.assert_allclose(got.values, toys.reference(kind, toys.store_weights(store, kind), numbers), rtol=1e-6, atol=1e-7)
    assert list(results[f"{toys.IDS['video']}/subject-01"].stimulus.values) == list(DEMO_CLIP_IDS)
    assert list(results[f"{toys.IDS['timed_words']}/subject-01"].stimulus.values) == ["fox", "lighthouse"]
    out = report.summary()
    for part in ("1 model(s) encoded 8 images in one pass", "1 model(s) encoded 6 sentences in one pass",
                 "1 model(s) encoded 2 stories in one pass (", "1 model(s) encoded 3 clips in one pass",
                 "images/s", "sentences/s", "words/s", "clips/s"):
        assert part in out
    pictures = sorted(p.name for p in report.paths.pictures.iterdir())
    assert "stimuli.png" in pictures and "stimuli-video.png" in pictures and len(pictures) == 6
    for p in report.paths.pictures.iterdir():
        assert_picture(p)


def test_a_demo_of_one_kind_only_encodes_that_kind(tmp_path: Path) -> None:
    toys = _toys()
    report = run_demo(cache_dir=tmp_path / "cache", plugin_manager=toys.plugin_manager(), models=[toys.IDS["sentences"]])
    assert list(report.kinds) == ["sentences"] and report.stimuli_picture is None
    assert report.summary().startswith("berg demo: 1 model(s) encoded 6 sentences in one pass")
    assert np.isnan(report.images_per_second)


@pytest.mark.parametrize("kind", ["audio", "text"])
def test_the_demo_has_no_stimuli_of_other_kinds(kind: str) -> None:
    from berg_core.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=f"the demo has no stimuli of kind '{kind}'"):
        demo_stimuli(kind)
