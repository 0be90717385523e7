"""``berg demo`` runs the language models offline: the synthetic store carries a tiny GPT-2 XL folder
(48 layers, 32 wide) and read-outs as wide; their outputs equal the float64 reference on the demo stimuli."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from berg_core.demo.run import run_demo
from berg_core.demo.stimuli import demo_stimuli
from berg_core.plugin import Store, read_metadata
from berg_core.results.groups import open_results

TUCKUTE, ZADA = "fmri-tuckute_2024-GPT2_XL", "ecog-zada2025-gpt2_xl"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("berg_fmri_tuckute")
    pytest.importorskip("berg_ecog_zada")
    return run_demo(cache_dir=tmp_path_factory.mktemp("demo"), models=[TUCKUTE, ZADA])


def test_the_demo_encodes_sentences_and_stories_offline(report) -> None:  # type: ignore[no-untyped-def]
    results = open_results(report.paths.results)
    assert sorted(results) == [f"{ZADA}/subject-01", TUCKUTE]
    stories = demo_stimuli("timed_words").stories()
    zada = results[f"{ZADA}/subject-01"]
    assert zada.sizes["word"] == sum(len(s) for s in stories) and zada.sizes["lag"] == 129
    assert results[TUCKUTE].sizes["stimulus"] == len(demo_stimuli("sentences").texts())
    assert sorted(p.name for p in report.paths.pictures.iterdir()) == sorted(
        [f"{ZADA}_subject-01.png", f"{TUCKUTE}.png"])
    assert "sentences/s" in report.summary() and "words/s" in report.summary()


def test_the_demo_zada_rows_equal_the_reference(report) -> None:  # type: ignore[no-untyped-def]
    from tests.zada.zada_reference import reference

    store = report.paths.store
    folder = Path(store) / "backbones" / "gpt2-xl"
    weights = read_metadata(Store(str(store)), "encoding_models/modality-ecog/train_dataset-zada2025/model-gpt2_xl/"
                                               "encoding_models_weights/weights_sub-01.npy")
    story = demo_stimuli("timed_words").stories()[0]
    got = open_results(report.paths.results)[f"{ZADA}/subject-01"].values[: len(story)]
    want = reference(folder, list(story.words), weights)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
