"""benchmarks/bench_kinds.py counts what the language and video backbones compute, and runs end to end.

No timing is asserted (the figures depend on the machine); the FLOP counts are checked against the analytic count of
a GPT-2 (``2 x matrix parameters x tokens`` per block plus the attention's ``4 T^2 d``), and the meta-device stand-in
that counts the real configs against the count of the same model really computed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("transformers")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_kinds.py"
WIDTH, HEADS = 16, 2


@pytest.fixture(autouse=True)
def _keep_torch_threads() -> Any:
    # bench.main(["--threads", "1"]) sets the process's torch threads; later tests compare this process's values
    # with spawned workers' (which start with torch's default), and oneDNN's sums depend on the thread count
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_kinds", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_kinds"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny GPT-2 of GPT-2 XL's 48 blocks (16 wide), built as berg builds the real one."""
    from berg_language_backbones.hf import build_gpt2_xl
    from berg_language_backbones.tiny import write_tiny_gpt2

    folder = tmp_path_factory.mktemp("bench_gpt2") / "gpt2-xl"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        write_tiny_gpt2(folder, n_layer=48, n_embd=WIDTH, n_head=HEADS, n_positions=128)
    return build_gpt2_xl(str(folder), str(folder))


def gpt2_flops(layers: int, d: int, tokens: int) -> int:
    """Analytic FLOPs of ``layers`` GPT-2 blocks on one sequence: 2 x 12 d^2 weights x T, plus QK^T and AV."""
    return layers * (2 * 12 * d * d * tokens + 4 * tokens * tokens * d)


def test_tuckute_flops_per_sentence_equal_the_analytic_count(bench: Any, gpt2: Any) -> None:
    from berg_fmri_tuckute.layout import LAYER
    from berg_fmri_tuckute.model import sentence_features, tokenize

    sentence = "The old cat sat on the green mat."
    (ids,) = tokenize(gpt2, [sentence])
    flops = bench.count_flops(lambda: sentence_features(gpt2, [sentence]))
    # blocks 1..22 run (the early stop at hidden_states[22]); the embeddings and layer norms have no matmuls
    assert flops == gpt2_flops(LAYER, WIDTH, len(ids))


def test_meta_stand_in_counts_what_the_model_computes(bench: Any, gpt2: Any) -> None:
    """Same config, same calls: the stand-in's count equals the real computation's, for each plugin's feature path."""
    from berg_core.stimuli.timed_words import as_timed_words

    stand_in = bench.MetaBackbone(gpt2.model.config, gpt2.tokenizer)
    sentences = bench.make_stimuli(bench.TUCKUTE, 3)
    stories = list(as_timed_words(bench.make_stimuli(bench.ZADA, 5)).stories())
    for model_id, batch in ((bench.TUCKUTE, sentences), (bench.ZADA, stories)):
        fn = bench.feature_fn(model_id)
        real = bench.count_flops(lambda fn=fn, batch=batch: fn(gpt2, batch))
        assert real > 0
        assert bench.count_flops(lambda fn=fn, batch=batch: fn(stand_in, batch)) == real


def test_real_gpt2_xl_config_counted_on_meta(bench: Any, gpt2: Any) -> None:
    """The published GPT-2 XL config: 1600 wide; Zada's 33-token windows through 24 blocks, per token of a story."""
    from berg_ecog_zada.layout import CONTEXT_LENGTH, LAYER
    from berg_ecog_zada.model import word_features

    config = bench.real_config("gpt2_xl", None)
    assert (config.n_embd, config.n_layer) == (1600, 48)
    stand_in = bench.MetaBackbone(config, gpt2.tokenizer)
    words = ["the", "cat"]
    n_tokens = sum(len(gpt2.tokenizer.encode(" " + w)) for w in words)
    flops = bench.count_flops(lambda: word_features(stand_in, words))
    # every token gets its own left-padded window of 33 positions
    assert flops == n_tokens * gpt2_flops(LAYER, 1600, CONTEXT_LENGTH + 1)


def test_bench_runs_end_to_end_on_tiny_language_models(bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import berg_language_backbones.hf as hf

    # no weights in the Hugging Face cache: "auto" takes the synthetic stores' tiny copies and says so
    monkeypatch.setattr(hf, "find_gpt2_xl", lambda: None)
    monkeypatch.setattr(hf, "find_opt_1_3b", lambda: None)
    models = [bench.TUCKUTE, bench.ZADA, bench.LEBEL]
    results = bench.main(["--models", *models, "--n", "3", "--repeats", "1", "--threads", "1", "--peak-size", "128",
                          "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_kinds.json").read_text())
    assert saved["results"]["models"].keys() == set(models)
    assert len(saved["results"]["load_average_before"]) == 3
    for model_id in models:
        r = results["models"][model_id]
        unit = bench.KINDS[model_id].unit
        assert r["config"] == "tiny" and "tiny config" in r["note"]
        assert r["n"] == 3 and r[f"{unit}_per_s"] > 0
        assert r["ratio_to_peak"] == pytest.approx(r[f"{unit}_per_s"] * r["backbone_flops_per_stimulus"]
                                                   / r["matmul_peak_flops"])
        assert r["backbone_flops_per_token"] == pytest.approx(r["backbone_flops_per_stimulus"] / r["tokens_per_stimulus"])
        # the real config is far larger than the 32-wide copy, and bounds the real throughput
        assert r["real_config_flops_per_stimulus"] > 100 * r["backbone_flops_per_stimulus"]
        assert r["real_config_bound_per_s"] == pytest.approx(r["matmul_peak_flops"] / r["real_config_flops_per_stimulus"])


def test_auto_reads_a_given_model_folder(bench: Any, gpt2: Any, tmp_path: Path) -> None:
    """A folder under --weights-dir is used as the real backbone: its own config gives the widths and the FLOPs."""
    import shutil

    shutil.copytree(gpt2.source, tmp_path / "weights" / "gpt2-xl")
    results = bench.main(["--models", bench.TUCKUTE, "--n", "2", "--repeats", "1", "--threads", "1",
                          "--peak-size", "128", "--weights-dir", str(tmp_path / "weights"), "--out", str(tmp_path)])
    r = results["models"][bench.TUCKUTE]
    assert r["config"] == "real" and "real weights from" in r["note"]
    assert "real_config_flops_per_stimulus" not in r  # what ran is the config counted
    from berg_fmri_tuckute.model import tokenize

    # the folder's 16-wide config; both sentences in one pass, padded to the longer
    longest = max(len(ids) for ids in tokenize(gpt2, bench.make_stimuli(bench.TUCKUTE, 2)))
    assert r["backbone_flops_per_stimulus"] == gpt2_flops(22, WIDTH, longest)


def test_bench_runs_s3d_at_real_size(bench: Any, tmp_path: Path) -> None:
    results = bench.main(["--models", bench.BMD, "--n", "1", "--repeats", "1", "--threads", "1", "--frames", "14",
                          "--frame-size", "224", "--peak-size", "128", "--out", str(tmp_path)])
    r = results["models"][bench.BMD]
    assert r["config"] == "real" and r["clips_per_s"] > 0
    # torchvision's S3D on 14 frames of 224 x 224: tens of GFLOPs per clip, counted, not written down
    assert 1e10 < r["backbone_flops_per_stimulus"] < 1e11
    assert (tmp_path / "bench_kinds.json").is_file()


def test_size_real_writes_a_marked_seeded_copy(bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without weights, --size real writes a seeded copy of the architecture, marked and reported as seeded."""
    import berg_language_backbones.hf as hf

    monkeypatch.setattr(hf, "find_gpt2_xl", lambda: None)
    # the architecture shrunk (48 blocks kept) so the test writes kilobytes, not GPT-2 XL's 6 GB
    small = {**bench.PUBLISHED_CONFIGS["gpt2_xl"], "n_embd": 8, "n_head": 2, "n_positions": 64}
    monkeypatch.setitem(bench.PUBLISHED_CONFIGS, "gpt2_xl", small)
    weights = tmp_path / "weights"
    results = bench.main(["--models", bench.TUCKUTE, "--size", "real", "--n", "2", "--repeats", "1", "--threads", "1",
                          "--peak-size", "128", "--weights-dir", str(weights), "--out", str(tmp_path)])
    r = results["models"][bench.TUCKUTE]
    assert (weights / "gpt2-xl" / bench.SEEDED_MARKER).is_file()
    assert r["config"] == "real" and "seeded weights" in r["note"] and "real weights" not in r["note"]
    assert json.loads((weights / "gpt2-xl" / "config.json").read_text())["n_layer"] == 48
