"""One test at BERG 2.0's real size: 250 PCA components over 460,800 features (about 1 GB of float64)."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from berg_core import BERG

from .eeg_reference import (
    MODEL_ID,
    assert_matches_reference,
    load_pickled,
    reference_eeg,
    reference_features,
    train_transform_reference,
    weights_path,
    write_store,
)


def _rss() -> int:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRSS:
    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


@pytest.mark.slow
def test_full_size_model(tmp_path, vit_hub, shared_backbone, extractor, images):
    write_store(tmp_path, [1])  # 250 components, float64 as sklearn saves them
    path = weights_path(tmp_path, 1)
    weights = load_pickled(path)
    assert weights["pca_param"]["components_"].shape == (250, 460_800)
    x = images[:2]
    expected = reference_eeg(reference_features(extractor, train_transform_reference(x)), weights)
    del weights
    gc.collect()

    berg = BERG(tmp_path)
    with _PeakRSS() as mem:
        model = berg.get_encoding_model(MODEL_ID, subject=1, device="cpu")
    # the float64 components must never sit in memory next to their float32 fold (1.5x the file)
    assert mem.peak - mem.base < 1.2 * path.stat().st_size
    with model:
        assert model.readout.projection.weight.shape == (250, 460_800)
        result = berg.encode(model, x, show_progress=False)
    assert result.shape == (2, 4, 63, 140)
    assert_matches_reference(result.values, expected)
