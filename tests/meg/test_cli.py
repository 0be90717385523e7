"""``berg encode`` runs the MEG model from the command line: selection, train_splits, Zarr result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .meg_reference import MODEL_ID


def test_berg_encode_with_selection_and_train_splits(meg_store: Path, hub_weights: Path, tmp_path: Path, images,
                                                     full_single):
    from berg_core.cli.main import main

    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(folder / f"img{i}.png")
    out = tmp_path / "run.zarr"
    rc = main(["encode", MODEL_ID, str(folder), "-o", str(out), "--subject", "1", "--berg-dir", str(meg_store),
               "--select", "region=Occipital,Central", "--select", "timepoints=[0.1, 0.2]",
               "--option", "train_splits=single", "--backbone-weights", str(hub_weights), "--device", "cpu",
               "--no-progress"])
    assert rc == 0
    from berg_core import BERG

    found = BERG.open_results(out)
    [r] = found.values()  # one model and subject: the result sits at the store root
    assert r.attrs["model_id"] == MODEL_ID and r.attrs["train_splits"] == "single"
    r = r.load()
    assert r.dims == ("stimulus", "split", "sensor", "time")
    assert set(r["region"].values) == {"Occipital", "Central"}
    np.testing.assert_allclose(r["time"].values, [0.1, 0.2])
    keep = np.flatnonzero(np.isin(full_single["region"].values, ["Occipital", "Central"]))
    expected = full_single.values[:, :, keep][:, :, :, [40, 60]]
    # the PNG round trip keeps the pixels, so the values equal the in-memory encode of the same images
    np.testing.assert_allclose(r.values, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert r["ncsnr"].dims == ("sensor", "time")
