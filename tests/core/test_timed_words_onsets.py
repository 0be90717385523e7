"""Stories without onsets: a card's ``word_onsets: optional`` lets plain word lists through, with NaN onsets.

A model that needs onsets (the default) keeps refusing them with the same message; one such model in a
multi-model call makes onsets required for the whole call.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from berg_core.errors import CardError, StimulusError
from berg_core.results.identity import stimulus_fingerprint
from berg_core.stimuli.kinds import as_kind_stimuli, onset_rule
from berg_core.stimuli.timed_words import TimedWords, as_timed_words, timed_words

NEEDS_ONSETS = r"'hello' is not a .tsv file \(words need onsets: give a table, not a list of words\)"


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


def _unknown(story: TimedWords, words: list[str]) -> None:
    assert story.words == tuple(words) and not story.onsets_known and story.offsets is None
    assert story.onsets.shape == (len(words),) and np.isnan(story.onsets).all()
    assert not story.onsets.flags.writeable


def test_a_list_of_words_is_one_story_with_unknown_onsets() -> None:
    got = as_timed_words(["hello", "", "world"], onsets="optional")
    assert got.ids == [0] and len(got) == 1 and got.n_units() == 3
    _unknown(got.stories()[0], ["hello", "", "world"])
    assert got.stories()[0] == timed_words(["hello", "", "world"], None)  # NaN onsets compare equal


def test_other_forms_without_onsets() -> None:
    several = as_timed_words([["a", "b"], ("c",)], onsets="optional")
    assert several.ids == [0, 1]
    _unknown(several.stories()[0], ["a", "b"])
    _unknown(several.stories()[1], ["c"])
    _unknown(as_timed_words({"word": ["a", "b"]}, onsets="optional").stories()[0], ["a", "b"])
    _unknown(as_timed_words({"words": ["a", "b"]}, onsets="optional").stories()[0], ["a", "b"])  # BERG 2.0's key
    _unknown(as_timed_words(pd.DataFrame({"word": ["a", "b"]}), onsets="optional").stories()[0], ["a", "b"])
    mixed = as_timed_words([{"word": ["a"], "onset": [1.5]}, ["x", "y"]], onsets="optional")
    assert mixed.stories()[0].onsets.tolist() == [1.5] and mixed.stories()[0].onsets_known
    _unknown(mixed.stories()[1], ["x", "y"])


def test_a_tsv_may_have_a_word_column_only(tmp_path: Path) -> None:
    (tmp_path / "story.tsv").write_text("word\nhello\nworld\n", encoding="utf-8")
    got = as_timed_words(tmp_path / "story.tsv", onsets="optional")
    assert got.ids == ["story"]
    _unknown(got.stories()[0], ["hello", "world"])
    # a list of str naming existing .tsv files stays a list of files, not words
    (tmp_path / "other.tsv").write_text("word\tonset\nx\t0.5\n", encoding="utf-8")
    files = as_timed_words([str(tmp_path / "story.tsv"), str(tmp_path / "other.tsv")], onsets="optional")
    assert files.ids == ["story", "other"] and files.stories()[1].onsets.tolist() == [0.5]
    with pytest.raises(StimulusError, match="has no column 'onset'"):
        as_timed_words(tmp_path / "story.tsv")


def test_models_that_need_onsets_refuse_stories_without_them() -> None:
    with pytest.raises(StimulusError, match=NEEDS_ONSETS):
        as_timed_words(["hello", "world"])
    with pytest.raises(StimulusError, match="no column 'onset'"):
        as_timed_words({"word": ["a"]})
    with pytest.raises(StimulusError, match="story 0 is list"):
        as_timed_words([["a", "b"]])
    blind = as_timed_words(["hello", "world"], onsets="optional")
    with pytest.raises(StimulusError, match="story 0 has no onsets, but this model needs each word's onset"):
        as_timed_words(blind)
    with pytest.raises(StimulusError, match="the story has no onsets, but this model needs each word's onset"):
        as_timed_words(blind.stories()[0])
    with pytest.raises(StimulusError, match=NEEDS_ONSETS):
        as_kind_stimuli("timed_words", ["hello", "world"])


def test_what_stays_refused_without_onsets() -> None:
    with pytest.raises(StimulusError, match="offsets but no onsets"):
        timed_words(["a"], None, [1.0])
    with pytest.raises(StimulusError, match="an 'offset' column but no 'onset'"):
        as_timed_words({"word": ["a"], "offset": [1.0]}, onsets="optional")
    with pytest.raises(StimulusError, match="word 1 is int 3; expected a string"):
        as_timed_words([["a", 3]], onsets="optional")
    with pytest.raises(StimulusError, match="word 1 is missing"):
        as_timed_words({"word": ["a", float("nan")]}, onsets="optional")
    with pytest.raises(StimulusError, match="the list of stories is empty"):
        as_timed_words([], onsets="optional")
    with pytest.raises(StimulusError, match=r"onsets must be one of \['required', 'optional'\], got 'maybe'"):
        as_timed_words(["a"], onsets="maybe")


def test_the_fingerprint_of_a_story_without_onsets_is_stable_and_differs_from_timed_ones() -> None:
    a = as_timed_words(["a", "b"], onsets="optional")
    assert stimulus_fingerprint(a) == stimulus_fingerprint(as_timed_words({"word": ["a", "b"]}, onsets="optional"))
    assert stimulus_fingerprint(a) != stimulus_fingerprint(as_timed_words({"word": ["a", "b"], "onset": [0, 1]}))


def test_the_card_declares_it_and_the_call_follows_every_model() -> None:
    from berg_core.cards.model_card import card_from_dict

    toy = _toys().card("timed_words")
    assert toy.word_onsets is None
    optional = card_from_dict({**toy.model_dump(), "word_onsets": "optional"})
    assert optional.word_onsets == "optional"
    with pytest.raises(CardError, match="word_onsets applies to timed_words models only; this card's stimuli are images"):
        card_from_dict({**_toys().card("images").model_dump(), "word_onsets": "optional"})
    with pytest.raises(CardError, match="word_onsets"):
        card_from_dict({**toy.model_dump(), "word_onsets": "sometimes"})
    free, bound = SimpleNamespace(card=optional), SimpleNamespace(card=toy)
    assert onset_rule([free]) == "optional"
    assert onset_rule([free, free]) == "optional"
    assert onset_rule([free, bound]) == "required"  # the same stories go to a model that needs onsets
    assert onset_rule([bound]) == "required"
    assert onset_rule([SimpleNamespace(card=_toys().card("images"))]) == "required"
