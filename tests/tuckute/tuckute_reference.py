"""The Tuckute model's math in float64 NumPy, independent of the plugin: BPE, GPT-2 layer 22, last token, ridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.language.lm_reference import bpe_encode, gpt2_hidden_state

LAYER = 22


def reference(folder: Path, sentences: list[str], coef: np.ndarray, intercept: np.ndarray, rows: list[int]) -> np.ndarray:
    """``(n_sentences, len(rows))``: each sentence alone through GPT-2, hidden state 22 of its last token, ridge rows."""
    x = np.stack([gpt2_hidden_state(folder, bpe_encode(folder, s), LAYER)[-1] for s in sentences])
    return x @ np.asarray(coef, np.float64)[rows].T + np.asarray(intercept, np.float64)[rows]
