"""Damaged or hostile store files: clear BERG errors, and nothing from a file ever runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from berg_fmri_nsd.synthetic import write_fsaverage_store, write_fwrf_store

from berg_core.errors import IntegrityError, StoreError

from .helpers import FSAVERAGE_DIR, FWRF_DIR, fwrf_checkpoint

FWRF = "fmri-nsd-fwrf"


class Payload:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> Any:
        return (self.func, self.args)


@pytest.fixture
def fwrf_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    write_fwrf_store(root, [1], seed=3, rois=["V1", "ventral"], volume_shape=(6, 7, 5), n_voxels=9)
    return root


def _edit_checkpoint(root: Path, roi: str, edit: Callable[[dict[str, Any]], None], split: int | None = None) -> None:
    ckpt = fwrf_checkpoint(root, 1, roi, split)
    edit(ckpt)
    suffix = f"_split-{split}" if split else ""
    torch.save(ckpt, root / FWRF_DIR / "encoding_models_weights" / f"weights_sub-01_roi-{roi}{suffix}.pt")


def _encode(make_berg: Any, root: Path, roi: str = "V1") -> Any:
    berg = make_berg(root)
    model = berg.get_encoding_model(FWRF, subject=1, selection={"roi": roi}, device="cpu")
    imgs = np.random.default_rng(0).integers(0, 256, (2, 3, 50, 50), dtype=np.uint8)
    return berg.encode(model, imgs, show_progress=False)


def test_payload_in_ignored_entries_is_inert(make_berg: Any, fwrf_root: Path, tmp_path: Path) -> None:
    clean = _encode(make_berg, fwrf_root)
    marker = tmp_path / "pwned"

    def poison(ckpt: dict[str, Any]) -> None:
        ckpt["args"].callback = Payload(os.system, f"touch {marker}")
        ckpt["trn_hist"] = [Payload(eval, f"open({str(marker)!r}, 'w')")]

    _edit_checkpoint(fwrf_root, "V1", poison)
    np.testing.assert_array_equal(_encode(make_berg, fwrf_root).values, clean.values)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda c, p: c.__setitem__("stim_mean", p), r"entry \['stim_mean'\] holds an object of type posix.system"),
        (lambda c, p: c["best_params"]["enc"].__setitem__("pre.conv1.0.weight", p), r"entry \['best_params'\]\['enc'\]\['pre.conv1.0.weight'\] holds an object"),
        (lambda c, p: c["best_params"]["fwrfs"][1].__setitem__("w", p), r"entry \['best_params'\]\['fwrfs'\]\[1\]\['w'\] holds an object"),
    ],
)
def test_payload_in_used_entries_is_refused(make_berg: Any, fwrf_root: Path, tmp_path: Path, where: Any, message: str) -> None:
    marker = tmp_path / "pwned"
    _edit_checkpoint(fwrf_root, "V1", lambda c: where(c, Payload(os.system, f"touch {marker}")))
    with pytest.raises(IntegrityError, match=message):
        _encode(make_berg, fwrf_root)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["best_params"]["enc"].pop("enc.conv4a.bn1.running_var"),
         r"best_params\['enc'\] does not match the documented fwRF architecture.*Missing key\(s\).*enc.conv4a.bn1.running_var"),
        (lambda c: c["best_params"]["fwrfs"][1].__setitem__("rf1", torch.zeros(9, 27, 27)),
         r"best_params\['fwrfs'\]\[1\] does not match.*size mismatch for rf1"),
        (lambda c: c["best_params"]["fwrfs"].__setitem__(2, c["best_params"]["fwrfs"].pop(1)),
         r"best_params\['fwrfs'\] has no read-out for subject 1 \(it has \[2\]\)"),
        (lambda c: c.__setitem__("stim_mean", np.zeros(3, np.float32)), r"stim_mean has shape \(3,\), expected \(1, 3, 1, 1\)"),
        (lambda c: c.pop("best_params"), r"has no entry \['best_params'\]; entries at that level: 'args', 'stim_mean'"),
    ],
)
def test_damaged_checkpoints(make_berg: Any, fwrf_root: Path, edit: Any, message: str) -> None:
    _edit_checkpoint(fwrf_root, "V1", edit)
    with pytest.raises(IntegrityError, match=message):
        _encode(make_berg, fwrf_root)


def test_voxel_count_must_match_the_mask(make_berg: Any, fwrf_root: Path) -> None:
    def drop_voxel(c: dict[str, Any]) -> None:
        c["best_params"]["fwrfs"][1] = {k: v[:-1] for k, v in c["best_params"]["fwrfs"][1].items()}

    _edit_checkpoint(fwrf_root, "ventral", drop_voxel, split=2)
    with pytest.raises(IntegrityError, match=r"checkpoint\(s\) of ROI ventral \(subject 1\) predict 8 voxels, but its roi_mask_volume holds 9"):
        _encode(make_berg, fwrf_root, "ventral")


def test_missing_files_are_store_errors(make_berg: Any, fwrf_root: Path) -> None:
    (fwrf_root / FWRF_DIR / "encoding_models_weights" / "weights_sub-01_roi-ventral_split-2.pt").unlink()
    with pytest.raises(StoreError, match=r"missing file in store: .*weights_sub-01_roi-ventral_split-2.pt"):
        _encode(make_berg, fwrf_root, "ventral")
    with pytest.raises(StoreError, match=r"missing file in store: .*metadata_sub-01_roi-FFA-1.npy"):
        _encode(make_berg, fwrf_root, "FFA-1")


def test_damaged_fsaverage_files(make_berg: Any, tmp_path: Path, store_root: Path, vit: Path) -> None:
    root = tmp_path / "fs"
    write_fsaverage_store(root, [1], seed=1, n_components=2)
    weights = root / FSAVERAGE_DIR / "encoding_models_weights" / "weights_subject-01.npy"
    data = np.load(weights, allow_pickle=True).item()
    data["rh_reg_param"]["coef_"] = data["rh_reg_param"]["coef_"][:, :1]
    np.save(weights, np.array(data, dtype=object), allow_pickle=True)
    berg = make_berg(root)
    with pytest.raises(IntegrityError, match=r"rh_reg_param/coef_ rows have shape \(1,\), expected \(2,\)"):
        berg.get_encoding_model("fmri-nsd_fsaverage-vit_b_32", subject=1, device="cpu")
    data["rh_reg_param"]["coef_"] = np.zeros((100, 2), np.float32)  # fewer vertices than fsaverage has
    np.save(weights, np.array(data, dtype=object), allow_pickle=True)
    with pytest.raises(IntegrityError, match=r"rh_reg_param/coef_ has fewer than the 163842 rows"):
        berg.get_encoding_model("fmri-nsd_fsaverage-vit_b_32", subject=1, selection={"rh_vertices": [5, 163_000]}, device="cpu")
    shutil.copy(store_root / FSAVERAGE_DIR / "metadata" / "metadata_subject-02.npy",
                root / FSAVERAGE_DIR / "metadata" / "metadata_subject-02.npy")
    with pytest.raises(StoreError, match=r"missing file in store: .*weights_subject-02.npy"):
        berg.get_encoding_model("fmri-nsd_fsaverage-vit_b_32", subject=2, selection={"roi": "V1"}, device="cpu")
