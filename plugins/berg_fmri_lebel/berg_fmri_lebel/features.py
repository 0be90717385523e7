"""OPT-1.3B word vectors of a story with BERG 2.0's dynamic context.

Tokens: ``[BOS]`` then each real word as ``tokenizer.encode(prefix + word, add_special_tokens=False)`` with
prefix ``""`` for the first real word and ``" "`` after; a word that is blank (``word.strip() == ""``) or
exactly ``"'s"`` is not a real word. Contexts: walking the real words, a forward pass runs when the context
since ``phase_start`` holds ``max_words`` words, or at the last word; its input is the story's tokens up to the
word (``phase_start == 0``), else ``[BOS]`` and the tokens from the first token of word ``phase_start``. Every
word not yet given a vector takes the hidden state (``hidden_states[layer]``) at its last token; then
``phase_start = max(0, word - min_words + 1)``, so later words keep ``min_words`` words of context. A word
that is not real takes the previous real word's vector (zeros before the first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from berg_core.plugin import InvalidParameterError, StimulusError

from .layout import CONTEXT_MAX_WORDS, CONTEXT_MIN_WORDS, LAYER

__all__ = ["StoryTokens", "is_real_word", "story_tokens", "word_vectors"]


def is_real_word(word: str) -> bool:
    """Whether BERG 2.0 gives ``word`` its own tokens (not blank, not a split-off ``'s``)."""
    return word.strip() != "" and word != "'s"


@dataclass(frozen=True)
class StoryTokens:
    """A story's token ids (``[BOS]`` first) and where each real word's tokens are."""

    tokens: list[int]
    real: list[int]  # position in the story of each real word
    first: list[int]  # index in ``tokens`` of each real word's first token
    last: list[int]  # ... and of its last token


def story_tokens(tokenizer: Any, words: Sequence[str]) -> StoryTokens:
    """Tokenise ``words`` as BERG 2.0 does (see the module docstring)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        raise InvalidParameterError("the OPT tokenizer has no BOS token (OPT's is </s>, id 2)")
    tokens: list[int] = [int(bos)]
    real: list[int] = []
    first: list[int] = []
    last: list[int] = []
    for i, word in enumerate(words):
        if not is_real_word(word):
            continue
        ids = tokenizer.encode(("" if not real else " ") + word, add_special_tokens=False)
        if not ids:  # pragma: no cover - a non-blank word always has bytes to encode
            raise StimulusError(f"word {i} ({word!r}) gives no OPT tokens")
        first.append(len(tokens))
        tokens.extend(int(t) for t in ids)
        last.append(len(tokens) - 1)
        real.append(i)
    return StoryTokens(tokens, real, first, last)


def word_vectors(backbone: Any, words: Sequence[str], layer: int = LAYER, min_words: int = CONTEXT_MIN_WORDS,
                 max_words: int = CONTEXT_MAX_WORDS) -> np.ndarray:
    """``(n_words, width)`` float32: each word's hidden state at its last token, with the dynamic context.

    Parameters
    ----------
    backbone
        The OPT backbone (``hidden_state(input_ids, layer)``, ``tokenizer``, ``n_features``).
    words
        The story's words in order.
    layer, min_words, max_words
        BERG 2.0's constants (18, 256, 512); other values serve tests with short stories.
    """
    if not 1 <= min_words < max_words:
        raise InvalidParameterError(f"the context needs 1 <= min_words < max_words, got {min_words} and {max_words}")
    st = story_tokens(backbone.tokenizer, words)
    width = int(backbone.n_features)
    n_real = len(st.real)
    vectors = np.zeros((n_real, width), dtype=np.float32)
    phase, done = 0, 0
    for rw in range(n_real):
        if rw - phase + 1 < max_words and rw != n_real - 1:
            continue
        if phase == 0:
            context, offset = st.tokens[: st.last[rw] + 1], 0
        else:  # a fresh [BOS] before the kept words; token j of the story sits at j - offset
            context = [st.tokens[0], *st.tokens[st.first[phase] : st.last[rw] + 1]]
            offset = st.first[phase] - 1
        hidden = backbone.hidden_state(torch.tensor([context], dtype=torch.long), layer)[0]
        where = torch.tensor([st.last[w] - offset for w in range(done, rw + 1)], dtype=torch.long, device=hidden.device)
        vectors[done : rw + 1] = hidden.index_select(0, where).float().cpu().numpy()
        done = rw + 1
        phase = max(0, rw - min_words + 1)
    out = np.zeros((len(words), width), dtype=np.float32)
    if n_real == 0:
        return out
    owner = np.full(len(words), -1)  # the real word each word copies (-1: none yet, zeros)
    owner[st.real] = np.arange(n_real)
    owner = np.maximum.accumulate(owner)
    has = owner >= 0
    out[has] = vectors[owner[has]]
    return out
