"""Tiny random GPT-2 and OPT model folders: the real architectures and layer counts, tiny widths.

Synthetic stores (``berg demo``) and tests use them in place of the real
downloads. Each folder is what ``save_pretrained`` writes for a model and its
tokenizer: ``config.json``, ``model.safetensors`` and a real byte-level BPE
tokenizer (``vocab.json``, ``merges.txt``, ``tokenizer.json``...) built from a
small vocabulary: the 256 byte symbols, a few English merges and the model's
special tokens, so any text tokenises as with the real tokenizers, in more
pieces. Weights come from torch's random generator (the caller seeds it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["MERGES", "byte_symbols", "write_tiny_gpt2", "write_tiny_opt"]

#: BPE merges of the tiny vocabulary, in priority order (GPT-2's "Ġ" marks a leading space)
MERGES = (
    "Ġ t", "h e", "Ġt he", "Ġ a", "i n", "e r", "o n", "r e", "a n", "e n", "Ġ s", "Ġ w", "Ġ o", "a t", "o r",
    "e s", "Ġ b", "Ġ c", "i s", "Ġ f", "Ġ m", "i t", "Ġ p", "Ġ d", "a r", "l e", "Ġ h", "o u", "in g", "Ġ in",
)


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte 0..255 (the byte-level BPE alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:  # bytes that are not printable map past 255, in order
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def _write_bpe_files(folder: Path, specials_first: tuple[str, ...], specials_last: tuple[str, ...]) -> dict[str, int]:
    tokens = [*specials_first, *byte_symbols(), *(m.replace(" ", "") for m in MERGES), *specials_last]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n", encoding="utf-8")
    return vocab


def _randomise(model: Any, scale: float) -> None:
    """Every parameter drawn at random (biases and norms too), so a reference that got any of them wrong differs."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.is_floating_point():
                continue
            if "ln" in name.split(".")[-2] or "layer_norm" in name or "norm" in name.split(".")[-2]:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))


def _quiet_save(model: Any, tokenizer: Any, folder: Path) -> None:
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # a progress bar per shard on stderr says nothing here
    try:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    finally:
        if was:
            logging.enable_progress_bar()


def write_tiny_gpt2(
    folder: str | os.PathLike[str], n_layer: int = 48, n_embd: int = 32, n_head: int = 2, n_positions: int = 1024,
    scale: float = 0.2,
) -> str:
    """Write a random GPT-2 (``GPT2Model``) with its tokenizer into ``folder``; returns the folder.

    ``n_layer=48`` is GPT-2 XL's depth, so layer indices read by models are the real ones.
    """
    from transformers import GPT2Config, GPT2Model, GPT2Tokenizer

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _write_bpe_files(out, (), ("<|endoftext|>",))
    eot = vocab["<|endoftext|>"]
    tokenizer = GPT2Tokenizer(str(out / "vocab.json"), str(out / "merges.txt"))
    config = GPT2Config(vocab_size=len(vocab), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                        bos_token_id=eot, eos_token_id=eot)
    model = GPT2Model(config)
    _randomise(model, scale)
    _quiet_save(model, tokenizer, out)
    return str(out)


def write_tiny_opt(
    folder: str | os.PathLike[str], num_hidden_layers: int = 24, hidden_size: int = 32, num_attention_heads: int = 2,
    ffn_dim: int = 64, max_position_embeddings: int = 2048, scale: float = 0.2,
) -> str:
    """Write a random OPT (``OPTModel``) with its tokenizer into ``folder``; returns the folder.

    ``num_hidden_layers=24`` is OPT-1.3B's depth. The special tokens are OPT's: ``<s>`` 0,
    ``<pad>`` 1, ``</s>`` 2 (its BOS and EOS), ``<unk>`` 3, and the tokenizer prepends ``</s>``.
    """
    from transformers import GPT2Tokenizer, OPTConfig, OPTModel

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _write_bpe_files(out, ("<s>", "<pad>", "</s>", "<unk>"), ())
    tokenizer = GPT2Tokenizer(str(out / "vocab.json"), str(out / "merges.txt"), bos_token="</s>", eos_token="</s>",
                              unk_token="<unk>", pad_token="<pad>", add_bos_token=True)
    config = OPTConfig(vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
                       ffn_dim=ffn_dim, num_attention_heads=num_attention_heads,
                       max_position_embeddings=max_position_embeddings, word_embed_proj_dim=hidden_size,
                       pad_token_id=1, bos_token_id=2, eos_token_id=2, do_layer_norm_before=True)
    model = OPTModel(config)
    _randomise(model, scale)
    _quiet_save(model, tokenizer, out)
    return str(out)
