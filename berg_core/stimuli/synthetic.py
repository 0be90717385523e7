"""Seeded random stimuli of every kind, for tests and the conformance kit.

The same ``(kind, n, seed)`` always gives the same stimuli, with ids 0..n-1. They are
deliberately awkward where it matters: images and clips are not square, sentences and stories
differ in length, clips know their frame rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["random_stimuli"]

_VOCABULARY = (
    "the a small old river light house keeper walked slowly across frozen field and saw two crows "
    "in morning she said nothing while wind moved over hills because winter came early that year"
).split()


def random_stimuli(kind: str, n: int = 2, seed: int = 0) -> Any:
    """``n`` seeded random stimuli of ``kind`` (a card's ``stimuli:``), validated, ids 0..n-1.

    * images: uint8 ``(n, 3, 40, 56)``;
    * video: uint8 clips ``(n, 16, 3, 40, 56)`` at 8 frames per second;
    * sentences: 4 to 12 words from a small vocabulary, the first capitalised, ending in a full stop;
    * timed_words: stories of 20 to 40 words, one word every 0.2 to 0.5 s, offsets 0.15 s after onsets.
    """
    from berg_core.stimuli.kinds import as_kind_stimuli

    rng = np.random.default_rng(seed)
    if kind == "images":
        return as_kind_stimuli(kind, rng.integers(0, 256, size=(n, 3, 40, 56), dtype=np.uint8))
    if kind == "video":
        from berg_core.stimuli.video import as_video

        return as_video(rng.integers(0, 256, size=(n, 16, 3, 40, 56), dtype=np.uint8), fps=8.0)
    if kind == "sentences":
        texts = []
        for _ in range(n):
            words = list(rng.choice(_VOCABULARY, size=int(rng.integers(4, 13))))
            texts.append(" ".join([words[0].capitalize(), *words[1:]]) + ".")
        return as_kind_stimuli(kind, texts)
    if kind == "timed_words":
        stories = []
        for _ in range(n):
            m = int(rng.integers(20, 41))
            onsets = np.round(np.cumsum(rng.uniform(0.2, 0.5, size=m)), 3)
            stories.append({"word": list(rng.choice(_VOCABULARY, size=m)), "onset": onsets, "offset": onsets + 0.15})
        return as_kind_stimuli(kind, stories)
    return as_kind_stimuli(kind, None)  # refuses the kind with the list of kinds
