"""The LeBel model's math in float64 NumPy, independent of the plugin, written as BERG 2.0's loops.

Tokens: textbook byte-level BPE of "" + first word / " " + later words after OPT's BOS (from config.json);
blank words and "'s" skipped; dynamic context of ``max_words`` then ``min_words`` words; OPT hidden state 18
at each word's last token (the NumPy OPT of tests/language); per-TR Lanczos sums with the 3-lobe kernel,
no normalisation; population z-score (std < 1e-10 -> 1); delays 1-4 TRs; ridge without intercept.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tests.language.lm_reference import bpe_encode, opt_hidden_state

LAYER, TR, NDELAYS, WINDOW = 18, 2.0, 4, 3


def word_vectors(folder: Path, words: list[str], min_words: int = 256, max_words: int = 512) -> np.ndarray:
    bos = json.loads((Path(folder) / "config.json").read_text())["bos_token_id"]
    all_tokens, first_tok, last_tok, real = [bos], [], [], []
    for i, w in enumerate(words):
        if w.strip() == "" or w == "'s":
            continue
        ids = bpe_encode(folder, ("" if not real else " ") + w)
        first_tok.append(len(all_tokens))
        all_tokens += ids
        last_tok.append(len(all_tokens) - 1)
        real.append(i)
    vec: list[np.ndarray | None] = [None] * len(real)
    phase_start = 0
    for rw in range(len(real)):
        if rw - phase_start + 1 >= max_words or rw == len(real) - 1:
            if phase_start == 0:
                context, shift = all_tokens[: last_tok[rw] + 1], 0
            else:
                context = [bos, *all_tokens[first_tok[phase_start] : last_tok[rw] + 1]]
                shift = first_tok[phase_start] - 1
            hidden = opt_hidden_state(folder, context, LAYER)
            for w in range(rw + 1):
                if vec[w] is None:
                    vec[w] = hidden[last_tok[w] - shift]
            phase_start = max(0, rw - min_words + 1)
    width = json.loads((Path(folder) / "config.json").read_text())["hidden_size"]
    out, prev, j = [], np.zeros(width), 0
    for i in range(len(words)):
        if j < len(real) and real[j] == i:
            prev = vec[j]
            j += 1
        out.append(prev)
    return np.array(out, dtype=np.float64)


def _sinc(x: float) -> float:
    return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)


def tr_pipeline(vectors: np.ndarray, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(delayed z-scored Lanczos features (n_TRs, 4F), TR times)`` by explicit loops."""
    t_start, t_end = onsets[0], onsets[-1] + NDELAYS * TR
    n_trs = math.ceil((t_end - t_start) / TR)
    times = np.array([t_start + k * TR for k in range(n_trs)])
    res = np.zeros((n_trs, vectors.shape[1]))
    for ti, t in enumerate(times):
        for wi, w in enumerate(onsets):
            x = (t - w) / TR
            if abs(x) < WINDOW:
                res[ti] += vectors[wi] * (1.0 if abs(x) < 1e-10 else _sinc(x) * _sinc(x / WINDOW))
    z = np.empty_like(res)
    for f in range(res.shape[1]):
        col = res[:, f]
        mean = sum(col) / len(col)
        std = math.sqrt(sum((c - mean) ** 2 for c in col) / len(col))
        z[:, f] = (col - mean) / (1.0 if std < 1e-10 else std)
    blocks = []
    for d in range(1, NDELAYS + 1):
        shifted = np.zeros_like(z)
        shifted[d:] = z[: n_trs - d]
        blocks.append(shifted)
    return np.hstack(blocks), times


def reference(folder: Path, words: list[str], onsets: list[float] | np.ndarray, ridge: np.ndarray,
              voxels: np.ndarray | None = None, min_words: int = 256, max_words: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(responses (n_TRs, n_voxels) float64, TR times)`` of one story."""
    feats, times = tr_pipeline(word_vectors(folder, words, min_words, max_words), np.asarray(onsets, dtype=np.float64))
    w = ridge.astype(np.float64)
    return feats @ (w if voxels is None else w[:, voxels]), times
