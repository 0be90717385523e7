"""ecog-zada2025-gpt2_xl takes plain word lists, as upstream does (its card says ``word_onsets: optional``).

A list of words is one story whose onsets are unknown: the responses equal the float64 reference and the
rows of the same words given with onsets; only the ``onset`` coordinate differs (NaN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from berg_ecog_zada.layout import MODEL_ID

from berg_core import BERG
from berg_core.errors import BERGError

from .conftest import N_ELECTRODES
from .zada_reference import reference

WORDS = ["So", "I", "was", "walking", "home", "", "in", "the", "rain"]


def _weights(store: Path, subject: str = "01") -> dict[str, Any]:
    from berg_ecog_zada.layout import weights_relpath

    from berg_core.plugin import Store, read_metadata

    return read_metadata(Store(str(store)), weights_relpath(subject))


def _model(store: Path, folder: Path, subject: Any = "01") -> Any:
    return BERG(store).get_encoding_model(MODEL_ID, subject=subject, device="cpu", backbone_weights=str(folder))


def test_the_card_says_onsets_are_optional() -> None:
    from berg_core.registry.manager import manager_of

    assert manager_of(None).registry.get(MODEL_ID).card.word_onsets == "optional"


def test_a_list_of_words_is_one_story_equal_to_the_reference(store: Path, gpt2_folder: Path) -> None:
    model = _model(store, gpt2_folder)
    got = BERG(store).encode(model, WORDS, show_progress=False)
    assert got.dims == ("word", "electrode", "lag") and got.shape == (len(WORDS), N_ELECTRODES, 129)
    want = reference(gpt2_folder, WORDS, _weights(store))
    np.testing.assert_allclose(got.values, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert got["stimulus"].values.tolist() == [0] * len(WORDS)
    assert got["word_index"].values.tolist() == list(range(len(WORDS)))
    assert got["text"].values.tolist() == WORDS
    assert np.isnan(got["onset"].values).all()
    timed = BERG(store).encode(model, {"word": WORDS, "onset": 0.3 * np.arange(len(WORDS))}, show_progress=False)
    np.testing.assert_array_equal(got.values, timed.values)  # the onsets never enter the math


def test_several_word_lists_and_ids(store: Path, gpt2_folder: Path) -> None:
    model = _model(store, gpt2_folder)
    got = BERG(store).encode(model, [WORDS[:4], WORDS[4:]], stimulus_ids=["a", "b"], batch_size=1, show_progress=False)
    assert got["stimulus"].values.tolist() == ["a"] * 4 + ["b"] * (len(WORDS) - 4)
    alone = BERG(store).encode(model, WORDS[4:], show_progress=False)
    np.testing.assert_array_equal(got.values[4:], alone.values)  # a story's context is its own words only


def test_words_without_onsets_stream_into_zarr_and_resume(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    model = _model(store, gpt2_folder)
    memory = BERG(store).encode(model, [WORDS, ["Hello", "world"]], show_progress=False)
    out = tmp_path / "words.zarr"
    BERG(store).encode(model, [WORDS, ["Hello", "world"]], store=out, show_progress=False)
    # the store recognises the same stories (NaN onsets included) as a finished computation
    with pytest.raises(BERGError, match="already holds the complete result of this computation"):
        BERG(store).encode(model, [WORDS, ["Hello", "world"]], store=out, show_progress=False)
    on_disk = xr.open_zarr(out)["ecog"]
    np.testing.assert_array_equal(on_disk.values, memory.values)
    assert np.isnan(on_disk["onset"].values).all()
    assert on_disk["text"].values.tolist() == memory["text"].values.tolist()


# ---- a model that needs onsets (LeBel 2023) keeps refusing plain words -----------------------------------------
NEEDS_ONSETS = r"'So' is not a .tsv file \(words need onsets: give a table, not a list of words\)"


@pytest.fixture(scope="module")
def lebel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny random OPT folder and a seeded LeBel store (one subject), as tests/lebel writes them."""
    import torch
    from berg_fmri_lebel.layout import MODEL_ID as LEBEL_ID
    from berg_language_backbones.tiny import write_tiny_opt

    from berg_core.plugin import write_synthetic_store

    root = tmp_path_factory.mktemp("lebel_for_zada")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        write_tiny_opt(root / "opt-1.3b", num_hidden_layers=24, hidden_size=16, num_attention_heads=2, ffn_dim=32,
                       max_position_embeddings=1024)
    write_synthetic_store(root / "store", models=[LEBEL_ID], subjects=["UTS01"], seed=0, backbone=False,
                          options={LEBEL_ID: {"n_features": 16, "n_voxels": 12, "geometry": False}})
    return root / "store", root / "opt-1.3b"


def _lebel_model(lebel: tuple[Path, Path], berg: Any = None) -> Any:
    from berg_fmri_lebel.layout import MODEL_ID as LEBEL_ID

    root, folder = lebel
    return (berg or BERG(root)).get_encoding_model(LEBEL_ID, subject="UTS01", device="cpu", backbone_weights=str(folder))


def test_lebel_still_refuses_a_list_of_words(lebel: tuple[Path, Path]) -> None:
    from berg_core.errors import StimulusError

    model = _lebel_model(lebel)
    assert model.card.word_onsets is None
    with pytest.raises(StimulusError, match=NEEDS_ONSETS):
        BERG(lebel[0]).encode(model, WORDS, show_progress=False)
    with pytest.raises(StimulusError, match="has no column 'onset'"):
        BERG(lebel[0]).encode(model, {"word": WORDS}, show_progress=False)


def test_one_model_that_needs_onsets_makes_them_required_for_the_call(
        store: Path, gpt2_folder: Path, lebel: tuple[Path, Path]) -> None:
    from berg_core.errors import StimulusError

    zada, model = _model(store, gpt2_folder), _lebel_model(lebel)
    with pytest.raises(StimulusError, match=NEEDS_ONSETS):
        BERG(store).encode([zada, model], WORDS, show_progress=False)


def test_berg_encode_reads_word_files_without_onsets(store: Path, gpt2_folder: Path, tmp_path: Path,
                                                     lebel: tuple[Path, Path]) -> None:
    from berg_core.cli.main import main

    spoken = [w for w in WORDS if w]  # a blank line of a one-column file is no row
    words = tmp_path / "words.tsv"
    words.write_text("word\n" + "\n".join(spoken) + "\n", encoding="utf-8")
    out = tmp_path / "run.zarr"
    rc = main(["encode", MODEL_ID, str(words), "-o", str(out), "--subject", "01", "--berg-dir", str(store),
               "--backbone-weights", str(gpt2_folder), "--device", "cpu", "--no-progress"])
    assert rc == 0
    [got] = BERG.open_results(out).values()
    want = BERG(store).encode(_model(store, gpt2_folder), spoken, show_progress=False)
    np.testing.assert_array_equal(got.values, want.values)
    assert got["stimulus"].values.tolist() == ["words"] * len(spoken) and np.isnan(got["onset"].values).all()
    # a model that needs onsets refuses the same file
    from berg_fmri_lebel.layout import MODEL_ID as LEBEL_ID

    rc = main(["encode", LEBEL_ID, str(words), "-o", str(tmp_path / "lebel.zarr"), "--subject", "UTS01",
               "--berg-dir", str(lebel[0]), "--backbone-weights", str(lebel[1]), "--device", "cpu", "--no-progress"])
    assert rc != 0 and not (tmp_path / "lebel.zarr").exists()
