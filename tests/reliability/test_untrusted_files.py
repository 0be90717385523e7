"""Untrusted files: contributed model files and cards are data, never code.

* a ``.npy`` or ``.pt`` whose pickle would run code is refused with an IntegrityError naming the
  file, and the code never runs (a marker file it would create stays absent; NumPy's or torch's
  own unrestricted loading of the same file creates it, which proves each payload is live);
* a truncated or altered weight file is caught (structure and size checks, the CRC-32 of torch's
  archives, and in the Zarr layout each file's SHA-256 in its manifest) with an IntegrityError
  naming it;
* a model card with unknown fields or wrong types is rejected naming the field, whether it is read
  as a file, shipped by a plugin, or checked with ``berg validate``.
"""

from __future__ import annotations

import builtins
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from berg_core import BERG, CardError, IntegrityError, PluginError, hookimpl
from berg_core.cards import load_card
from berg_core.cli import main
from berg_core.store import Store
from berg_core.weights import open_weight_file

from .conftest import EEG, FWRF

ROOT = Path(__file__).resolve().parents[2]
FWRF_DIR = "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf"
FS_DIR = "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
EEG_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"
FWRF_V1 = f"{FWRF_DIR}/encoding_models_weights/weights_sub-01_roi-V1.pt"
FWRF_V1_META = f"{FWRF_DIR}/metadata/metadata_sub-01_roi-V1.npy"
FS_WEIGHTS = f"{FS_DIR}/encoding_models_weights/weights_subject-01.npy"
EEG_META = f"{EEG_DIR}/metadata/metadata_subject-01.npy"


class Payload:
    """Unpickling this calls ``func(*args)``."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> Any:
        return (self.func, self.args)


PAYLOADS: dict[str, Callable[[Path], Payload]] = {
    "os.system": lambda m: Payload(os.system, f"touch {m}"),
    "builtins.open": lambda m: Payload(builtins.open, str(m), "w"),
    "builtins.exec": lambda m: Payload(builtins.exec, f"open({str(m)!r}, 'w').close()"),
    "subprocess.call": lambda m: Payload(subprocess.call, ["touch", str(m)]),
}


@pytest.fixture
def store(store_root: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded store (fwRF V1, fsaverage weights, EEG metadata) to damage."""
    root = tmp_path / "store"
    for rel in (FWRF_V1, FWRF_V1_META, FS_WEIGHTS, EEG_META, f"{FS_DIR}/metadata/metadata_subject-01.npy"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(store_root / rel, root / rel)
    return root


def _edit_npy(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = np.load(path, allow_pickle=True).item()  # the test's own seeded file: trusted here
    edit(data)
    np.save(path, np.array(data, dtype=object), allow_pickle=True)


def _edit_pt(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = torch.load(path, weights_only=False)  # the test's own seeded file: trusted here
    edit(data)
    torch.save(data, path)


def _fwrf(root: Path) -> Any:
    return BERG(root).get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")


# (file, how the payload is planted, how berg reads the file, unrestricted loader that would run it)
HOSTILE = {
    "EEG metadata .npy (get_model_metadata)": (
        EEG_META, lambda d, p: d["encoding_models"].__setitem__("train_img_info", p),
        lambda root: BERG(root).get_model_metadata(EEG, subject=1), "npy"),
    "fsaverage weights .npy (the weight-file reader)": (
        FS_WEIGHTS, lambda d, p: d["pca_param"].__setitem__("n_samples_", p),
        lambda root: open_weight_file(Store(str(root)), FS_WEIGHTS).read("pca_param/components_"), "npy"),
    "fwRF metadata .npy (get_encoding_model)": (
        FWRF_V1_META, lambda d, p: d["fmri"].__setitem__("ncsnr", p), _fwrf, "npy"),
    "fwRF checkpoint .pt, a weight entry (get_encoding_model)": (
        FWRF_V1, lambda d, p: d["best_params"]["enc"].__setitem__("enc.bn1.weight", p), _fwrf, "pt"),
}


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_file_that_would_run_code_is_refused_and_the_code_never_runs(store: Path, tmp_path: Path, case: str, payload: str) -> None:
    rel, plant, read, kind = HOSTILE[case]
    marker = tmp_path / "pwned"
    path = store / rel
    (_edit_npy if kind == "npy" else _edit_pt)(path, lambda d: plant(d, PAYLOADS[payload](marker)))
    with pytest.raises(IntegrityError) as err:
        read(store)
    message = str(err.value)
    assert path.name in message
    assert re.search(r"is unsafe: its pickle asks for|holds an object of type", message), message
    assert re.search(r"Nothing from it was executed|It was not executed", message), message
    assert not marker.exists()
    # the payload is live: the unrestricted loaders run it
    np.load(path, allow_pickle=True) if kind == "npy" else torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_payload_in_an_entry_berg_ignores_never_runs_either(store: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _edit_pt(store / FWRF_V1, lambda d: d.__setitem__("history", {"loss": [1.0], "hook": PAYLOADS["os.system"](marker)}))
    model = _fwrf(store)  # the training history is skipped, not rebuilt
    assert model.n_voxels == 40 and not marker.exists()
    torch.load(store / FWRF_V1, weights_only=False)
    assert marker.exists()


# ---- damaged files ------------------------------------------------------------------------------
def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _flip_bit(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGED = {
    "truncated .pt checkpoint": (FWRF_V1, _truncate, _fwrf,
                                 r"weights_sub-01_roi-V1.pt (is corrupt or truncated|is not a torch checkpoint archive .*or it is truncated)"),
    "a flipped bit in a .pt tensor (CRC-32)": (FWRF_V1, lambda p: _flip_bit(p, 0.6), _fwrf, r"weights_sub-01_roi-V1.pt.*(CRC|corrupt)"),
    "truncated metadata .npy": (FWRF_V1_META, _truncate, _fwrf, r"metadata_sub-01_roi-V1.npy is corrupt or truncated"),
    "truncated weights .npy": (FS_WEIGHTS, lambda p: _truncate(p, 0.3),
                               lambda root: open_weight_file(Store(str(root)), FS_WEIGHTS).read("lh_reg_param/coef_"),
                               r"weights_subject-01.npy is (corrupt or truncated|truncated)"),
    "empty weights .npy": (FS_WEIGHTS, lambda p: p.write_bytes(b""),
                           lambda root: open_weight_file(Store(str(root)), FS_WEIGHTS).read("lh_reg_param/coef_"),
                           r"weights_subject-01.npy"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_file_is_an_integrity_error_naming_it(store: Path, case: str) -> None:
    rel, damage, read, message = DAMAGED[case]
    damage(store / rel)
    with pytest.raises(IntegrityError, match=message) as err:
        read(store)
    assert str(store) in str(err.value) or (store / rel).name in str(err.value)


@pytest.fixture(scope="module")
def native(store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fwRF model converted to berg's Zarr layout: every file listed with its SHA-256."""
    from berg_core.convert import convert_store

    root = tmp_path_factory.mktemp("native")
    convert_store(str(store_root), str(root), models=[FWRF], show_progress=False)
    return root


@pytest.mark.parametrize("what", ["checkpoint", "metadata chunk"])
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_any_change_to_a_file_of_the_zarr_layout_is_caught_by_its_manifest(native: Path, tmp_path: Path, what: str, damage: str) -> None:
    root = tmp_path / "native"
    shutil.copytree(native, root)
    if what == "checkpoint":
        target = root / FWRF_V1
    else:
        target = max((p for p in (root / FWRF_DIR / "metadata").rglob("c/*") if p.is_file()), key=lambda p: p.stat().st_size)
    (_flip_bit if damage == "flip" else _truncate)(target)
    rel = target.relative_to(root).as_posix()
    with pytest.raises(IntegrityError, match=re.escape(rel.rsplit("/", 3)[-1]) + r".*(does not match its manifest|is truncated)"):
        _fwrf(root)


def test_an_undamaged_converted_store_loads(native: Path) -> None:
    assert _fwrf(native).n_voxels == 40  # the damage above is what fails, not the layout


# ---- model cards --------------------------------------------------------------------------------
CARD = ROOT / "plugins" / "berg_fmri_nsd" / "berg_fmri_nsd" / "cards" / "fmri-nsd-fwrf.yaml"

BAD_CARDS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown field": (lambda c: c.__setitem__("colour", "blue"), r"field 'colour': Extra inputs are not permitted"),
    "unknown nested field": (lambda c: c["output"]["dims"][0].__setitem__("colour", "blue"),
                             r"field 'output.dims.0.colour': Extra inputs are not permitted"),
    "wrong type": (lambda c: c.__setitem__("subjects", "all of them"), r"field 'subjects': .*\(given: 'all of them'\)"),
    "wrong nested type": (lambda c: c["output"]["dims"][1].__setitem__("size", "many"), r"field 'output.dims.1.size': .*\(given: 'many'\)"),
    "missing field": (lambda c: c.pop("store_path"), r"field 'store_path': Field required"),
    "malformed id": (lambda c: c.__setitem__("id", "Not An Id"), r"field 'id': String should match pattern"),
}


def _bad_card(folder: Path, case: str) -> Path:
    data = yaml.safe_load(CARD.read_text())
    BAD_CARDS[case][0](data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "card.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class CardPlugin:
    """A plugin that ships the cards of one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def berg_model_cards(self) -> Any:
        from berg_core.cards import cards_in

        return cards_in(self.folder)


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_a_bad_card_is_rejected_naming_the_field(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from berg_core.plugins import PluginManager

    message = BAD_CARDS[case][1]
    path = _bad_card(tmp_path / "cards", case)
    with pytest.raises(CardError, match=message):
        load_card(path)
    # shipped by a plugin: strict loading names the plugin and the field ...
    monkeypatch.setenv("BERG_STRICT_PLUGINS", "1")
    pm = PluginManager()
    pm.register(CardPlugin(path.parent), name="contributed")
    with pytest.raises(PluginError, match=r"berg plugin 'contributed' could not list its models: model card .*card.yaml is invalid:\n.*" + message):
        pm.registry.ids()
    # ... and `berg validate` lists it as invalid
    assert main(["validate", str(path)]) == 1
    assert re.search(message, capsys.readouterr().out)


def test_the_unedited_card_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(CARD.read_text())))
    assert load_card(path).id == FWRF  # each case above fails for its one edit
