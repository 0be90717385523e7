"""``berg encode`` reads its stimulus arguments by the models' kind: videos from a folder, sentences from a
.txt file, timed words from .tsv files; one run takes one kind."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from berg_core.cli.main import main


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
SENTENCES = ["The cat sat on the mat.", "It was warm.", "Then it left."]
CLIPS = np.random.default_rng(4).integers(0, 256, size=(2, 3, 3, 4, 6), dtype=np.uint8)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import berg_core.registry.manager as manager

    pm = toys.plugin_manager()
    monkeypatch.setattr(manager, "_PM", pm)  # the command line's process-wide plugins: the toys
    return toys.write_store(tmp_path / "store", pm)  # type: ignore[no-any-return]


def _encode(store: Path, kind: str, *stimuli: str | Path, out: Path) -> int:
    argv = ["encode", toys.IDS[kind], *map(str, stimuli), "-o", str(out), "--subject", "1", "--berg-dir", str(store),
            "--device", "cpu", "--no-progress"]
    return main(argv)


def test_sentences_from_a_text_file(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "sentences.txt"
    f.write_text("\n".join(SENTENCES) + "\n\n")
    assert _encode(store, "sentences", f, out=tmp_path / "s.zarr") == 0
    out = capsys.readouterr().out
    assert "encoded 3 stimuli with 1 model(s)" in out and "sentences/s" in out
    result = xr.open_zarr(tmp_path / "s.zarr")
    want = toys.reference("sentences", toys.store_weights(store, "sentences"), [toys.sentence_numbers(s) for s in SENTENCES])
    np.testing.assert_allclose(result[next(iter(result.data_vars))].values, want, rtol=1e-6, atol=1e-7)


def test_a_sentences_model_wants_one_text_file(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _encode(store, "sentences", "The cat sat.", out=tmp_path / "x.zarr") == 2
    assert "a sentences model reads one .txt file, one sentence per line; got 'The cat sat.'" in capsys.readouterr().err
    assert _encode(store, "sentences", tmp_path / "missing notes.txt", out=tmp_path / "x.zarr") == 2
    assert "sentence file '" in capsys.readouterr().err  # a path, even with a space in its name
    assert not (tmp_path / "x.zarr").exists()


def test_timed_words_from_tsv_files(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stories = {"tale": (["once", "upon", "a", "time"], [0.0, 0.5, 0.7, 1.4]), "end": (["the", "end"], [0.0, 3.0])}
    for name, (words, onsets) in stories.items():
        (tmp_path / f"{name}.tsv").write_text("word\tonset\n" + "".join(f"{w}\t{o}\n" for w, o in zip(words, onsets, strict=True)))
    assert _encode(store, "timed_words", tmp_path / "tale.tsv", tmp_path / "end.tsv", out=tmp_path / "w.zarr") == 0
    assert "words/s" in capsys.readouterr().out
    result = xr.open_zarr(tmp_path / "w.zarr")
    assert list(result.stimulus.values) == ["tale", "end"]
    want = toys.reference("timed_words", toys.store_weights(store, "timed_words"),
                          [toys.story_numbers(w, np.array(o)) for w, o in stories.values()])
    np.testing.assert_allclose(result[next(iter(result.data_vars))].values, want, rtol=1e-6, atol=1e-7)
    (tmp_path / "bad.tsv").write_text("word\tstart\nx\t0\n")
    assert _encode(store, "timed_words", tmp_path / "bad.tsv", out=tmp_path / "b.zarr") == 2
    assert "has no column 'onset'" in capsys.readouterr().err


def test_videos_from_a_folder(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    for i, clip in enumerate(CLIPS):
        toys.write_video(folder / f"v{i}.mp4", clip, fps=5)
    assert _encode(store, "video", folder, out=tmp_path / "v.zarr") == 0
    assert "clips/s" in capsys.readouterr().out
    result = xr.open_zarr(tmp_path / "v.zarr")
    assert list(result.stimulus.values) == ["v0.mp4", "v1.mp4"]
    want = toys.reference("video", toys.store_weights(store, "video"), [toys.clip_numbers(c, 5.0) for c in CLIPS])
    np.testing.assert_allclose(result[next(iter(result.data_vars))].values, want, rtol=1e-6, atol=1e-7)


def test_one_run_takes_one_kind(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.txt"
    f.write_text("a\n")
    argv = ["encode", f"{toys.IDS['sentences']},{toys.IDS['video']}", str(f), "-o", str(tmp_path / "m.zarr"),
            "--subject", "1", "--berg-dir", str(store), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "one berg encode run reads one kind of stimuli" in err and "sentences: toy-kinds-sentences; video: toy-kinds-video" in err
    assert _encode(store, "sentences", f, "--recursive", out=tmp_path / "r.zarr") == 2
