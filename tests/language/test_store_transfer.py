"""A folder backbone travels with its models: berg download and berg convert copy every file of the model folder,
and the copies load from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from berg_core import BERG
from berg_core.plugin import write_synthetic_store

MODEL_ID = "fmri-tuckute_2024-GPT2_XL"
SENTENCES = ["The cat sat on the mat.", "in"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("berg_fmri_tuckute")
    root = tmp_path_factory.mktemp("with_backbone")
    write_synthetic_store(root, models=[MODEL_ID], seed=0)  # the GPT-2 XL folder is written beside the model
    return root


def test_download_copies_the_model_folder(synthetic: Path, tmp_path: Path) -> None:
    from berg_core.workflows.download import download_model

    report = download_model(MODEL_ID, dest=tmp_path / "copy", berg_dir=str(synthetic), show_progress=False)
    folder = sorted(p.name for p in (synthetic / "backbones" / "gpt2-xl").iterdir())
    assert {f"backbones/gpt2-xl/{name}" for name in folder} <= set(report.fetched)
    want = BERG(synthetic).encode(BERG(synthetic).get_encoding_model(MODEL_ID, device="cpu"), SENTENCES, show_progress=False)
    copy = BERG(tmp_path / "copy")
    got = copy.encode(copy.get_encoding_model(MODEL_ID, device="cpu"), SENTENCES, show_progress=False)
    np.testing.assert_array_equal(got.values, want.values)


def test_convert_copies_the_model_folder(synthetic: Path, tmp_path: Path) -> None:
    from berg_core.workflows.convert import convert_store

    report = convert_store(str(synthetic), str(tmp_path / "zarr"), models=[MODEL_ID], show_progress=False)
    assert "backbones/gpt2-xl/model.safetensors" in report.copied
    assert (tmp_path / "zarr" / "backbones" / "gpt2-xl" / "config.json").is_file()
    want = BERG(synthetic).encode(BERG(synthetic).get_encoding_model(MODEL_ID, device="cpu"), SENTENCES, show_progress=False)
    conv = BERG(tmp_path / "zarr")
    got = conv.encode(conv.get_encoding_model(MODEL_ID, device="cpu"), SENTENCES, show_progress=False)
    np.testing.assert_array_equal(got.values, want.values)
