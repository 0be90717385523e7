"""BERG.encode dispatches on the card's stimulus kind, end to end, with a toy plugin per kind.

Each toy model has a real torch read-out with seeded weights from a synthetic store; its
responses are checked against a float64 NumPy reference computed from the raw inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from berg_core import BERG
from berg_core.errors import InvalidParameterError, StimulusError


def _toys():  # type: ignore[no-untyped-def]
    """The toy plugins' module next to this file (tests/core is no package; pytest imports with importlib)."""
    import importlib.util

    name = "stimulus_kind_toys"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


toys = _toys()
SENTENCES = ["The cat sat on the mat.", "Colourless green ideas sleep furiously.", "Hi!"]
CLIPS = np.random.default_rng(2).integers(0, 256, size=(3, 4, 3, 6, 5), dtype=np.uint8)
STORIES = [
    pd.DataFrame({"word": ["once", "upon", "a", "time"], "onset": [0.0, 0.4, 0.8, 1.1]}),
    {"word": ["the", "end"], "onset": [0.0, 2.5]},
    {"word": ["so", "it", "goes"], "onset": [1.0, 1.2, 1.9], "offset": [1.1, 1.5, 2.4]},
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[BERG, Path]:
    pm = toys.plugin_manager()
    root = toys.write_store(tmp_path_factory.mktemp("kinds") / "store", pm)
    return BERG(root, plugin_manager=pm), root


def _model(setup: tuple[BERG, Path], kind: str) -> Any:
    return setup[0].get_encoding_model(toys.IDS[kind], subject=1, device="cpu")


def test_sentences_encode_to_the_reference(setup: tuple[BERG, Path], tmp_path: Path) -> None:
    berg, root = setup
    model = _model(setup, "sentences")
    assert model.stimulus_kind == "sentences"
    toys.KindToy.seen.clear()
    out = berg.encode(model, SENTENCES, show_progress=False)
    want = toys.reference("sentences", toys.store_weights(root, "sentences"), [toys.sentence_numbers(s) for s in SENTENCES])
    assert out.dims == ("stimulus", "unit") and list(out.stimulus.values) == [0, 1, 2]
    np.testing.assert_allclose(out.values, want, rtol=1e-6, atol=1e-7)
    assert [b.texts() for b in toys.KindToy.seen] == [SENTENCES[:2], SENTENCES[2:]]  # batches of the card's kind
    f = tmp_path / "s.txt"
    f.write_text("\n".join(SENTENCES) + "\n")
    np.testing.assert_array_equal(berg.encode(model, f, show_progress=False).values, out.values)
    one = berg.encode(model, SENTENCES[1], show_progress=False, stimulus_ids=["s2"])
    assert list(one.stimulus.values) == ["s2"]
    np.testing.assert_allclose(one.values, out.values[1:2], rtol=1e-6)


def test_timed_words_encode_one_row_per_story(setup: tuple[BERG, Path], tmp_path: Path) -> None:
    berg, root = setup
    model = _model(setup, "timed_words")
    out = berg.encode(model, STORIES, show_progress=False, stimulus_ids=["a", "b", "c"])
    numbers = [toys.story_numbers(list(s["word"]), np.asarray(s["onset"], dtype=float)) for s in STORIES]
    np.testing.assert_allclose(out.values, toys.reference("timed_words", toys.store_weights(root, "timed_words"), numbers),
                               rtol=1e-6, atol=1e-7)
    assert list(out.stimulus.values) == ["a", "b", "c"]
    for name, story in zip("abc", STORIES, strict=True):
        pd.DataFrame({"word": story["word"], "onset": story["onset"]}).to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
    from_files = berg.encode(model, tmp_path, show_progress=False)
    assert list(from_files.stimulus.values) == ["a", "b", "c"]  # file stems
    np.testing.assert_allclose(from_files.values, out.values, rtol=1e-6)


def test_video_arrays_and_files_encode_to_the_reference(setup: tuple[BERG, Path], tmp_path: Path) -> None:
    berg, root = setup
    model = _model(setup, "video")
    weights = toys.store_weights(root, "video")
    out = berg.encode(model, CLIPS, show_progress=False)
    np.testing.assert_allclose(out.values, toys.reference("video", weights, [toys.clip_numbers(c, None) for c in CLIPS]),
                               rtol=1e-6, atol=1e-7)
    folder = tmp_path / "videos"
    folder.mkdir()
    for i, clip in enumerate(CLIPS):
        toys.write_video(folder / f"clip{i}.mp4", clip, fps=4 * (i + 1))
    from_files = berg.encode(model, folder, show_progress=False)
    assert list(from_files.stimulus.values) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    want = toys.reference("video", weights, [toys.clip_numbers(c, 4.0 * (i + 1)) for i, c in enumerate(CLIPS)])
    np.testing.assert_allclose(from_files.values, want, rtol=1e-6, atol=1e-7)  # lossless files: the frame rate counts


def test_images_still_go_to_image_models(setup: tuple[BERG, Path]) -> None:
    berg, root = setup
    images = np.random.default_rng(3).integers(0, 256, size=(3, 3, 4, 4), dtype=np.uint8)
    out = berg.encode(_model(setup, "images"), images, show_progress=False)
    numbers = [im.astype(np.float64).mean(axis=(1, 2)) / 255 for im in images]
    np.testing.assert_allclose(out.values, toys.reference("images", toys.store_weights(root, "images"), numbers), rtol=1e-6)


def test_a_list_of_str_is_text_to_a_sentences_model_and_paths_to_an_image_model(setup: tuple[BERG, Path]) -> None:
    berg, _ = setup
    assert berg.encode(_model(setup, "sentences"), ["cat.png", "dog.png"], show_progress=False).sizes["stimulus"] == 2
    with pytest.raises(StimulusError, match="stimulus path 'cat.png' does not exist; expected an image file"):
        berg.encode(_model(setup, "images"), ["cat.png", "dog.png"], show_progress=False)


def test_stimuli_of_another_kind_are_refused_with_the_models_kind(setup: tuple[BERG, Path]) -> None:
    berg, _ = setup
    with pytest.raises(StimulusError, match="unsupported stimulus for a sentences model: got ndarray of shape"):
        berg.encode(_model(setup, "sentences"), CLIPS, show_progress=False)
    with pytest.raises(StimulusError, match=r"video array must have 5 dimensions .* got shape \(3, 3, 4, 4\)"):
        berg.encode(_model(setup, "video"), np.zeros((3, 3, 4, 4), np.uint8), show_progress=False)
    from berg_core.stimuli.sentences import as_sentences

    with pytest.raises(StimulusError, match="these models take timed_words stimuli, but sentences stimuli were given"):
        berg.encode(_model(setup, "timed_words"), as_sentences(SENTENCES), show_progress=False)


def test_one_call_over_models_of_different_kinds_is_refused(setup: tuple[BERG, Path]) -> None:
    berg, _ = setup
    models = [_model(setup, "sentences"), _model(setup, "video")]
    with pytest.raises(InvalidParameterError, match=(
        r"one encode call takes one kind of stimuli, but these models take different kinds "
        r"\(sentences: toy-kinds-sentences; video: toy-kinds-video\); encode each kind in its own call"
    )):
        berg.encode(models, SENTENCES, show_progress=False)


class _Bar:
    """Records what the encode loop tells its progress bar."""

    made: ClassVar[list[_Bar]] = []

    def __init__(self, total: int, initial: int, unit: str, **_: Any) -> None:
        self.total, self.n, self.unit = total, initial, unit
        _Bar.made.append(self)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        self.n += n


@pytest.mark.parametrize(("kind", "stimulus", "unit", "total"), [
    ("timed_words", STORIES, "word", 9),
    ("sentences", SENTENCES, "sentence", 3),
    ("video", CLIPS, "clip", 3),
])
def test_the_progress_bar_counts_the_kinds_unit(setup: tuple[BERG, Path], monkeypatch: pytest.MonkeyPatch, kind: str,
                                                stimulus: Any, unit: str, total: int) -> None:
    import berg_core.engine.encoding as encoding

    monkeypatch.setattr(encoding, "tqdm", _Bar)
    _Bar.made.clear()
    setup[0].encode(_model(setup, kind), stimulus, show_progress=True, batch_size=2)
    bar = _Bar.made[-1]
    assert (bar.unit, bar.total, bar.n) == (unit, total, total)


def test_a_sentence_result_streams_to_zarr_and_a_rerun_of_other_sentences_is_refused(setup: tuple[BERG, Path], tmp_path: Path) -> None:
    from berg_core.results.zarr_sink import CompleteResultError

    berg, _ = setup
    model = _model(setup, "sentences")
    url = str(tmp_path / "run.zarr")
    written = berg.encode(model, SENTENCES, store=url, show_progress=False)
    memory = berg.encode(model, SENTENCES, show_progress=False)
    reopened = xr.open_zarr(url)
    name = next(iter(reopened.data_vars))
    np.testing.assert_array_equal(reopened[name].values, memory.values)
    np.testing.assert_array_equal(np.asarray(written.values), memory.values)
    with pytest.raises(CompleteResultError):
        berg.encode(model, SENTENCES, store=url, show_progress=False)
    from berg_core.errors import StoreError

    with pytest.raises(StoreError, match=r"stimuli 0-1 \(first id 0\) were other sentences than the ones given now \(same ids, other texts\)"):
        berg.encode(model, [s.upper() for s in SENTENCES], store=url, show_progress=False)


@pytest.mark.parametrize("kind", ["sentences", "timed_words", "video"])
def test_the_conformance_kit_feeds_each_model_stimuli_of_its_kind(kind: str, tmp_path: Path) -> None:
    from berg_core.testing import check_plugin

    report = check_plugin(toys.KindPlugin(kind), store_root=tmp_path / "store", n_images=3)
    assert report.ok, report.describe()
    assert {r.check for r in report.results} >= {"batch_size", "determinism", "export_plot", "copy_pickle"}


@pytest.mark.parametrize("kind", ["images", "video", "sentences", "timed_words"])
def test_random_stimuli_of_every_kind_are_seeded(kind: str) -> None:
    from berg_core.stimuli.synthetic import random_stimuli

    a, b = random_stimuli(kind, 3, seed=1), random_stimuli(kind, 3, seed=1)
    from berg_core.results.identity import stimulus_fingerprint

    assert a.kind == kind and a.ids == [0, 1, 2]
    assert stimulus_fingerprint(a) == stimulus_fingerprint(b) != stimulus_fingerprint(random_stimuli(kind, 3, seed=2))


def test_distributed_encoding_of_sentences_and_video_files_equals_the_local_run(setup: tuple[BERG, Path], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    berg, _ = setup
    folder = tmp_path / "videos"
    folder.mkdir()
    for i, clip in enumerate(np.concatenate([CLIPS, CLIPS[::-1]])):
        toys.write_video(folder / f"clip{i}.mp4", clip, fps=6)
    runs = {"sentences": SENTENCES * 2, "video": folder}
    # threads in this process: the models' factories rebuild them from this BERG's plugins; batches travel pickled
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        for kind, stimulus in runs.items():
            model = _model(setup, kind)
            local = berg.encode(model, stimulus, batch_size=2, show_progress=False)
            out = berg.encode(model, stimulus, batch_size=2, show_progress=False, store=tmp_path / f"{kind}.zarr", client=client)
            np.testing.assert_array_equal(np.asarray(out.values), local.values)
            assert list(out.stimulus.values) == list(local.stimulus.values)
