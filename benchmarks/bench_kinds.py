"""Benchmark of the language and video models (issue 15, item 8), on CPU.

For each installed non-image model (``fmri-tuckute_2024-GPT2_XL``: sentences/s; ``ecog-zada2025-gpt2_xl`` and
``fmri-lebel2023-opt_1_3b``: words/s; ``fmri-bmd-s3d``: clips/s) it measures

* the throughput of ``BERG.encode`` on seeded stimuli (best of ``--repeats`` after one warm-up), on the
  plugin's synthetic store;
* the FLOPs of the backbone per stimulus and per token, counted with ``torch.utils.flop_counter.FlopCounterMode``
  on the plugin's own feature path (its tokenisation, context windows, padding and early stop at the layer it
  reads), for the backbone that ran and for the real architecture config (GPT-2 XL: 48 blocks 1600 wide; OPT-1.3B:
  24 blocks 2048 wide; from the model folder's ``config.json`` when one is there);
* the ratio ``stimuli/s x FLOPs per stimulus / matmul peak``, the peak measured right before and after each model
  (:func:`common.matmul_peak_flops`; the larger is used, so a slow peak measurement cannot inflate a ratio), and the
  bound ``peak / FLOPs per stimulus`` of the real architecture.

Backbone sizes (``--size``):

``real``
    The real architectures. S3D is always at its real size (seeded torchvision ``s3d``, 8 M parameters). GPT-2 XL
    (1.5 B parameters, 6 GB in float32) and OPT-1.3B are read from ``--weights-dir`` (a folder holding ``gpt2-xl/``
    and ``opt-1.3b/`` model folders) or the local Hugging Face cache; where they are in neither, ``--size real``
    writes a seeded copy of the real architecture into ``--weights-dir`` (or a temporary folder): 6 GB and 5 GB on
    disk and in memory.
``tiny``
    The synthetic stores' copies: the real layer counts, 32 wide. Their ratio is that of the tiny config (far from
    the matmul peak: the products are tiny); the real config's FLOPs and bound are still reported.
``auto`` (default)
    ``real`` for the language models whose weights are in ``--weights-dir`` or the Hugging Face cache, else ``tiny``
    (said in each result's ``note``).

FLOPs of the real config without its weights are counted on a ``meta``-device copy (no memory, no compute): the
plugin's feature function runs on a stand-in backbone whose ``hidden_state`` runs the real config's blocks on meta
tensors under the counter and gives zeros of the real width. The tokeniser is the one of the backbone that ran: the
synthetic stores' byte-level tokeniser cuts words into more pieces than GPT-2's BPE, so per-word figures of the tiny
runs count more tokens than real text would have (``tokens_per_stimulus`` says how many).

Run: ``python benchmarks/bench_kinds.py [--models ID ...] [--n N] [--repeats R] [--threads T] [--size auto|tiny|real]
[--out DIR]``; results go to ``benchmarks/results/bench_kinds.json``. The machine's load average is recorded next to
the figures: compare ratios, not stimuli/s, on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak_flops, plain_products, report

TUCKUTE = "fmri-tuckute_2024-GPT2_XL"
ZADA = "ecog-zada2025-gpt2_xl"
LEBEL = "fmri-lebel2023-opt_1_3b"
BMD = "fmri-bmd-s3d"

#: The published ``config.json`` of each Hugging Face backbone (architecture only: FLOPs are counted, not derived
#: from these), used when the model folder is not on this machine.
PUBLISHED_CONFIGS: dict[str, dict[str, Any]] = {
    "gpt2_xl": {"model_type": "gpt2", "n_layer": 48, "n_embd": 1600, "n_head": 25, "n_positions": 1024,
                "vocab_size": 50257, "activation_function": "gelu_new"},
    "opt_1_3b": {"model_type": "opt", "num_hidden_layers": 24, "hidden_size": 2048, "ffn_dim": 8192,
                 "num_attention_heads": 32, "vocab_size": 50272, "max_position_embeddings": 2048,
                 "word_embed_proj_dim": 2048, "do_layer_norm_before": True},
}
#: folder names under ``--weights-dir`` (the specs' ``filename``)
FOLDERS = {"gpt2_xl": "gpt2-xl", "opt_1_3b": "opt-1.3b"}
#: file that marks a model folder written by :func:`write_real_size` (seeded, not trained)
SEEDED_MARKER = "berg-bench-seeded.txt"

_WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "to", "park", "where", "children",
          "were", "playing", "in", "rain", "after", "school", "she", "said", "that", "was", "her", "old", "house",
          "by", "river", "every", "night", "we", "heard", "music", "from", "far", "away")


@dataclass(frozen=True)
class Kind:
    """What a model takes and how its backbone's FLOPs are counted."""

    unit: str  # "sentences", "words", "clips"
    backbone: str  # the card's backbone name
    default_n: int  # stimuli per measured call (sentences, words of one story, clips)


KINDS = {
    TUCKUTE: Kind("sentences", "gpt2_xl", 32),
    ZADA: Kind("words", "gpt2_xl", 128),
    # 1,024 words cross two context resets (passes at words 512, 768 and 1,024, as in a real story)
    LEBEL: Kind("words", "opt_1_3b", 1024),
    BMD: Kind("clips", "s3d", 4),
}


# ---- stimuli -------------------------------------------------------------------------------------------------------
def make_stimuli(model_id: str, n: int, seed: int = 0, frames: int = 45, frame_size: int = 256) -> Any:
    """Seeded stimuli of ``model_id``'s kind: ``n`` six-word sentences, one story of ``n`` words or ``n`` clips."""
    rng = np.random.default_rng(seed)
    unit = KINDS[model_id].unit
    if unit == "sentences":
        return [" ".join(rng.choice(_WORDS, 6)).capitalize() + "." for _ in range(n)]
    if unit == "words":
        words = [str(w) for w in rng.choice(_WORDS, n)]
        # about 2.5 words per second, as narrated speech
        return {"word": words, "onset": list(np.round(0.4 * np.arange(n) + rng.uniform(0, 0.1, n), 3))}
    # 3 s clips at 15 frames per second: BERG 2.0 samples 14 of them
    return rng.integers(0, 256, (n, frames, 3, frame_size, frame_size), dtype=np.uint8)


def n_units(model_id: str, stimuli: Any) -> int:
    """Number of sentences, words or clips in ``stimuli``."""
    return len(stimuli["word"]) if isinstance(stimuli, dict) else len(stimuli)


# ---- FLOP counting -------------------------------------------------------------------------------------------------
def _count_cpu_attention() -> None:
    """Teach the counter CPU's fused attention and oneDNN convolutions (torch counted both as 0 FLOPs).

    The formula is torch's own for the other fused kernels: ``QK^T`` and ``AV``, over every query and key (a causal
    mask is not subtracted, as for the CUDA kernels and the unfused ``bmm`` path).
    """
    from torch.utils import flop_counter

    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if op not in flop_counter.flop_registry:
        flop_counter.register_flop_formula(op, get_raw=True)(flop_counter.sdpa_flop)  # already shape-wrapped
    # S3D calls oneDNN's convolution directly on CPU (berg_fmri_bmd.s3d_features); torch counts only aten.convolution
    conv = torch.ops.aten.mkldnn_convolution
    if conv not in flop_counter.flop_registry:

        @flop_counter.register_flop_formula(conv)
        def _mkldnn_conv_flop(x_shape, w_shape, _bias, _padding, _stride, _dilation, _groups, *args, out_shape=None, **kwargs):  # type: ignore[no-untyped-def]
            return flop_counter.conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of ``fn()`` (multiply-adds count 2) as ``FlopCounterMode`` counts them (CPU attention included)."""
    from torch.utils.flop_counter import FlopCounterMode

    _count_cpu_attention()
    with plain_products(), FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return int(counter.get_total_flops())


def feature_fn(model_id: str) -> Callable[[Any, Any], Any]:
    """``f(backbone, batch)``: the plugin's backbone work on a preprocessed batch (read-out excluded)."""
    if model_id == TUCKUTE:
        from berg_fmri_tuckute.model import sentence_features

        return sentence_features
    if model_id == ZADA:
        from berg_ecog_zada.model import story_features

        return story_features
    if model_id == LEBEL:
        from berg_fmri_lebel.features import word_vectors

        return lambda backbone, stories: [word_vectors(backbone, list(s.words)) for s in stories]
    return lambda backbone, clips: backbone(clips)


class MetaBackbone:
    """A stand-in language backbone of a given config: counts the real blocks' FLOPs, computes nothing.

    ``hidden_state(ids, layer)`` runs blocks ``1..layer`` of a ``meta``-device model of ``config`` on a meta
    ``(B, T, width)`` tensor (``FlopCounterMode`` counts ops on meta tensors by their shapes) and returns CPU zeros of
    the real width, so the plugin's feature function runs unchanged around it. The embedding lookups and layer norms
    it skips have no matrix FLOPs. The attention runs unmasked: a mask changes values, not the FLOPs counted.
    """

    def __init__(self, config: Any, tokenizer: Any) -> None:
        from transformers import AutoModel

        with torch.device("meta"):
            self.model = AutoModel.from_config(config).eval()
        self.config = config
        self.tokenizer = tokenizer
        self.n_features = int(config.hidden_size)
        self.n_layers = int(config.num_hidden_layers)
        self.max_positions = int(getattr(config, "n_positions", None) or config.max_position_embeddings)
        inner = getattr(self.model, "h", None)
        self.blocks = inner if inner is not None else self.model.decoder.layers

    def hidden_state(self, input_ids: torch.Tensor, layer: int, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t = input_ids.shape
        h = torch.zeros((b, t, self.n_features), device="meta")
        with torch.no_grad():
            for block in self.blocks[:layer]:
                out = block(h, attention_mask=None)
                h = out[0] if isinstance(out, tuple) else out
        return torch.zeros((b, t, self.n_features))

    def check_layer(self, layer: int) -> None:  # the plugins' feature functions may call it
        assert 0 <= layer <= self.n_layers


def real_config(backbone: str, folder: str | None) -> Any:
    """The real architecture's config: the folder's ``config.json`` if given, else the published one."""
    from transformers import AutoConfig, GPT2Config, OPTConfig

    if folder is not None:
        return AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    values = dict(PUBLISHED_CONFIGS[backbone])
    kind = values.pop("model_type")
    return GPT2Config(**values) if kind == "gpt2" else OPTConfig(**values)


def tokens_in(model_id: str, backbone: Any, batch: Any) -> int:
    """Tokens of the stimuli themselves (before windows, padding or repeated contexts)."""
    tok = backbone.tokenizer
    if model_id == TUCKUTE:
        return sum(len(tok(t, add_special_tokens=True)["input_ids"]) for t in batch)
    if model_id == ZADA:
        return sum(len(tok.encode(" " + w)) for s in batch for w in s.words)
    from berg_fmri_lebel.features import story_tokens

    return sum(len(story_tokens(tok, list(s.words)).tokens) for s in batch)


# ---- backbones and stores ------------------------------------------------------------------------------------------
def find_weights(backbone: str, weights_dir: str | None) -> str | None:
    """A local model folder of ``backbone``: ``weights_dir/<name>`` if it holds one, else the Hugging Face cache."""
    if backbone not in FOLDERS:
        return None
    if weights_dir is not None:
        folder = Path(weights_dir) / FOLDERS[backbone]
        if (folder / "config.json").is_file():
            return str(folder)
    from berg_language_backbones.hf import find_gpt2_xl, find_opt_1_3b

    return find_gpt2_xl() if backbone == "gpt2_xl" else find_opt_1_3b()


def write_real_size(backbone: str, folder: Path, seed: int = 0) -> str:
    """A seeded copy of the real architecture (the tiny byte-level tokeniser) in ``folder``."""
    from berg_language_backbones.tiny import write_tiny_gpt2, write_tiny_opt

    c = PUBLISHED_CONFIGS[backbone]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if backbone == "gpt2_xl":
            # scale 0.02: GPT-2's initialiser range, so the activations stay finite through 48 blocks
            write_tiny_gpt2(folder, n_layer=c["n_layer"], n_embd=c["n_embd"], n_head=c["n_head"],
                            n_positions=c["n_positions"], scale=0.02)
        else:
            write_tiny_opt(folder, num_hidden_layers=c["num_hidden_layers"], hidden_size=c["hidden_size"],
                           num_attention_heads=c["num_attention_heads"], ffn_dim=c["ffn_dim"],
                           max_position_embeddings=c["max_position_embeddings"], scale=0.02)
    (folder / SEEDED_MARKER).write_text(f"seeded copy of the {backbone} architecture (seed {seed}), not trained\n")
    return str(folder)


def write_store(model_id: str, root: Path, n_features: int | None) -> None:
    """The plugin's seeded synthetic store (and its seeded backbone) under ``root``."""
    from berg_core.workflows.synthetic import write_synthetic_store

    if model_id == BMD:
        # BERG 2.0's PCA is 100 x 4,084,096 float64 (3.3 GB): 8 components keep the store small; the read-out is
        # not the backbone and its FLOPs are reported apart
        options: dict[str, Any] = {"n_components": 8, "n_voxels": 2000, "dtype": "float32", "backbone": True}
    elif model_id == LEBEL:
        options = {"n_features": n_features, "n_voxels": 1000}
    else:
        options = {"n_features": n_features}
    write_synthetic_store(root, models=[model_id], seed=0, options={model_id: options},
                          backbone=n_features is None or model_id == BMD)


# ---- one model -----------------------------------------------------------------------------------------------------
def bench_model(model_id: str, size: str, n: int, repeats: int, work: Path, weights_dir: str | None,
                frames: int = 45, frame_size: int = 256, peak_size: int = 2048) -> dict[str, Any]:
    """Throughput, FLOPs per stimulus and per token, and ratio to the matmul peak of one model."""
    from berg_core import BERG
    from berg_core.registry.manager import get_plugin_manager

    kind = KINDS[model_id]
    card = get_plugin_manager().registry.get(model_id).card
    folder = find_weights(kind.backbone, weights_dir)
    note = ""
    if kind.backbone in FOLDERS:
        use_real = size == "real" or (size == "auto" and folder is not None)
        if use_real and folder is None:
            where = Path(weights_dir or work) / FOLDERS[kind.backbone]
            if not (where / "config.json").is_file():
                print(f"writing a seeded real-size {kind.backbone} into {where} ...", flush=True)
                write_real_size(kind.backbone, where)
            folder = str(where)
        if use_real and (Path(folder) / SEEDED_MARKER).is_file():  # type: ignore[arg-type]
            note = f"real architecture, seeded weights (tiny byte-level tokeniser), from {folder}"
        elif use_real:
            note = f"real weights from {folder}"
        else:
            folder = None
            note = ("tiny config (the synthetic store's copy: real layer count, 32 wide): the ratio is the tiny "
                    "config's; the real config's FLOPs and bound are counted on a meta-device copy")
    else:
        note = "real S3D architecture, seeded weights"
    config_size = "real" if (folder is not None or kind.backbone not in FOLDERS) else "tiny"

    store = work / f"store-{model_id}-{config_size}"
    n_features = None
    if folder is not None:
        n_features = int(real_config(kind.backbone, folder).hidden_size)
    if not (store / "berg-synthetic.json").exists():
        write_store(model_id, store, n_features)
    berg = BERG(berg_dir=str(store))
    subject = card.subjects[0] if card.subjects else None
    extra = {"backbone_weights": folder} if folder is not None else {}
    if model_id == BMD:
        extra["preprocessing"] = "berg-2.0"
    t0 = time.perf_counter()
    model = berg.get_encoding_model(model_id, subject=subject, device="cpu", **extra)
    load_s = time.perf_counter() - t0

    stimuli = make_stimuli(model_id, n, frames=frames, frame_size=frame_size)
    count = n_units(model_id, stimuli)
    batch = model.preprocess(validated(model_id, stimuli))
    backbone = model.feature_extractor if model_id == BMD else model.backbone
    features = feature_fn(model_id)

    # FLOPs of the backbone that runs here, on the plugin's own feature path; of the whole encode (read-out too)
    kept: dict[str, Any] = {}
    flops = count_flops(lambda: kept.setdefault("features", features(backbone, batch)))
    ids = list(range(len(batch)))
    if hasattr(model, "read_out"):  # the read-out alone, on the features just computed (Zada)
        readout = count_flops(lambda: model.read_out(kept["features"]))
    elif model_id in (TUCKUTE, BMD):  # their encode_features is the read-out
        readout = count_flops(lambda: model.encode_features(kept["features"], ids))
    else:  # the read-out is not separate from the backbone's pass (LeBel): the whole encode, less the backbone
        readout = max(count_flops(lambda: model.encode_batch(batch, ids)) - flops, 0)
    result: dict[str, Any] = {"unit": kind.unit, "n": count, "config": config_size, "note": note,
                              "load_s": round(load_s, 3), "backbone_flops_per_stimulus": flops / count,
                              "readout_flops_per_stimulus": readout / count}
    if kind.backbone in FOLDERS:
        tokens = tokens_in(model_id, backbone, batch)
        result["tokens_per_stimulus"] = tokens / count
        result["backbone_flops_per_token"] = flops / tokens
        if config_size == "tiny":
            stand_in = MetaBackbone(real_config(kind.backbone, None), backbone.tokenizer)
            real = count_flops(lambda: features(stand_in, batch))
            result["real_config_flops_per_stimulus"] = real / count
            result["real_config_flops_per_token"] = real / tokens
    real_per_stimulus = result.get("real_config_flops_per_stimulus", flops / count)

    peak_before = matmul_peak_flops(peak_size)
    encode = lambda: berg.encode(model, stimuli, show_progress=False)  # noqa: E731
    encode()  # warm-up: thread pool, allocator, tokeniser caches
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        encode()
        best = min(best, time.perf_counter() - t0)
    peak = max(peak_before, matmul_peak_flops(peak_size))
    rate = count / best
    result.update({
        "seconds": best,
        f"{kind.unit}_per_s": rate,
        "matmul_peak_flops": peak,
        "backbone_gflops_per_s": rate * flops / count / 1e9,
        "ratio_to_peak": rate * flops / count / peak,
        "real_config_bound_per_s": peak / real_per_stimulus,
    })
    model.cleanup()
    return result


def validated(model_id: str, stimuli: Any) -> Any:
    """``stimuli`` as the kind's validated collection (what ``BERG.encode`` hands to ``preprocess``)."""
    unit = KINDS[model_id].unit
    if unit == "sentences":
        from berg_core.stimuli.sentences import as_sentences

        return as_sentences(stimuli)
    if unit == "words":
        from berg_core.stimuli.timed_words import as_timed_words

        return as_timed_words(stimuli)
    from berg_core.stimuli.video import as_video

    return as_video(stimuli)


def installed(models: list[str] | None) -> list[str]:
    """The models of :data:`KINDS` whose plugin is installed (or ``models``, checked)."""
    from berg_core.registry.manager import get_plugin_manager

    have = set(get_plugin_manager().registry.ids())
    if models:
        unknown = [m for m in models if m not in KINDS]
        if unknown:
            raise SystemExit(f"--models takes {sorted(KINDS)}; got {unknown}")
        return [m for m in models if m in have]
    return [m for m in KINDS if m in have]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help=f"default: every installed one of {list(KINDS)}")
    parser.add_argument("--n", type=int, default=None,
                        help="stimuli per call: sentences, words of one story or clips (default per model: "
                        + ", ".join(f"{k.default_n} {k.unit}" for k in KINDS.values()) + ")")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--size", choices=("auto", "tiny", "real"), default="auto")
    parser.add_argument("--weights-dir", default=None,
                        help="folder with gpt2-xl/ and opt-1.3b/ model folders (read, or written by --size real)")
    parser.add_argument("--frames", type=int, default=45, help="frames per clip (BERG 2.0 samples 14)")
    parser.add_argument("--frame-size", type=int, default=256, help="clip height and width in pixels")
    parser.add_argument("--peak-size", type=int, default=2048, help="matrix size of the matmul peak measurement")
    parser.add_argument("--out", default=None, help="folder of the JSON (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"size": args.size, "load_average_before": os.getloadavg(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="berg-bench-kinds-") as tmp:
        for model_id in installed(args.models):
            n = args.n or KINDS[model_id].default_n
            print(f"{model_id}: {n} {KINDS[model_id].unit} ...", flush=True)
            results["models"][model_id] = bench_model(model_id, args.size, n, args.repeats, Path(tmp),
                                                      args.weights_dir, args.frames, args.frame_size,
                                                      args.peak_size)
            gc.collect()
    results["load_average_after"] = os.getloadavg()
    report("bench_kinds", results, args.out)
    return results


if __name__ == "__main__":
    main()
