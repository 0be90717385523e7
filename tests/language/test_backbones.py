"""GPT-2 XL and OPT-1.3B as contributed folder backbones: where the weights come from, the errors,
and hidden states equal to an independent float64 NumPy forward pass of the same tiny random models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from berg_language_backbones.specs import GPT2_XL, OPT_1_3B, SYNTHETIC_WIDTH

from berg_core.backbones.loading import get_backbone, resolve_weights, write_synthetic_weights
from berg_core.errors import IntegrityError, InvalidParameterError, ModelLoadError
from berg_core.registry.manager import get_plugin_manager
from berg_core.store.model_store import Store

from .lm_reference import bpe_encode, gpt2_hidden_state, opt_hidden_state

TEXTS = ["the cat sat on the mat.", "Running 42 tests, it's raining!", " leading space and  double"]


@pytest.fixture()
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_the_plugin_contributes_both_backbones_as_folders() -> None:
    registry = get_plugin_manager().registry
    for spec in (GPT2_XL, OPT_1_3B):
        got = registry.backbone(spec.name).spec
        assert got is spec and got.folder and got.store_path == f"backbones/{spec.filename}"
        assert got.synthetic_n_features == SYNTHETIC_WIDTH


def test_the_tiny_tokenizer_is_the_textbook_byte_level_bpe(gpt2_folder: Path, opt_folder: Path) -> None:
    gpt2 = get_backbone(GPT2_XL, "cpu", gpt2_folder)
    opt = get_backbone(OPT_1_3B, "cpu", opt_folder)
    for text in TEXTS:
        assert gpt2.tokenizer.encode(text) == bpe_encode(gpt2_folder, text)
        assert opt.tokenizer.encode(text, add_special_tokens=False) == bpe_encode(opt_folder, text)
        assert opt.tokenizer(text)["input_ids"] == [2, *bpe_encode(opt_folder, text)]  # OPT prepends </s>


@pytest.mark.parametrize("layer", [0, 1, 22, 24, 47, 48])
def test_gpt2_hidden_states_equal_the_float64_reference(gpt2_folder: Path, layer: int) -> None:
    backbone = get_backbone(GPT2_XL, "cpu", gpt2_folder)
    assert (backbone.n_features, backbone.n_layers) == (16, 48)  # from the folder's config, not the spec
    ids = bpe_encode(gpt2_folder, TEXTS[1])
    got = backbone.hidden_state(torch.tensor([ids]), layer)[0].numpy()
    np.testing.assert_allclose(got, gpt2_hidden_state(gpt2_folder, ids, layer), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [0, 18, 24])
def test_opt_hidden_states_equal_the_float64_reference(opt_folder: Path, layer: int) -> None:
    backbone = get_backbone(OPT_1_3B, "cpu", opt_folder)
    assert (backbone.n_features, backbone.n_layers) == (16, 24)
    ids = [2, *bpe_encode(opt_folder, TEXTS[0])]
    got = backbone.hidden_state(torch.tensor([ids]), layer)[0].numpy()
    np.testing.assert_allclose(got, opt_hidden_state(opt_folder, ids, layer), rtol=1e-4, atol=1e-5)


def test_stopping_at_a_layer_gives_what_the_full_pass_gives(gpt2_folder: Path) -> None:
    backbone = get_backbone(GPT2_XL, "cpu", gpt2_folder)
    ids = torch.tensor([bpe_encode(gpt2_folder, TEXTS[0])] * 2)
    full = backbone.model(input_ids=ids, output_hidden_states=True).hidden_states
    for layer in (3, 22, 48):
        torch.testing.assert_close(backbone.hidden_state(ids, layer), full[layer], rtol=0, atol=0)


def test_the_width_and_layers_are_checked(gpt2_folder: Path) -> None:
    backbone = get_backbone(GPT2_XL, "cpu", gpt2_folder)
    backbone.check_width(16, "the read-out")
    with pytest.raises(IntegrityError, match=r"the read-out reads 1600 features, but the GPT-2 XL backbone .* gives 16"):
        backbone.check_width(1600, "the read-out")
    with pytest.raises(IntegrityError, match=r"hidden state 49 does not exist: .* has 48 layers"):
        backbone.hidden_state(torch.tensor([[1, 2]]), 49)
    with pytest.raises(InvalidParameterError, match=r"200 tokens exceed the 128 positions"):
        backbone.hidden_state(torch.zeros((1, 200), dtype=torch.long), 1)


def test_one_instance_per_folder_and_device(gpt2_folder: Path) -> None:
    assert get_backbone(GPT2_XL, "cpu", gpt2_folder) is get_backbone(GPT2_XL, torch.device("cpu"), str(gpt2_folder))


def test_missing_weights_say_how_to_get_them_and_never_download(empty_hf_cache: Path) -> None:
    for spec, repo in ((GPT2_XL, "openai-community/gpt2-xl"), (OPT_1_3B, "facebook/opt-1.3b")):
        with pytest.raises(ModelLoadError) as err:
            resolve_weights(spec)
        text = str(err.value)
        assert f"huggingface-cli download {repo}" in text and f"snapshot_download('{repo}')" in text
        assert "Hugging Face cache" in text and "backbone_weights=" in text and "never downloads" in text
    assert not any(empty_hf_cache.iterdir())  # nothing was fetched


def test_the_local_hugging_face_cache_is_found(empty_hf_cache: Path, gpt2_folder: Path) -> None:
    # the cache layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/<commit>/...}
    repo = empty_hf_cache / "models--openai-community--gpt2-xl"
    commit = "0" * 40
    shutil.copytree(gpt2_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    source = resolve_weights(GPT2_XL)
    assert source.path == str(repo / "snapshots" / commit) and "Hugging Face cache" in source.description
    assert get_backbone(GPT2_XL, "cpu").n_layers == 48


def test_a_cached_config_without_weights_is_not_a_model(empty_hf_cache: Path, gpt2_folder: Path) -> None:
    snap = empty_hf_cache / "models--gpt2-xl" / "snapshots" / ("1" * 40)
    snap.mkdir(parents=True)
    shutil.copy(gpt2_folder / "config.json", snap)
    (empty_hf_cache / "models--gpt2-xl" / "refs").mkdir()
    (empty_hf_cache / "models--gpt2-xl" / "refs" / "main").write_text("1" * 40)
    with pytest.raises(ModelLoadError, match="were not found"):
        resolve_weights(GPT2_XL)


def test_bad_explicit_folders_are_refused(tmp_path: Path, gpt2_folder: Path, opt_folder: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"is not a folder; expected the path of the gpt2-xl model folder"):
        resolve_weights(GPT2_XL, gpt2_folder / "config.json")
    with pytest.raises(InvalidParameterError, match="must be the path of"):
        resolve_weights(GPT2_XL, 3)  # type: ignore[arg-type]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"(?s)is not a GPT-2 XL model folder: it needs config.json .*huggingface-cli"):
        get_backbone(GPT2_XL, "cpu", tmp_path / "empty")
    with pytest.raises(IntegrityError, match=r"holds a 'opt' model, not GPT-2 XL"):
        get_backbone(GPT2_XL, "cpu", opt_folder)


def test_non_finite_weights_are_refused(tmp_path: Path, gpt2_folder: Path) -> None:
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(gpt2_folder, bad)
    tensors = load_file(str(bad / "model.safetensors"))
    tensors["h.3.mlp.c_fc.weight"][0, 0] = np.nan
    save_file(tensors, str(bad / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(IntegrityError, match=r"'h.3.mlp.c_fc.weight' holds NaN"):
        get_backbone(GPT2_XL, "cpu", bad)


def test_synthetic_copies_are_seeded_tiny_real_depth_models_read_from_the_store(tmp_path: Path) -> None:
    state = torch.random.get_rng_state()
    paths = [write_synthetic_weights(spec, tmp_path / "a", seed=3) for spec in (GPT2_XL, OPT_1_3B)]
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is left alone
    assert paths == ["backbones/gpt2-xl", "backbones/opt-1.3b"]
    write_synthetic_weights(GPT2_XL, tmp_path / "b", seed=3)
    write_synthetic_weights(GPT2_XL, tmp_path / "c", seed=4)
    a, b, c = ((tmp_path / x / paths[0] / "model.safetensors").read_bytes() for x in "abc")
    assert a == b != c
    assert not list((tmp_path / "a" / "backbones").glob("*.part"))
    store = Store(str(tmp_path / "a"))
    source = resolve_weights(GPT2_XL, None, store)
    assert source.store is store and "store" in source.description
    gpt2 = get_backbone(GPT2_XL, "cpu", None, store)
    opt = get_backbone(OPT_1_3B, "cpu", None, store)
    assert (gpt2.n_features, gpt2.n_layers, opt.n_features, opt.n_layers) == (SYNTHETIC_WIDTH, 48, SYNTHETIC_WIDTH, 24)
    ids = bpe_encode(tmp_path / "a" / paths[0], TEXTS[0])
    np.testing.assert_allclose(gpt2.hidden_state(torch.tensor([ids]), 22)[0].numpy(),
                               gpt2_hidden_state(tmp_path / "a" / paths[0], ids, 22), rtol=1e-4, atol=1e-5)


def test_hf_hub_offline_is_never_needed(gpt2_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # with the network forbidden to huggingface_hub, a folder loads the same
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert get_backbone(GPT2_XL, "cpu", gpt2_folder).n_layers == 48
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_threads_sharing_the_backbone_each_get_their_own_layer(gpt2_folder: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    backbone = get_backbone(GPT2_XL, "cpu", gpt2_folder)
    ids = torch.tensor([bpe_encode(gpt2_folder, TEXTS[1])] * 3)
    layers = [22, 24, 3, 47, 22, 24, 3, 47] * 3
    want = {layer: backbone.hidden_state(ids, layer) for layer in set(layers)}
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda layer: backbone.hidden_state(ids, layer), layers))
    for layer, out in zip(layers, got, strict=True):
        torch.testing.assert_close(out, want[layer], rtol=0, atol=0)
