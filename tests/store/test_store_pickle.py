"""A model of an S3 store pickles as its settings and loads again from the local cache."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from berg_core import BERG

from .conftest import FWRF, s3_options

STIMULI = np.random.default_rng(8).integers(0, 256, size=(2, 3, 227, 227), dtype=np.uint8)


def test_s3_model_and_facade_round_trip(s3: Any, s3_stores: dict[str, str], tmp_path: Path) -> None:
    berg = BERG(s3_stores["native"], storage_options=s3_options(s3), cache_dir=tmp_path / "cache")
    model = berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")
    expected = berg.encode(model, STIMULI, show_progress=False).values
    facade, data = pickle.loads(pickle.dumps(berg)), pickle.dumps(model)
    assert facade.store.storage_options == berg.store.storage_options
    assert facade.store.cache.folder == berg.store.cache.folder
    s3.reset_log()
    back = pickle.loads(data)
    assert back.store.url == s3_stores["native"]
    assert s3.bytes_sent() < 4096  # the weights came from the cache, not the bucket
    np.testing.assert_array_equal(facade.encode(back, STIMULI, show_progress=False).values, expected)
