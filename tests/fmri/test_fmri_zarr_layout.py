"""The plugin reads stores only through core's layout-agnostic readers: a Zarr conversion gives the same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from berg_fmri_nsd.synthetic import write_fsaverage_store, write_fwrf_store


def test_converted_store_gives_identical_results(tmp_path: Path, make_berg: Any, plugin_manager: Any, vit: Path) -> None:
    from berg_core.workflows.convert import convert_store

    src, dst = tmp_path / "berg2", tmp_path / "zarr"
    write_fsaverage_store(src, [1], seed=4, n_components=3)
    write_fwrf_store(src, [1], seed=4, rois=["V1", "ventral"], volume_shape=(6, 6, 5), n_voxels=6)
    convert_store(str(src), str(dst), plugin_manager=plugin_manager, show_progress=False)
    assert not list(dst.rglob("weights_subject-01.npy")) and list(dst.rglob("weights_subject-01.zarr"))
    imgs = np.random.default_rng(2).integers(0, 256, (2, 3, 60, 80), dtype=np.uint8)
    results = []
    for root in (src, dst):
        berg = make_berg(root)
        surface = berg.get_encoding_model("fmri-nsd_fsaverage-vit_b_32", subject=1, selection={"roi": ["V2", "FFA-1"]}, device="cpu")
        volume = berg.get_encoding_model("fmri-nsd-fwrf", subject=1, selection={"roi": ["ventral", "V1"]}, device="cpu")
        results.append([berg.encode(m, imgs, show_progress=False) for m in (surface, volume)])
        results[-1].append(berg.get_model_metadata("fmri-nsd-fwrf", subject=1, roi="V1")["fmri"]["roi_mask_volume"])
    for a, b in zip(*results, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(a.values, b.values)
            for name in a.coords:
                np.testing.assert_array_equal(a[name].values, b[name].values)
