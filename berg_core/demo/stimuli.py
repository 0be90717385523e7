"""Procedural stimuli of every kind for ``berg demo``: sentences, timed-word stories and short video clips.

Like the demo images (:mod:`berg_core.demo.images`), everything is written or drawn in code at
run time: no files ship with berg, nothing is downloaded, and the same arguments always give
the same stimuli.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = [
    "DEMO_CLIP_IDS",
    "DEMO_SENTENCES",
    "DEMO_STORIES",
    "demo_clips",
    "demo_sentences",
    "demo_stimuli",
    "demo_stories",
]

#: The demo sentences (ids 0..5): plain, surprising, long, short, a question, a list.
DEMO_SENTENCES = (
    "The old lighthouse keeper climbed the stairs every evening at dusk.",
    "Colourless green ideas sleep furiously.",
    "Although the bridge had stood for a century, the engineers insisted that it be closed before the storm.",
    "She laughed.",
    "Where did you leave the keys to the boat?",
    "Apples, pears, plums and a single ripe fig lay on the table.",
)

#: The demo stories, as text; each word gets an onset from its length (see :func:`demo_stories`).
DEMO_STORIES = {
    "fox": (
        "A small red fox lived at the edge of a quiet wood. Every morning she crossed the frozen river, "
        "listened to the crows, and searched the snow for the tracks of mice. One day the ice began to sing."
    ),
    "lighthouse": (
        "The keeper lit the lamp at dusk. Ships passed in the dark, and none of them ever knew his name."
    ),
}

#: Stimulus ids of the demo clips, in order.
DEMO_CLIP_IDS = ("drifting-grating", "expanding-ring", "moving-dot")
#: Frames per second and frames per demo clip (2 s).
DEMO_FPS = 8.0
DEMO_FRAMES = 16


def demo_sentences() -> tuple[list[int], list[str]]:
    """Ids and texts of the demo sentences."""
    return list(range(len(DEMO_SENTENCES))), list(DEMO_SENTENCES)


def demo_stories() -> tuple[list[str], list[Any]]:
    """Ids and :class:`~berg_core.stimuli.timed_words.TimedWords` of the demo stories.

    A word starts when the previous one ends: 0.12 s plus 55 ms per letter (a steady reading
    pace of about 3 words/s), with a 0.4 s pause after a sentence and 0.2 s after a comma.
    """
    from berg_core.stimuli.timed_words import timed_words

    ids, stories = [], []
    for name, text in DEMO_STORIES.items():
        words, onsets, offsets = [], [], []
        t = 0.5
        for token in text.split():
            word = re.sub(r"[^\w']", "", token)
            duration = 0.12 + 0.055 * len(word)
            words.append(word)
            onsets.append(round(t, 3))
            offsets.append(round(t + duration, 3))
            t += duration + (0.4 if token[-1] in ".?!" else 0.2 if token[-1] in ",;:" else 0.05)
        ids.append(name)
        stories.append(timed_words(words, onsets, offsets, what=f"demo story {name!r}"))
    return ids, stories


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    return np.meshgrid(c, c, indexing="xy")


def demo_clips(size: int = 64, frames: int = DEMO_FRAMES) -> tuple[list[str], np.ndarray]:
    """Ids and uint8 ``(3, frames, 3, size, size)`` RGB clips: a drifting grating, an expanding ring, a moving dot."""
    x, y = _grid(size)
    r = np.hypot(x, y)
    clips = np.empty((len(DEMO_CLIP_IDS), frames, 3, size, size), dtype=np.float64)
    for f in range(frames):
        phase = f / frames
        grating = 0.5 + 0.5 * np.sin(2 * np.pi * (3 * (x * 0.8 + y * 0.6) - 2 * phase))
        clips[0, f] = grating[None] * np.array([0.9, 0.7, 0.4])[:, None, None]
        ring = np.exp(-(((r - 0.1 - 0.8 * phase) / 0.08) ** 2))
        clips[1, f] = np.stack([ring, 0.3 * ring, 1.0 - ring])
        cx, cy = -0.7 + 1.4 * phase, 0.5 * np.sin(2 * np.pi * phase)
        dot = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / 0.02))
        clips[2, f] = 0.15 + 0.85 * np.stack([dot, dot, 0.5 * dot])
    return list(DEMO_CLIP_IDS), np.clip(np.round(clips * 255), 0, 255).astype(np.uint8)


def demo_stimuli(kind: str, image_size: int = 256) -> Any:
    """The demo's validated stimuli of ``kind`` (a card's ``stimuli:``), ready for ``BERG.encode``."""
    if kind == "images":
        from berg_core.demo.images import demo_images
        from berg_core.stimuli.inputs import Stimuli

        ids, images = demo_images(image_size)
        return Stimuli(ids=list(ids), array=images)
    if kind == "video":
        from berg_core.stimuli.video import as_video

        ids, clips = demo_clips()
        return as_video(clips, stimulus_ids=ids, fps=DEMO_FPS)
    if kind == "sentences":
        from berg_core.stimuli.sentences import as_sentences

        sentence_ids, texts = demo_sentences()
        return as_sentences(texts, stimulus_ids=sentence_ids)
    if kind == "timed_words":
        from berg_core.stimuli.timed_words import as_timed_words

        story_ids, stories = demo_stories()
        return as_timed_words(stories, stimulus_ids=story_ids)
    from berg_core.errors import InvalidParameterError

    raise InvalidParameterError(f"the demo has no stimuli of kind {kind!r}")
