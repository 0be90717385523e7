"""Independent float64 NumPy references of GPT-2 and OPT and of GPT-2's byte-level BPE.

They read the model folder's files themselves (``config.json``, ``model.safetensors``
through safetensors' NumPy reader, ``vocab.json``/``merges.txt``), not through
transformers, so a wrong layer index, position offset, padding or tokenisation in
berg's code shows up as a difference. Other test folders (tuckute, zada, the LeBel
model) import them.
"""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import regex

# GPT-2's pre-tokenisation pattern (from the GPT-2 paper's released encoder)
_PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def _byte_table() -> dict[int, str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


@lru_cache(maxsize=8)
def _bpe_tables(folder: str) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    vocab = json.loads((Path(folder) / "vocab.json").read_text())
    lines = (Path(folder) / "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    return vocab, {m: i for i, m in enumerate(merges)}  # type: ignore[misc]


def bpe_encode(folder: str | Path, text: str) -> list[int]:
    """Token ids of ``text`` (no special tokens), by the textbook byte-level BPE."""
    vocab, ranks = _bpe_tables(str(folder))
    table = _byte_table()
    ids: list[int] = []
    for piece in _PAT.findall(text):
        word = [table[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(itertools.pairwise(word))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            word = [*word[:i], word[i] + word[i + 1], *word[i + 2 :]]
        ids += [vocab[s] for s in word]
    return ids


@lru_cache(maxsize=8)
def load_folder(folder: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``config.json`` and every tensor of ``model.safetensors`` as float64 arrays."""
    from safetensors.numpy import load_file

    config = json.loads((Path(folder) / "config.json").read_text())
    weights = {k: v.astype(np.float64) for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}
    return config, weights


def _ln(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, n_head: int) -> np.ndarray:
    t, c = q.shape
    hd = c // n_head
    q, k, v = (a.reshape(t, n_head, hd).transpose(1, 0, 2) for a in (q, k, v))
    scores = q @ k.transpose(0, 2, 1)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    return (scores @ v).transpose(1, 0, 2).reshape(t, c)


def _gelu_new(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def gpt2_hidden_state(folder: str | Path, ids: list[int] | np.ndarray, layer: int) -> np.ndarray:
    """``hidden_states[layer]`` of a GPT-2 folder for one unpadded, unmasked sequence: ``(T, C)`` float64."""
    cfg, w = load_folder(str(folder))
    ids = np.asarray(ids)
    eps, n_head = cfg["layer_norm_epsilon"], cfg["n_head"]
    prefix = "" if "h.0.ln_1.weight" in w else "transformer."
    wte = w.get("wte.weight", w.get("transformer.wte.weight"))
    wpe = w.get("wpe.weight", w.get("transformer.wpe.weight"))
    h = wte[ids] + wpe[np.arange(len(ids))]
    for i in range(layer):
        def key(n: str, i: int = i) -> str:
            return f"{prefix}h.{i}.{n}"

        a = _ln(h, w[key("ln_1.weight")], w[key("ln_1.bias")], eps)
        qkv = a @ w[key("attn.c_attn.weight")] + w[key("attn.c_attn.bias")]  # Conv1D: (in, out)
        q, k, v = np.split(qkv, 3, axis=-1)
        att = _causal_attention(q / np.sqrt(q.shape[-1] // n_head), k, v, n_head)
        h = h + att @ w[key("attn.c_proj.weight")] + w[key("attn.c_proj.bias")]
        m = _ln(h, w[key("ln_2.weight")], w[key("ln_2.bias")], eps)
        m = _gelu_new(m @ w[key("mlp.c_fc.weight")] + w[key("mlp.c_fc.bias")])
        h = h + m @ w[key("mlp.c_proj.weight")] + w[key("mlp.c_proj.bias")]
    if layer == cfg["n_layer"]:
        h = _ln(h, w.get("ln_f.weight", w.get("transformer.ln_f.weight")), w.get("ln_f.bias", w.get("transformer.ln_f.bias")), eps)
    return h


def opt_hidden_state(folder: str | Path, ids: list[int] | np.ndarray, layer: int) -> np.ndarray:
    """``hidden_states[layer]`` of an OPT folder (pre-layer-norm blocks, as OPT-1.3B) for one sequence, float64."""
    cfg, w = load_folder(str(folder))
    assert cfg.get("do_layer_norm_before", True) and cfg["word_embed_proj_dim"] == cfg["hidden_size"]
    ids = np.asarray(ids)
    p = "decoder." if "decoder.embed_tokens.weight" in w else "model.decoder."
    n_head = cfg["num_attention_heads"]
    # OPT's learned positions are offset by 2 (positions 0.. read rows 2..)
    h = w[p + "embed_tokens.weight"][ids] + w[p + "embed_positions.weight"][np.arange(len(ids)) + 2]
    for i in range(layer):
        def lw(n: str, i: int = i) -> np.ndarray:
            return w[f"{p}layers.{i}.{n}"]

        a = _ln(h, lw("self_attn_layer_norm.weight"), lw("self_attn_layer_norm.bias"), 1e-5)
        q = (a @ lw("self_attn.q_proj.weight").T + lw("self_attn.q_proj.bias")) / np.sqrt(h.shape[-1] // n_head)
        k = a @ lw("self_attn.k_proj.weight").T + lw("self_attn.k_proj.bias")
        v = a @ lw("self_attn.v_proj.weight").T + lw("self_attn.v_proj.bias")
        h = h + _causal_attention(q, k, v, n_head) @ lw("self_attn.out_proj.weight").T + lw("self_attn.out_proj.bias")
        m = _ln(h, lw("final_layer_norm.weight"), lw("final_layer_norm.bias"), 1e-5)
        m = np.maximum(m @ lw("fc1.weight").T + lw("fc1.bias"), 0.0)
        h = h + m @ lw("fc2.weight").T + lw("fc2.bias")
    if layer == cfg["num_hidden_layers"]:
        h = _ln(h, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], 1e-5)
    return h
