"""The Zada model's math in float64 NumPy, independent of the plugin: BPE of " " + word, 33-token windows
left-padded with id 0 (no mask), GPT-2 hidden state 24 at the last position, mean over a word's tokens,
standardisation (cast to float32 as upstream), himalaya ridge, back to the original units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.language.lm_reference import bpe_encode, gpt2_hidden_state

LAYER, CONTEXT, N_LAGS = 24, 32, 129


def word_features(folder: Path, words: list[str]) -> np.ndarray:
    per_word = [bpe_encode(folder, " " + w) for w in words]
    tokens = [t for ids in per_word for t in ids]
    feats = []
    for i in range(len(tokens)):
        ctx = tokens[max(0, i - CONTEXT) : i + 1]
        window = [0] * (CONTEXT + 1 - len(ctx)) + ctx
        feats.append(gpt2_hidden_state(folder, window, LAYER)[-1])
    out, start = [], 0
    for ids in per_word:
        out.append(np.mean(feats[start : start + len(ids)], axis=0))
        start += len(ids)
    return np.stack(out)


def reference(folder: Path, words: list[str], weights: dict[str, Any], electrodes: np.ndarray | None = None,
              lags: np.ndarray | None = None) -> np.ndarray:
    n_el = int(weights["shape"]["n_electrodes"])
    electrodes = np.arange(n_el) if electrodes is None else electrodes
    lags = np.arange(N_LAGS) if lags is None else lags
    targets = (electrodes[:, None] * N_LAGS + lags[None, :]).ravel()
    sx, sy, r = weights["scaler_X_param"], weights["scaler_Y_param"], weights["ridge_param"]
    x = ((word_features(folder, words) - sx["mean_"]) / sx["scale_"]).astype(np.float32).astype(np.float64)
    z = x @ r["coef_"].astype(np.float64)[:, targets] + r["intercept_"].astype(np.float64)[targets]
    y = z * sy["scale_"][targets] + sy["mean_"][targets]
    return y.reshape(len(words), len(electrodes), len(lags))
