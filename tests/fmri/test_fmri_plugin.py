"""Registration, cards, and the fwRF modules' documented structure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from berg_fmri_nsd import layout
from berg_fmri_nsd.fwrf_network import FwrfImageNet, FwrfReadout

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
BLOCKS = ("conv4a", "conv4b", "conv5a", "conv5b", "conv6a", "conv6b")


def test_entry_point_registers_both_models() -> None:
    from berg_core.registry.manager import PluginManager

    pm = PluginManager()
    pm.load_entrypoint_plugins()
    ids = pm.registry.ids()
    assert {"fmri-nsd_fsaverage-vit_b_32", "fmri-nsd-fwrf"} <= set(ids)
    assert pm.registry.get("fmri-nsd-fwrf").plugin_name == "fmri_nsd"


def test_loading_the_plugin_imports_neither_torch_nor_nibabel() -> None:
    code = "import sys, berg_fmri_nsd.plugin as p; p.berg_model_cards(); print('torch' in sys.modules, 'nibabel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_cards_agree_with_the_store_layout(fsaverage_card: Any, fwrf_card: Any) -> None:
    assert layout.fsaverage_weights_path(3) == f"{fsaverage_card.store_path}/encoding_models_weights/weights_subject-03.npy"
    assert layout.fwrf_weight_paths(2, "ventral") == [
        f"{fwrf_card.store_path}/encoding_models_weights/weights_sub-02_roi-ventral_split-{i}.pt" for i in (1, 2)]
    assert layout.fwrf_metadata_path(1, "V1") == f"{fwrf_card.store_path}/metadata/metadata_sub-01_roi-V1.npy"
    fs_roi = next(k for k in fsaverage_card.selection_keys if k.name == "roi")
    assert fs_roi.valid_values == [*layout.FSAVERAGE_ROI_UNIONS, *layout.FSAVERAGE_ROIS]
    assert next(k for k in fwrf_card.selection_keys if k.name == "roi").valid_values == list(layout.FWRF_ROIS)


def test_describe(berg: Any) -> None:
    info = berg.describe("fmri-nsd-fwrf", print_output=False)
    assert info["model_info"]["subjects"] == list(range(1, 9)) and "roi" in info["parameters"]


def test_image_network_state_dict_keys_are_the_documented_ones() -> None:
    expected = ["mu", "pre.conv1.0.weight", "pre.conv1.0.bias", "pre.conv2.0.weight", "pre.conv2.0.bias",
                *(f"enc.bn1.{p}" for p in BN), "enc.conv3.weight", "enc.conv3.bias"]
    for b in BLOCKS:
        expected += [*(f"enc.{b}.bn1.{p}" for p in BN), f"enc.{b}.conv1.weight", f"enc.{b}.conv1.bias"]
    state = FwrfImageNet().state_dict()
    assert sorted(state) == sorted(expected)
    assert state["mu"].shape == (1, 3, 1, 1)
    assert state["pre.conv1.0.weight"].shape == (64, 3, 11, 11) and state["pre.conv2.0.weight"].shape == (192, 64, 5, 5)
    assert state["enc.conv3.weight"].shape == (128, 192, 3, 3) and state["enc.bn1.running_mean"].shape == (192,)
    assert state["enc.conv6b.conv1.weight"].shape == (64, 128, 3, 3) and state["enc.conv6b.bn1.weight"].shape == (128,)


def test_feature_maps_and_readout_shapes() -> None:
    net = FwrfImageNet().eval()
    with torch.no_grad():
        fmaps = net(torch.rand(2, 3, 227, 227))
    assert [tuple(f.shape) for f in fmaps] == [(2, 256, 27, 27), (2, 256, 25, 25), (2, 256, 13, 13)]
    readout = FwrfReadout(5, voxel_chunk=2)
    assert {k: tuple(v.shape) for k, v in readout.state_dict().items()} == {
        "rf0": (5, 27, 27), "rf1": (5, 25, 25), "rf2": (5, 13, 13), "w": (5, 768), "b": (5,)}


def test_readout_voxel_chunks_and_restriction_agree() -> None:
    g = torch.Generator().manual_seed(1)
    fmaps = [torch.randn(3, 256, s, s, generator=g) for s in (27, 25, 13)]
    whole = FwrfReadout(7, voxel_chunk=7)
    with torch.no_grad():
        for p in whole.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        chunked = FwrfReadout(7, voxel_chunk=3)
        chunked.load_state_dict(whole.state_dict())
        rows = torch.tensor([5, 0, 3])
        torch.testing.assert_close(chunked(fmaps), whole(fmaps))
        torch.testing.assert_close(whole.restricted_to(rows)(fmaps), whole(fmaps)[:, rows])


def test_full_size_v1(tmp_path: Path, make_berg: Any) -> None:
    """Subject 1's real V1 size (1,350 voxels in an 81 x 104 x 83 volume), one image."""
    import numpy as np
    from berg_fmri_nsd.synthetic import write_fwrf_store

    from .helpers import fwrf_checkpoint, fwrf_reference

    write_fwrf_store(tmp_path, [1], seed=2, rois=["V1"])
    berg = make_berg(tmp_path)
    img = np.random.default_rng(1).integers(0, 256, (1, 3, 227, 227), dtype=np.uint8)
    out = berg.encode(berg.get_encoding_model("fmri-nsd-fwrf", subject=1, selection={"roi": "V1"}, device="cpu"), img, show_progress=False)
    assert out.shape == (1, 1350)
    ckpt = fwrf_checkpoint(tmp_path, 1, "V1")
    ref = fwrf_reference(ckpt["best_params"]["enc"], ckpt["best_params"]["fwrfs"][1], torch.from_numpy(img / np.float32(255)).float())
    np.testing.assert_allclose(out.values, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))
