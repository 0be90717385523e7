"""fmri-lebel2023-opt_1_3b equals an independent float64 reference (BPE after BOS, skipped words, dynamic
context, OPT hidden state 18 at each word's last token, Lanczos, z-score, delays 1-4, ridge) on a tiny random
OPT of the real depth and weights in the real formats; ragged TR rows, labels, selection, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from berg_fmri_lebel.layout import MODEL_ID, metadata_relpath, weights_relpath

from berg_core import BERG
from berg_core.errors import IntegrityError, InvalidParameterError, StimulusError, StoreError

from .conftest import N_VOXELS, WIDTH, write_store
from .lebel_reference import reference, word_vectors

STORY = ("So I was walking home after the rain 's and thinking about every little thing that happened in "
         "the old house by the river when we were young").split()
ONSETS = np.round(0.35 + np.cumsum(np.linspace(0.2, 0.6, len(STORY))), 3)
SHORT = ["Hello", "world"]
#: one token each after a space: long stories stay short in tokens
ONE_TOKEN = ["the", "a", "in", "s", "w", "o", "b", "c", "f", "m", "p", "d", "h"]


def _weights(store: Path, subject: str = "UTS01") -> np.ndarray:
    from berg_core.plugin import Store, read_metadata

    return np.asarray(read_metadata(Store(str(store)), weights_relpath(subject))["ridge_weights"])


def _model(store: Path, folder: Path, subject: Any = "UTS01", **kwargs: Any) -> Any:
    return BERG(store).get_encoding_model(MODEL_ID, subject=subject, device="cpu", backbone_weights=str(folder), **kwargs)


def _stories() -> list[dict[str, Any]]:
    return [{"word": STORY, "onset": ONSETS}, {"word": SHORT, "onset": [10.0, 10.7]}]


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("batch_size", [1, 2])
def test_responses_equal_the_float64_reference(store: Path, opt_folder: Path, batch_size: int) -> None:
    got = BERG(store).encode(_model(store, opt_folder), _stories(), batch_size=batch_size, show_progress=False)
    assert got.dims == ("tr", "voxel") and got.dtype == np.float32
    ridge = _weights(store)
    assert ridge.shape == (4 * WIDTH, N_VOXELS) and ridge.dtype == np.float32
    want1, t1 = reference(opt_folder, STORY, ONSETS, ridge)
    want2, t2 = reference(opt_folder, SHORT, [10.0, 10.7], ridge)
    assert got.shape == (len(t1) + len(t2), N_VOXELS)
    _close(got.values, np.concatenate([want1, want2]))
    # the TR grid: from the first onset to 4 TRs past the last, every 2 s
    assert len(t1) == int(np.ceil((ONSETS[-1] + 8.0 - ONSETS[0]) / 2.0)) and len(t2) == 5
    np.testing.assert_array_equal(got["time"].values, np.concatenate([t1, t2]))
    assert got["stimulus"].values.tolist() == [0] * len(t1) + [1] * len(t2)
    assert got["tr_index"].values.tolist() == [*range(len(t1)), *range(len(t2))]
    assert got["subject"].item() == "UTS01" and got.attrs["tr_s"] == 2.0
    # delays start at one TR: the first TR of each story has no features and gives exactly 0
    assert not got.values[0].any() and not got.values[len(t1)].any()


def test_blank_words_get_no_tokens_but_keep_their_onsets(store: Path, opt_folder: Path) -> None:
    # upstream skips blank words for tokens (they copy the previous vector) but resamples every onset
    words = ["So", "", "I", " ", "walked", "home"]
    onsets = [0.5, 0.9, 1.3, 1.8, 2.2, 2.9]
    got = BERG(store).encode(_model(store, opt_folder), {"word": words, "onset": onsets}, show_progress=False)
    want, times = reference(opt_folder, words, onsets, _weights(store))
    _close(got.values, want)
    np.testing.assert_array_equal(got["time"].values, times)
    dropped, _ = reference(opt_folder, ["So", "I", "walked", "home"], [0.5, 1.3, 2.2, 2.9], _weights(store))
    assert not np.allclose(want, dropped)  # the blanks' onsets change the numbers: dropping them would be wrong


def test_each_story_is_its_own_context_and_z_scoring(store: Path, opt_folder: Path) -> None:
    model = _model(store, opt_folder)
    both = BERG(store).encode(model, _stories(), show_progress=False)
    alone = BERG(store).encode(model, {"word": SHORT, "onset": [10.0, 10.7]}, show_progress=False)
    np.testing.assert_array_equal(both.values[-5:], alone.values)


def test_a_dataframe_and_a_tsv_give_the_same_rows(store: Path, opt_folder: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"word": STORY, "onset": ONSETS})
    frame.to_csv(tmp_path / "story.tsv", sep="\t", index=False)
    model = _model(store, opt_folder)
    a = BERG(store).encode(model, frame, show_progress=False)
    b = BERG(store).encode(model, tmp_path / "story.tsv", show_progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    assert set(b["stimulus"].values.tolist()) == {"story"}


def test_berg_2_0s_story_dict_gives_the_same_rows(store: Path, opt_folder: Path) -> None:
    model = _model(store, opt_folder)
    ours = BERG(store).encode(model, {"word": SHORT, "onset": [1.0, 1.5]}, show_progress=False)
    theirs = BERG(store).encode(model, {"words": SHORT, "word_onsets": [1.0, 1.5]}, show_progress=False)
    np.testing.assert_array_equal(theirs.values, ours.values)


def test_context_resets_with_small_context_sizes(store: Path, opt_folder: Path) -> None:
    model = _model(store, opt_folder)
    words = STORY[:20]
    got = model.word_vectors(words, min_words=3, max_words=6)
    assert got.dtype == np.float32 and got.shape == (20, WIDTH)
    _close(got, word_vectors(opt_folder, words, min_words=3, max_words=6))
    full = model.word_vectors(words)
    # up to the first reset (5 real words... 6 with "'s" skipped is later) the contexts are the same
    # same contexts, other sequence lengths: float32 rounding of the longer matmuls, relative to the largest value
    np.testing.assert_allclose(got[:6], full[:6], rtol=1e-5, atol=1e-5 * np.abs(full[:6]).max())
    assert not np.allclose(got[-1], full[-1], atol=1e-3)  # later words lost their early context
    with pytest.raises(InvalidParameterError, match="min_words < max_words"):
        model.word_vectors(words, min_words=6, max_words=6)


def test_the_real_context_sizes_cross_a_reset(store: Path, opt_folder: Path) -> None:
    rng = np.random.default_rng(5)
    words = list(rng.choice(ONE_TOKEN, 530))  # 530 real words: one pass at word 512, the next from word 257
    model = _model(store, opt_folder)
    tokens = model.backbone.tokenizer.encode(" " + " ".join(words), add_special_tokens=False)
    assert len(tokens) == 530
    got = model.word_vectors(words)
    want = word_vectors(opt_folder, words)
    _close(got, want)
    # after the reset word 520 sees words 256..520, not the whole story
    assert not np.allclose(got[520], model.word_vectors(words, min_words=400, max_words=1000)[520], atol=1e-3)
    onsets = 0.3 * np.arange(530)
    resp, times = model.story_response(words, onsets)
    ref, ref_times = reference(opt_folder, words, onsets, _weights(store))
    np.testing.assert_array_equal(times, ref_times)
    _close(resp, ref)


def test_skipped_words_copy_the_previous_word(store: Path, opt_folder: Path) -> None:
    model = _model(store, opt_folder)
    words = ["'s", "cat", "'s", " ", "", "sat", "'s"]
    got = model.word_vectors(words)
    assert not got[0].any()  # before the first real word: zeros
    np.testing.assert_array_equal(got[2], got[1])
    np.testing.assert_array_equal(got[3], got[1])
    np.testing.assert_array_equal(got[4], got[1])
    np.testing.assert_array_equal(got[6], got[5])
    _close(got, word_vectors(opt_folder, words))
    assert not model.word_vectors(["'s", " "]).any()  # no real word: zeros
    # a story of "'s" alone is accepted by core and gives zeros through the whole pipeline
    out = BERG(store).encode(model, {"word": ["'s"], "onset": [1.0]}, show_progress=False)
    assert out.sizes["tr"] == 4 and not out.values.any()


def test_labels_come_from_the_metadata(store: Path, opt_folder: Path) -> None:
    from berg_core.plugin import Store, read_metadata

    meta = read_metadata(Store(str(store)), metadata_relpath("UTS01"))
    got = BERG(store).encode(_model(store, opt_folder), {"word": SHORT, "onset": [0, 1]}, show_progress=False)
    assert got["voxel"].values.tolist() == list(range(N_VOXELS))
    for coord in ("noise_ceiling", "correlation", "cc_norm"):
        np.testing.assert_array_equal(got[coord].values, np.asarray(meta["encoding_model"][coord], np.float32))
    for v in (0, 7, N_VOXELS - 1):
        names = [r for r, mask in meta["roi"].items() if mask[v]]
        assert sorted(str(got["roi"].values[v]).split(",")) == sorted(names) or (not names and got["roi"].values[v] == "")
    assert got.attrs["subject_id"] == "UTS01" and "affine" not in got.attrs
    assert BERG(store).get_model_metadata(MODEL_ID, "UTS01")["fmri"]["n_voxels"] == N_VOXELS


def test_selection_is_the_sorted_union_and_a_slice_of_the_full_output(store: Path, opt_folder: Path) -> None:
    from berg_core.plugin import Store, read_metadata

    meta = read_metadata(Store(str(store)), metadata_relpath("UTS01"))
    stim = {"word": STORY, "onset": ONSETS}
    full = BERG(store).encode(_model(store, opt_folder), stim, show_progress=False)
    mask = np.zeros(N_VOXELS, dtype=int)
    mask[[3, 50, 119]] = 1
    cases = [
        ({"roi": "AC"}, np.flatnonzero(meta["roi"]["AC"])),
        ({"roi": ["AC", "A1", "AC"]}, np.flatnonzero(meta["roi"]["AC"] | meta["roi"]["A1"])),
        ({"voxel_index": mask}, np.array([3, 50, 119])),
        ({"voxel_index": [119, 3]}, np.array([3, 119])),
        ({"roi": ["A1"], "voxel_index": mask}, np.union1d(np.flatnonzero(meta["roi"]["A1"]), [3, 50, 119])),
    ]
    for sel, voxels in cases:
        got = BERG(store).encode(_model(store, opt_folder, selection=sel), stim, show_progress=False)
        assert got["voxel"].values.tolist() == voxels.tolist(), sel
        np.testing.assert_array_equal(got.values, full.values[:, voxels])  # bit-identical wherever a voxel falls
        np.testing.assert_array_equal(got["roi"].values, full["roi"].values[voxels])


def test_selection_errors(store: Path, opt_folder: Path) -> None:
    from berg_core.plugin import Store, read_metadata

    meta = read_metadata(Store(str(store)), metadata_relpath("UTS01"))
    absent = next(r for r in _card_rois() if r not in meta["roi"])  # a card ROI this subject has no voxel in
    with pytest.raises(InvalidParameterError, match=f"{absent}.*not in this subject's metadata.*A1"):
        _model(store, opt_folder, selection={"roi": absent})
    with pytest.raises(InvalidParameterError, match="ROI"):
        _model(store, opt_folder, selection={"roi": "Wernicke"})
    with pytest.raises(InvalidParameterError, match="voxel"):
        _model(store, opt_folder, selection={"voxel_index": np.ones(N_VOXELS + 1, dtype=int)})
    with pytest.raises(InvalidParameterError, match="voxel"):
        _model(store, opt_folder, selection={"voxel_index": [N_VOXELS]})
    with pytest.raises(InvalidParameterError):
        _model(store, opt_folder, selection={"voxels": [1]})


def _card_rois() -> list[str]:
    from berg_fmri_lebel.layout import ROIS

    return list(ROIS)


def test_subjects_are_the_cards_names(store: Path, opt_folder: Path) -> None:
    with pytest.raises(InvalidParameterError, match="UTS01"):
        _model(store, opt_folder, subject="UTS09")
    # UTS05 is a valid subject the store lacks: the message names the file looked for and the two subject lists
    with pytest.raises(StoreError, match=r"weights_UTS05\.npy.*UTS01-UTS03"):
        _model(store, opt_folder, subject="UTS05")
    assert _model(store, opt_folder, subject="UTS03").subject == "UTS03"


def test_weights_that_do_not_fit_the_backbone_or_the_metadata(tmp_path: Path, opt_folder: Path) -> None:
    narrow = write_store(tmp_path / "narrow", subjects=("UTS01",), n_features=8)
    with pytest.raises(IntegrityError, match="has 32 feature rows.*width 16 make 64"):
        _model(narrow, opt_folder)
    from berg_core.plugin import Store, read_metadata, save_npy_dict

    other = write_store(tmp_path / "other", subjects=("UTS01",))
    meta = read_metadata(Store(str(other)), metadata_relpath("UTS01"))
    meta["fmri"]["n_voxels"] = N_VOXELS + 5
    meta["roi"] = {"A1": np.zeros(N_VOXELS + 5, dtype=bool)}
    for k in ("noise_ceiling", "correlation", "cc_norm"):
        meta["encoding_model"][k] = np.zeros(N_VOXELS + 5)
    save_npy_dict(other, metadata_relpath("UTS01"), meta)
    with pytest.raises(IntegrityError, match="voxel columns.*do not belong together"):
        _model(other, opt_folder)
    meta["encoding_model"]["noise_ceiling"] = np.zeros(3)
    save_npy_dict(other, metadata_relpath("UTS01"), meta)
    with pytest.raises(IntegrityError, match="noise_ceiling should hold"):
        _model(other, opt_folder)


def test_story_errors(store: Path, opt_folder: Path) -> None:
    model = _model(store, opt_folder)
    with pytest.raises(StimulusError):
        BERG(store).encode(model, {"word": [], "onset": []}, show_progress=False)
    with pytest.raises(StimulusError, match="must not decrease"):
        BERG(store).encode(model, {"word": SHORT, "onset": [2.0, 1.0]}, show_progress=False)
    with pytest.raises(StimulusError, match="at least one word"):
        model.story_response([], np.zeros(0))
    with pytest.raises(StimulusError):
        BERG(store).encode(model, ["a sentence, not a story"], show_progress=False)
