"""Stimulus kinds: each kind's collection accepts its forms, refuses the rest with what was expected, and batches.

Videos are real files written by PyAV here (lossless RGB H.264, so decoded pixels equal the
written ones exactly) and a lossy MPEG-4 .mp4 (values within codec error).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from berg_core.errors import CardError, StimulusError
from berg_core.results.identity import stimulus_fingerprint
from berg_core.stimuli.kinds import PROGRESS_UNITS, STIMULUS_KINDS, as_kind_stimuli, progress_unit
from berg_core.stimuli.sentences import SentenceStimuli, as_sentences
from berg_core.stimuli.timed_words import TimedWords, TimedWordStimuli, as_timed_words, timed_words
from berg_core.stimuli.video import VideoStimuli, as_video, read_video


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


card, write_video = _toys().card, _toys().write_video

RNG = np.random.default_rng(0)
CLIPS = RNG.integers(0, 256, size=(3, 5, 3, 8, 10), dtype=np.uint8)


# ---- the card's kind ---------------------------------------------------------------------------
def test_a_card_declares_one_of_the_kinds_and_audio_is_reserved() -> None:
    assert STIMULUS_KINDS == ("images", "video", "sentences", "timed_words")
    for kind in STIMULUS_KINDS:
        assert card(kind).stimuli == kind
    from berg_core.cards.model_card import card_from_dict

    data = card("video").model_dump()
    with pytest.raises(CardError, match="stimuli 'audio' is reserved: core does not read audio yet"):
        card_from_dict({**data, "stimuli": "audio"})
    with pytest.raises(CardError, match="field 'stimuli'.*'images', 'video', 'sentences' or 'timed_words'"):
        card_from_dict({**data, "stimuli": "text"})


def test_the_card_schema_lists_the_kinds() -> None:
    from berg_core.cards.model_card import card_json_schema

    assert card_json_schema()["properties"]["stimuli"]["enum"] == list(STIMULUS_KINDS)


def test_progress_units_per_kind() -> None:
    assert PROGRESS_UNITS == {"images": "img", "video": "clip", "sentences": "sentence", "timed_words": "word"}
    assert [progress_unit(k) for k in STIMULUS_KINDS] == ["img", "clip", "sentence", "word"]


# ---- sentences ---------------------------------------------------------------------------------
def test_sentences_from_a_str_a_list_and_a_text_file(tmp_path: Path) -> None:
    one = as_sentences(" The cat sat. ")
    assert one.ids == [0] and one.texts() == [" The cat sat. "]  # kept exactly as given
    many = as_sentences(("a", "b c", "d"), stimulus_ids=["x", "y", "z"])
    assert many.ids == ["x", "y", "z"] and many[1:].texts() == ["b c", "d"] and many[1:].ids == ["y", "z"]
    assert [b.texts() for b in many.batches(2)] == [["a", "b c"], ["d"]]
    assert as_sentences(np.array(["a", "b"])).texts() == ["a", "b"] and type(as_sentences(np.array(["a"])).texts()[0]) is str
    f = tmp_path / "s.txt"
    f.write_text("\ufeffFirst sentence.\n\n  Second one.  \r\nthird\n", encoding="utf-8")
    for given in (f, str(f)):
        s = as_sentences(given)
        assert s.texts() == ["First sentence.", "Second one.", "third"] and s.ids == [0, 1, 2]
    assert s.n_units() == 3 and s.unit == "sentence" and s.kind == "sentences"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "the list of sentences is empty; expected a sentence"),
        (["ok", ""], r"sentence 1 is empty \(''\); expected some text"),
        (["ok", "  \n"], "sentence 1 is empty"),
        (["ok", 3], "sentence 1 is int 3; expected a str"),
        (["ok", Path("a.txt")], r"sentence 1 is .*; expected a str \(a .txt file is given alone, not in a list\)"),
        (42, "unsupported stimulus for a sentences model: got int 42; expected a sentence"),
        (np.zeros((2, 3)), "unsupported stimulus for a sentences model: got ndarray of shape"),
        ("missing.txt", "sentence file 'missing.txt' does not exist; expected a .txt file"),
        (Path("notes.csv"), "'notes.csv' is not a .txt file"),
    ],
)
def test_sentences_refused_say_what_was_expected(given: object, message: str) -> None:
    with pytest.raises(StimulusError, match=message):
        as_sentences(given)


def test_a_sentence_ending_in_txt_with_spaces_is_text_and_bad_files_are_refused(tmp_path: Path) -> None:
    assert as_sentences("I kept it in notes.txt").texts() == ["I kept it in notes.txt"]
    empty = tmp_path / "e.txt"
    empty.write_text("\n  \n")
    with pytest.raises(StimulusError, match="holds no sentences"):
        as_sentences(empty)
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(StimulusError, match=r"is not UTF-8 text \(byte 3 is 0xe9\); save it as UTF-8"):
        as_sentences(latin)
    with pytest.raises(StimulusError, match="stimulus_ids has 1 ids for 2 stimuli"):
        as_sentences(["a", "b"], stimulus_ids=["x"])


# ---- timed words -------------------------------------------------------------------------------
WORDS = ["Once", "upon", "NA", "null", "time"]
ONSETS = [0.0, 0.31, 0.31, 0.9, 1.5]


def test_timed_words_from_a_frame_a_dict_a_tsv_a_folder_and_a_list(tmp_path: Path) -> None:
    frame = pd.DataFrame({"word": WORDS, "onset": ONSETS, "speaker": "A"})  # other columns are ignored
    story = as_timed_words(frame).stories()[0]
    assert story.words == tuple(WORDS) and story.onsets.dtype == np.float64 and story.offsets is None
    np.testing.assert_array_equal(story.onsets, ONSETS)
    assert not story.onsets.flags.writeable
    same = as_timed_words({"word": WORDS, "onset": np.array(ONSETS)}).stories()[0]
    assert same == story
    tsv = tmp_path / "tale.tsv"
    tsv.write_text("word\tonset\toffset\n" + "".join(f"{w}\t{o}\t{o + 0.2}\n" for w, o in zip(WORDS, ONSETS, strict=True)))
    from_file = as_timed_words(tsv)
    assert from_file.ids == ["tale"]
    read = from_file.stories()[0]
    assert read.words == tuple(WORDS)  # "NA" and "null" stay words
    np.testing.assert_allclose(read.offsets, np.array(ONSETS) + 0.2)
    (tmp_path / "other.tsv").write_text("onset\tword\n2.5\tend\n")
    folder = as_timed_words(tmp_path)
    assert folder.ids == ["other", "tale"] and folder.stories()[0].words == ("end",)
    several = as_timed_words([frame, str(tsv), {"word": ["x"], "onset": [3]}])
    assert several.ids == [0, 1, 2] and len(several) == 3
    assert several.n_units() == 11 and several[1:].n_units() == 6 and several.unit == "word"
    assert [b.ids for b in several.batches(2)] == [[0, 1], [2]]
    named = as_timed_words([frame, frame], stimulus_ids=["s1", "s2"])
    assert named.ids == ["s1", "s2"]


def test_blank_words_are_kept_with_their_onsets() -> None:
    # transcripts mark pauses with blank entries; upstream's LeBel model counts their onsets
    story = as_timed_words({"word": ["so", "", " ", "then"], "onset": [0.0, 0.4, 0.8, 1.2]}).stories()[0]
    assert story.words == ("so", "", " ", "then") and story.onsets.tolist() == [0.0, 0.4, 0.8, 1.2]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"word": [], "onset": []}, "the story holds no words"),
        ({"word": ["a", float("nan")], "onset": [0, 1]}, r"word 1 is missing \(NaN\); expected a string"),
        ({"word": ["a", 3], "onset": [0, 1]}, "word 1 is int 3; expected a string"),
        ({"word": ["a", "b"], "onset": [0, float("nan")]}, "onset of word 1 is nan; expected a finite time in seconds"),
        ({"word": ["a", "b"], "onset": [0, float("inf")]}, "onset of word 1 is inf"),
        ({"word": ["a", "b"], "onset": [1.0, 0.5]}, r"onsets must not decrease, but word 1 \('b'\) starts at 0.5 s, before word 0"),
        ({"word": ["a", "b"], "onset": [0, 1], "offset": [0.5, 0.9]}, r"word 1 \('b'\) ends at 0.9 s, before its onset 1 s"),
        ({"word": ["a", "b"], "onset": [0]}, "has 2 words and 1 onsets; expected one onset per word"),
        ({"word": ["a"], "onset": ["soon"]}, "column 'onset' must hold numbers"),
        ({"word": ["a"], "start": [0]}, r"has no column 'onset'; its columns are \['word', 'start'\]"),
        ({"word": "a b", "onset": [0, 1]}, "'word' must be a list"),
        (pd.DataFrame({"token": ["a"], "onset": [0.0]}), r"has no column 'word'; its columns are \['token', 'onset'\]"),
        ([], "the list of stories is empty"),
        ([{"word": ["a"], "onset": [0]}, 7], "story 1 is int 7"),
        (["the", "cat"], r"'the' is not a .tsv file \(words need onsets: give a table, not a list of words\)"),
        (np.zeros(3), "unsupported stimulus for a timed-words model"),
    ],
)
def test_timed_words_refused_say_what_was_expected(given: object, message: str) -> None:
    with pytest.raises(StimulusError, match=message):
        as_timed_words(given)


def test_bad_tsv_files_are_refused_naming_the_row(tmp_path: Path) -> None:
    cases = {
        "cols.tsv": ("word\tstart\na\t0\n", r"has no column 'onset'; its columns are \['word', 'start'\]"),
        "comma.tsv": ("word,onset\na,0\n", "has no tab in its header"),
        "short.tsv": ("word\tonset\na\t0\nb\n", r"row 2 has 1 fields, the header 2"),
        "text.tsv": ("word\tonset\na\t0\nb\tlater\n", r"onset of row 2 is 'later'; expected a number of seconds"),
        "empty.tsv": ("", "is empty; expected a header row"),
        "back.tsv": ("word\tonset\na\t1\nb\t0.5\n", "onsets must not decrease"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(StimulusError, match=message):
            as_timed_words(tmp_path / name)
    with pytest.raises(StimulusError, match="word file '.*nope.tsv' does not exist"):
        as_timed_words(str(tmp_path / "nope.tsv"))
    (tmp_path / "sub").mkdir()
    with pytest.raises(StimulusError, match="holds no .tsv files"):
        as_timed_words(tmp_path / "sub")


def test_timed_words_builder_is_the_one_check() -> None:
    story = timed_words(["a", "b"], [0, 1], [0.5, 1.5])
    assert isinstance(story, TimedWords) and len(story) == 2
    with pytest.raises(StimulusError, match="onsets must not decrease"):
        timed_words(["a", "b"], [1, 0])


# ---- video -------------------------------------------------------------------------------------
def test_video_from_arrays_tensors_and_lists() -> None:
    v = as_video(CLIPS)
    assert v.ids == [0, 1, 2] and v.kind == "video" and v.unit == "clip" and v.frame_rates() == [None] * 3
    clips = v[1:].clips()
    assert len(clips) == 2 and clips[0].dtype == torch.uint8 and tuple(clips[0].shape) == (5, 3, 8, 10)
    np.testing.assert_array_equal(clips[1].numpy(), CLIPS[2])
    assert torch.equal(v.stacked(), torch.from_numpy(CLIPS))
    t = as_video(torch.from_numpy(CLIPS), fps=25)
    assert t.frame_rates() == [25.0] * 3 and torch.equal(t.decoded().stacked(), torch.from_numpy(CLIPS))
    ragged = as_video([CLIPS[0], CLIPS[1, :2, :, :, :4]], stimulus_ids=["a", "b"], fps=[10, 12.5])
    assert ragged.ids == ["a", "b"] and ragged.stacked() is None and ragged.frame_rates() == [10.0, 12.5]
    assert [tuple(c.shape) for c in ragged.clips()] == [(5, 3, 8, 10), (2, 3, 8, 4)]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (CLIPS[0], r"must have 5 dimensions \(N, T, 3, H, W\), got shape \(5, 3, 8, 10\) \(one clip\? use x\[None\]\)"),
        (CLIPS.transpose(0, 1, 3, 4, 2), r"3 colour channels before H and W .* \(channels-last\?"),
        (CLIPS.astype(np.float32) / 255, r"has dtype float32; video frames must be uint8 RGB \(floats in \[0, 1\]"),
        (CLIPS[:0], "has an empty axis"),
        (torch.zeros((1, 2, 3, 4, 4)), "has dtype torch.float32; video frames must be uint8 RGB"),
        ([CLIPS[0], "x.mp4"], "clip 1 of the list is str 'x.mp4'; expected a uint8 array"),
        ([CLIPS[0], CLIPS[1, :, :2]], r"clip 1 of the list must have 3 colour channels"),
        ([], "the list of clips is empty"),
        (3.5, "unsupported stimulus for a video model: got float 3.5"),
        ("no/such/video.mp4", "stimulus path 'no/such/video.mp4' does not exist; expected a video file or a folder of videos"),
    ],
)
def test_video_refused_says_what_was_expected(given: object, message: str) -> None:
    with pytest.raises(StimulusError, match=message):
        as_video(given)


def test_video_fps_is_checked() -> None:
    with pytest.raises(StimulusError, match="fps has 2 values for 3 clips"):
        as_video(CLIPS, fps=[1, 2])
    with pytest.raises(StimulusError, match="fps must be positive numbers"):
        as_video(CLIPS, fps=0)


def test_video_files_decode_to_the_written_frames(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(folder / "b.mp4", CLIPS[1], fps=10)
    write_video(folder / "a.mp4", CLIPS[0, :3], fps=25)
    (folder / "notes.txt").write_text("not a video")
    v = as_video(folder)
    assert v.ids == ["a.mp4", "b.mp4"] and v.frame_rates() == [25.0, 10.0]
    clips = v.clips()
    np.testing.assert_array_equal(clips[0].numpy(), CLIPS[0, :3])  # lossless RGB: exact pixels
    np.testing.assert_array_equal(clips[1].numpy(), CLIPS[1])
    assert v.stacked() is None  # 3 and 5 frames
    frames, fps = read_video(folder / "b.mp4")
    assert frames.dtype == np.uint8 and frames.shape == (5, 3, 8, 10) and fps == 10.0
    listed = as_video([folder / "b.mp4"], stimulus_ids=["clip-b"])
    assert listed.ids == ["clip-b"]
    assert len(as_video(str(folder / "*.mp4"))) == 2
    with pytest.raises(StimulusError, match="stimulus_ids cannot name the clips of a folder"):
        as_video(folder, stimulus_ids=["x", "y"])
    with pytest.raises(StimulusError, match="fps= is for clips given as arrays"):
        as_video(folder, fps=30)


def test_a_lossy_mp4_decodes_close_to_its_frames(tmp_path: Path) -> None:
    smooth = np.broadcast_to(np.linspace(40, 200, 16, dtype=np.uint8)[None, None, None, :], (4, 3, 16, 16)).copy()
    path = write_video(tmp_path / "smooth.mp4", smooth, fps=8, lossless=False)
    clip = as_video(path).clips()[0].numpy().astype(int)
    assert clip.shape == smooth.shape and np.abs(clip - smooth).mean() < 6


def test_unreadable_and_wrong_video_files_are_refused_before_encoding(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video at all" * 20)
    with pytest.raises(StimulusError, match=r"'.*broken.mp4' is not a readable video file"):
        as_video(bad)
    text = tmp_path / "clip.txt"
    text.write_text("x")
    with pytest.raises(StimulusError, match=r"is not a video file; expected a file ending in .mp4"):
        as_video(text)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StimulusError, match="holds no video files"):
        as_video(empty)
    nested = tmp_path / "nested"
    (nested / "sub").mkdir(parents=True)
    write_video(nested / "sub" / "c.mp4", CLIPS[0])
    with pytest.raises(StimulusError, match="has subfolders holding videos"):
        as_video(nested)
    assert as_video(nested, recursive=True).ids == ["sub/c.mp4"]


def test_a_missing_pyav_is_a_clear_error_naming_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_video(tmp_path / "c.mp4", CLIPS[0])
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(StimulusError, match=r"reading video files needs PyAV, which is not installed: pip install av"):
        as_video(path)
    assert len(as_video(CLIPS)) == 3  # arrays need no decoder


def test_too_many_frames_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_video(tmp_path / "c.mp4", CLIPS[0])
    monkeypatch.setenv("BERG_MAX_VIDEO_FRAMES", "3")
    with pytest.raises(StimulusError, match="has more than 3 frames; raise BERG_MAX_VIDEO_FRAMES"):
        as_video(path).clips()


def test_on_disk_video_arrays_are_read_one_batch_at_a_time(tmp_path: Path) -> None:
    import zarr

    arr = zarr.create_array(str(tmp_path / "v.zarr"), shape=CLIPS.shape, chunks=(1, 5, 3, 8, 10), dtype="uint8")
    arr[:] = CLIPS
    v = as_video(zarr.open_array(str(tmp_path / "v.zarr"), mode="r"))
    assert v.ids == [0, 1, 2]
    np.testing.assert_array_equal(v[2:].clips()[0].numpy(), CLIPS[2])
    bad = zarr.create_array(str(tmp_path / "f.zarr"), shape=(2, 1, 3, 2, 2), dtype="float32")
    with pytest.raises(StimulusError, match="the on-disk video array has dtype float32"):
        as_video(bad)



def test_a_video_clip_whose_chunk_is_missing_is_refused_not_read_black(tmp_path: Path) -> None:
    import zarr

    arr = zarr.create_array(str(tmp_path / "v.zarr"), shape=CLIPS.shape, chunks=(1, 5, 3, 8, 10), dtype="uint8")
    arr[:] = CLIPS
    chunk = next(p for p in (tmp_path / "v.zarr" / "c" / "1").rglob("*") if p.is_file())
    chunk.unlink()
    v = as_video(zarr.open_array(str(tmp_path / "v.zarr"), mode="r"))
    np.testing.assert_array_equal(v[:1].clips()[0].numpy(), CLIPS[0])
    with pytest.raises(StimulusError, match=r"chunk\(s\) are missing from the Zarr store \(c/1/"):
        v[1:2].clips()


# ---- dispatch, fingerprints, pickling ----------------------------------------------------------
def test_dispatch_reads_a_list_of_str_by_the_kind(tmp_path: Path) -> None:
    assert as_kind_stimuli("sentences", ["a.png", "b c"]).texts() == ["a.png", "b c"]
    with pytest.raises(StimulusError, match="stimulus path 'a.png' does not exist; expected an image file"):
        as_kind_stimuli("images", ["a.png", "b c"])
    with pytest.raises(StimulusError, match="these models take sentences stimuli, but video stimuli were given"):
        as_kind_stimuli("sentences", as_video(CLIPS))
    with pytest.raises(StimulusError, match="recursive=True reads subfolders of image or video folders; timed_words"):
        as_kind_stimuli("timed_words", {"word": ["a"], "onset": [0]}, recursive=True)
    ready = as_video(CLIPS, fps=30)
    assert as_kind_stimuli("video", ready) is ready  # a collection the user built passes through
    assert as_kind_stimuli("images", np.zeros((1, 3, 2, 2), np.uint8)).kind == "images"


def test_fingerprints_follow_content_of_every_kind() -> None:
    a = as_sentences(["ab", "c"])
    assert stimulus_fingerprint(a) == stimulus_fingerprint(as_sentences(["ab", "c"], stimulus_ids=["x", "y"]))
    assert stimulus_fingerprint(a) != stimulus_fingerprint(as_sentences(["a", "bc"]))
    s1 = as_timed_words({"word": ["a", "b"], "onset": [0, 1]})
    assert stimulus_fingerprint(s1) != stimulus_fingerprint(as_timed_words({"word": ["a", "b"], "onset": [0, 1.5]}))
    assert stimulus_fingerprint(s1) != stimulus_fingerprint(as_timed_words({"word": ["a", "b"], "onset": [0, 1], "offset": [1, 2]}))
    v = as_video(CLIPS)
    assert stimulus_fingerprint(v) == stimulus_fingerprint(as_video(CLIPS.copy()))
    assert stimulus_fingerprint(v) != stimulus_fingerprint(as_video(CLIPS, fps=30))
    other = CLIPS.copy()
    other[2, 4, 0, 0, 0] ^= 1
    assert stimulus_fingerprint(v) != stimulus_fingerprint(as_video(other))


@pytest.mark.parametrize("make", [
    lambda tmp: as_sentences(["a", "b", "c"]),
    lambda tmp: as_timed_words([{"word": ["a"], "onset": [0]}] * 3),
    lambda tmp: as_video(CLIPS),
    lambda tmp: as_video([write_video(tmp / f"{i}.mp4", CLIPS[i]) for i in range(3)]),
])
def test_collections_pickle_without_their_decoded_cache_and_slice(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    st = make(tmp_path)
    assert isinstance(st, (SentenceStimuli, TimedWordStimuli, VideoStimuli))
    batch = st[1:3].decoded()
    assert batch._decoded is not None and len(batch) == 2
    back = pickle.loads(pickle.dumps(batch))
    assert back._decoded is None and back.ids == batch.ids
    assert stimulus_fingerprint(back) == stimulus_fingerprint(batch)
    with pytest.raises(TypeError, match="indexed by slices"):
        st[0]
