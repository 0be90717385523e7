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
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from berg_core import BERG, CardError, IntegrityError, PluginError, hookimpl
from berg_core.cards.model_card import load_card
from berg_core.cli.main import main
from berg_core.models.weights import PickledNpyFile, open_weight_file
from berg_core.store.model_store import Store

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
    from berg_core.workflows.convert import convert_store

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
        from berg_core.cards.model_card import cards_in

        return cards_in(self.folder)


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_a_bad_card_is_rejected_naming_the_field(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from berg_core.registry.manager import PluginManager

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


# ---- hostile checkpoints: refused before anything is allocated or rebuilt ----------------------
def _rezip(path: Path, edit_pickle: Callable[[bytes], bytes] = lambda b: b, compress: str = "") -> None:
    """Rewrite the archive with valid CRCs: the damage is one only berg's own checks can catch."""
    import zipfile

    with zipfile.ZipFile(path) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name, data in members:
            kind = zipfile.ZIP_DEFLATED if compress and name.endswith(compress) else zipfile.ZIP_STORED
            dst.writestr(name, edit_pickle(data) if name.endswith("data.pkl") else data, compress_type=kind)


def _claim_size(path: Path, record: str, size: int) -> None:
    """Patch the zip directory so ``record`` claims ``size`` bytes (a 30-byte change asking for gigabytes)."""
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_len = int.from_bytes(data[at + 28 : at + 30], "little")
        if bytes(data[at + 46 : at + 46 + name_len]).endswith(record.encode()):
            data[at + 20 : at + 28] = struct.pack("<II", size, size)
        at += 4
    path.write_bytes(bytes(data))


HOSTILE_PT = {
    "a datetime array in the ignored history": (
        lambda p: _edit_pt(p, lambda d: d.__setitem__("history", {"t": np.array(["2020"], dtype="M8[Y]")})), r"dtype 'M8' is not one"),
    "a structured array in the ignored history": (
        lambda p: _edit_pt(p, lambda d: d.__setitem__("history", {"s": np.zeros(2, dtype=[("x", "f8")])})), r"dtype 'V8' is not one"),
    "an object array whose 'O8' is flipped to 'M8' in the history": (
        lambda p: (_edit_pt(p, lambda d: d.__setitem__("history", np.array([None, 1.0], dtype=object))),
                   _rezip(p, lambda b: b.replace(b"X\x02\x00\x00\x00O8", b"X\x02\x00\x00\x00M8"))),
        r"dtype 'M8' is not one"),
    "a zero-stride 10**6 x 10**6 view in the ignored history": (
        lambda p: _edit_pt(p, lambda d: d.__setitem__("history", torch.zeros(1).expand(10**6, 10**6))),
        r"has more elements than its storage \(1\)"),
    "a zero-stride view as a weight": (
        lambda p: _edit_pt(p, lambda d: d["best_params"]["enc"].__setitem__("enc.bn1.weight", torch.ones(2).expand(10**7, 2))),
        r"has more elements than its storage \(2\)"),
    "an overlapping view larger than its storage": (
        lambda p: _edit_pt(p, lambda d: d.__setitem__("history", torch.arange(20.0).as_strided((11, 10), (1, 1)))),
        r"has more elements than its storage \(20\)"),
    "a record claiming 4 GB": (lambda p: _claim_size(p, "data/0", 2**32 - 16), r"(claims 4294967280 bytes|holds 4294967280 bytes)"),
    "a compressed data.pkl": (lambda p: _rezip(p, compress="data.pkl"), r"record .*data.pkl is compressed"),
    "a compressed tensor record": (lambda p: _rezip(p, compress="data/0"), r"data/0 is compressed"),
    "NaN in a weight": (
        lambda p: _edit_pt(p, lambda d: d["best_params"]["enc"]["enc.bn1.weight"].__setitem__(0, float("nan"))),
        r"tensor \['best_params'\]\['enc'\]\['enc.bn1.weight'\] holds NaN or infinite values"),
    "inf in the read-out": (
        lambda p: _edit_pt(p, lambda d: d["best_params"]["fwrfs"][1]["b"].__setitem__(0, float("inf"))),
        r"\['fwrfs'\]\[1\]\['b'\] holds NaN or infinite values"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PT))
def test_a_hostile_checkpoint_is_an_integrity_error_naming_it_before_allocating(store: Path, case: str) -> None:
    import tracemalloc

    damage, message = HOSTILE_PT[case]
    damage(store / FWRF_V1)
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError, match=message) as err:
            _fwrf(store)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert FWRF_V1.rsplit("/", 1)[-1] in str(err.value)
    assert peak < 256 << 20, f"{peak >> 20} MiB allocated before refusing"


# ---- weights that would give NaN responses, metadata of the wrong kind ------------------------------
def _fs_read(what: str) -> Callable[[Path], Any]:
    from berg_core.models.weights import read_folded_projection

    if what == "folded":
        return lambda root: read_folded_projection(open_weight_file(Store(str(root)), FS_WEIGHTS))
    return lambda root: open_weight_file(Store(str(root)), FS_WEIGHTS).read(what)


def _set(section: str, key: str, index: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d[section][key].__setitem__(index, value)


BAD_VALUES = {
    "NaN in a regression coefficient": (_set("lh_reg_param", "coef_", (0, 0), np.nan), _fs_read("lh_reg_param/coef_"),
                                        r"'lh_reg_param/coef_' holds 1 NaN or infinite values"),
    "inf in an intercept": (_set("rh_reg_param", "intercept_", 1, np.inf), _fs_read("rh_reg_param/intercept_"),
                            r"'rh_reg_param/intercept_' holds 1 NaN or infinite values"),
    "NaN in the PCA components": (_set("pca_param", "components_", (0, 0), np.nan), _fs_read("folded"),
                                  r"pca components_ hold NaN or infinite values \(rows 0 to"),
    "a zero scaler scale": (_set("scaler_param", "scale_", 3, 0.0), _fs_read("folded"), r"scaler scale_ is 0 for 1 features \(first: 3\)"),
    "NaN scaler mean": (_set("scaler_param", "mean_", 0, np.nan), _fs_read("folded"), r"'scaler_param/mean_' holds 1 NaN"),
    "text coefficients": (lambda d: d["lh_reg_param"].__setitem__("coef_", d["lh_reg_param"]["coef_"].astype(str)),
                          _fs_read("lh_reg_param/coef_"), r"'lh_reg_param/coef_' should be a numeric array, found dtype <U"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_weights_that_would_give_nan_responses_are_refused_at_load(store: Path, case: str) -> None:
    edit, read, message = BAD_VALUES[case]
    _edit_npy(store / FS_WEIGHTS, edit)
    with pytest.raises(IntegrityError, match=message) as err:
        read(store)
    assert "weights_subject-01.npy" in str(err.value)


@pytest.mark.parametrize("kind", ["text", "object", "bytes"])
def test_metadata_read_as_numbers_must_hold_numbers(store: Path, kind: str) -> None:
    convert = {"text": lambda a: a.astype(str), "object": lambda a: [*a.astype(object).tolist(), "x"],
               "bytes": lambda a: a.astype("S8")}[kind]
    _edit_npy(store / FWRF_V1_META, lambda d: d["fmri"].__setitem__("ncsnr", convert(d["fmri"]["ncsnr"])))
    with pytest.raises(IntegrityError, match=r"metadata_sub-01_roi-V1.npy: fmri/ncsnr should hold numbers"):
        _fwrf(store)


# ---- manifests --------------------------------------------------------------------------------------
def _manifest(files: Any) -> str:
    return '{"berg_manifest": 1, "files": ' + files + "}"


BAD_MANIFESTS = {
    "10**5-deep JSON": ("[" * 10**5 + "]" * 10**5, r"not JSON: RecursionError"),
    "a 5,000-digit size": (_manifest('[{"path": "a", "size": ' + "9" * 5000 + ', "sha256": "' + "0" * 64 + '"}]'), r"not JSON: ValueError"),
    "a negative size": (_manifest('[{"path": "a", "size": -1, "sha256": "' + "0" * 64 + '"}]'), r"files\[0\] must be"),
    "a boolean size": (_manifest('[{"path": "a", "size": true, "sha256": "' + "0" * 64 + '"}]'), r"files\[0\] must be"),
    "a digest that is not hex": (_manifest('[{"path": "a", "size": 1, "sha256": "' + "z" * 64 + '"}]'), r"files\[0\] must be"),
    "a path leaving the folder": (_manifest('[{"path": "../x", "size": 1, "sha256": "' + "0" * 64 + '"}]'), r"must stay inside"),
    "an entry that is a deep list": (_manifest("[" + "[" * 500 + "]" * 500 + "]"), r"files\[0\] must be .* got list"),
    "not UTF-8": (b'{"berg_manifest": 1, "files": ["\xff"]}', r"not JSON: UnicodeDecodeError"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_hostile_manifest_is_an_integrity_error_naming_it(case: str) -> None:
    from berg_core.store.manifest import Manifest

    text, message = BAD_MANIFESTS[case]
    with pytest.raises(IntegrityError, match=message) as err:
        Manifest.from_json(text, "store/berg-manifest.json")
    assert "store/berg-manifest.json" in str(err.value)
    assert len(str(err.value)) < 600


# ---- backbone_weights= a file that is not the ViT-B/32 checkpoint --------------------------------------
NOT_CHECKPOINTS: dict[str, Callable[[Path], None]] = {
    "a text file (/etc/passwd)": lambda p: p.write_text("root:x:0:0:root:/root:/bin/bash\n"),
    "an empty file": lambda p: p.write_bytes(b""),
    "a zip that is not a checkpoint": lambda p: shutil.make_archive(str(p.with_suffix("")), "zip", ROOT / "specs") and
    p.with_suffix(".zip").replace(p),
    "a .npy file": lambda p: np.save(open(p, "wb"), np.zeros(3)),
    "a truncated checkpoint": lambda p: (torch.save({"w": torch.zeros(100)}, p), p.write_bytes(p.read_bytes()[:200])),
    "a checkpoint of NaN": lambda p: torch.save({"conv_proj.weight": torch.full((2,), float("nan"))}, p),
}


@pytest.mark.parametrize("case", sorted(NOT_CHECKPOINTS))
def test_backbone_weights_that_are_not_a_checkpoint_are_refused_naming_the_path(tmp_path: Path, case: str) -> None:
    from berg_core.backbones.vit_b_32 import get_vit_b_32

    path = tmp_path / "weights.pth"
    NOT_CHECKPOINTS[case](path)
    with pytest.raises(IntegrityError, match=r"cannot read ViT-B/32 weights from .*weights.pth: ") as err:
        get_vit_b_32("cpu", weights=path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("rel", [EEG_META, FWRF_V1_META, FS_WEIGHTS])
def test_the_bit_that_made_o8_into_m8_is_an_integrity_error_not_a_crash(store: Path, rel: str) -> None:
    # bit 1 of byte 231 of BERG 2.0's pickled .npy files: the dtype of the 0-d object array ('O8' -> 'M8'),
    # which NumPy 2.4's dtype.__setstate__ turned into a SIGSEGV
    path = store / rel
    data = bytearray(path.read_bytes())
    assert data[229:233] == b"\x8c\x02O8"
    data[231] ^= 0b10
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=re.escape(path.name) + r".*dtype 'M8' is not one BERG files hold"):
        PickledNpyFile(Store(str(store)), rel)
