"""Stimulus kinds: what a card's ``stimuli:`` value means, and the collection that validates each.

========================  ==========================================  ===================  ==========
card ``stimuli:``         collection (module)                          content accessor     progress
========================  ==========================================  ===================  ==========
``images``                :class:`~berg_core.stimuli.inputs.Stimuli`   ``tensors()``        img
``video``                 :class:`~berg_core.stimuli.video.VideoStimuli`  ``clips()``       clip
``sentences``             :class:`~berg_core.stimuli.sentences.SentenceStimuli`  ``texts()``  sentence
``timed_words``           :class:`~berg_core.stimuli.timed_words.TimedWordStimuli`  ``stories()``  word
========================  ==========================================  ===================  ==========

``audio`` is reserved: cards declaring it are refused until core reads audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from berg_core.errors import InvalidParameterError, StimulusError

__all__ = [
    "PROGRESS_UNITS",
    "RESERVED_KINDS",
    "STIMULUS_KINDS",
    "as_kind_stimuli",
    "check_one_kind",
    "collection_kind",
    "onset_rule",
    "progress_unit",
]

#: the values a card's ``stimuli:`` may take
STIMULUS_KINDS = ("images", "video", "sentences", "timed_words")
#: kinds named for the future: a card may not declare them yet
RESERVED_KINDS = ("audio",)
#: the progress bar's unit per kind
PROGRESS_UNITS = {"images": "img", "video": "clip", "sentences": "sentence", "timed_words": "word"}


def collection_kind(stimuli: Any) -> str | None:
    """The kind a validated collection serves (``"images"`` for :class:`~berg_core.stimuli.inputs.Stimuli`), else ``None``."""
    from berg_core.stimuli.collection import ItemCollection
    from berg_core.stimuli.inputs import Stimuli

    if isinstance(stimuli, Stimuli):
        return "images"
    if isinstance(stimuli, ItemCollection):
        return stimuli.kind
    return None


def progress_unit(kind: str) -> str:
    """The tqdm unit of a kind ("img", "clip", "sentence", "word")."""
    return PROGRESS_UNITS.get(kind, "stimulus")


def as_kind_stimuli(
    kind: str, stimulus: Any, stimulus_ids: Sequence[Any] | None = None, recursive: bool = False, onsets: str = "required"
) -> Any:
    """Validate ``stimulus`` as stimuli of ``kind`` (a card's ``stimuli:``) and return its collection.

    Parameters
    ----------
    kind
        One of :data:`STIMULUS_KINDS`.
    stimulus
        Any form the kind's module accepts, or a collection of that kind already validated.
    stimulus_ids
        One id per stimulus, distinct, all strings or all integers.
    recursive
        Read subfolders of an image or video folder too.
    onsets
        Timed words only: ``"optional"`` when every model takes stories without onsets (see :func:`onset_rule`).

    Raises
    ------
    StimulusError
        The stimulus is not of that kind (a collection of another kind included), or not valid.
    """
    given = collection_kind(stimulus)
    if given is not None and given != kind:
        raise StimulusError(f"these models take {kind} stimuli, but {given} stimuli were given")
    if kind == "images":
        from berg_core.stimuli.inputs import as_stimuli

        return as_stimuli(stimulus, stimulus_ids=stimulus_ids, recursive=recursive)
    if kind == "video":
        from berg_core.stimuli.video import as_video

        return as_video(stimulus, stimulus_ids=stimulus_ids, recursive=recursive)
    from berg_core.stimuli.collection import refuse_recursive

    refuse_recursive(recursive, kind)
    if kind == "sentences":
        from berg_core.stimuli.sentences import as_sentences

        return as_sentences(stimulus, stimulus_ids=stimulus_ids)
    if kind == "timed_words":
        from berg_core.stimuli.timed_words import as_timed_words

        return as_timed_words(stimulus, stimulus_ids=stimulus_ids, onsets=onsets)
    raise StimulusError(f"stimulus kind {kind!r} is not one core reads; expected one of {list(STIMULUS_KINDS)}")


def onset_rule(models: Sequence[Any]) -> str:
    """``"optional"`` when every model's card says ``word_onsets: optional``, else ``"required"``.

    ``models``: encoding models or their cards. One model that needs onsets makes them required for the
    whole call: its stories are the same stories.
    """
    cards = [getattr(m, "card", m) for m in models]
    optional = bool(cards) and all(getattr(c, "word_onsets", None) == "optional" for c in cards)
    return "optional" if optional else "required"


def check_one_kind(models: Sequence[Any]) -> str:
    """The stimulus kind every model takes; an :class:`InvalidParameterError` listing them when they differ."""
    kinds: dict[str, list[str]] = {}
    for m in models:
        kinds.setdefault(m.stimulus_kind, []).append(m.model_id)
    if len(kinds) > 1:
        listed = "; ".join(f"{k}: {', '.join(sorted(set(ids)))}" for k, ids in kinds.items())
        raise InvalidParameterError(
            f"one encode call takes one kind of stimuli, but these models take different kinds ({listed}); "
            "encode each kind in its own call"
        )
    return next(iter(kinds))
