"""``berg_core.workflows.synthetic.write_synthetic_store``: each owner writes its model's files; core adds backbone and marker.

Also with a third-party plugin, registered by hand: the same call its own tests would make.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from berg_core import InvalidParameterError, ModelNotFoundError, PluginError, StoreError
from berg_core.store.synthetic_marker import SYNTHETIC_MARKER, SYNTHETIC_NOTE, read_synthetic_marker, synthetic_note
from berg_core.workflows.synthetic import write_synthetic_store

from .thirdparty import third_party_manager

EEG = "eeg-things_eeg_2-vit_b_32"
FWRF = "fmri-nsd-fwrf"
SMALL = {EEG: {"n_components": 2}, FWRF: {"rois": ["V1"], "volume_shape": [6, 6, 5], "n_voxels": {"V1": 12}}}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_owner_writes_its_files_and_core_writes_the_marker(tmp_path):
    written = write_synthetic_store(tmp_path / "a", models=[EEG, FWRF], subjects={EEG: [1, 2]}, seed=3, options=SMALL,
                                    backbone=False)
    assert written[-1] == SYNTHETIC_MARKER
    for rel in written:
        assert (tmp_path / "a" / rel).is_file(), rel
    eeg_files = [p for p in written if "modality-eeg" in p]
    assert {Path(p).name for p in eeg_files} == {f"{kind}_subject-0{s}.npy" for kind in ("weights", "metadata") for s in (1, 2)}
    assert "encoding_models/modality-fmri/train_dataset-nsd/model-fwrf/metadata/metadata_sub-01_roi-V1.npy" in written
    marker = json.loads((tmp_path / "a" / SYNTHETIC_MARKER).read_text())
    assert marker["models"] == {EEG: [1, 2], FWRF: [1]} and marker["seed"] == 3 and marker["backbone"] is False
    assert marker["options"][EEG] == {"n_components": 2}
    assert synthetic_note(tmp_path / "a") == SYNTHETIC_NOTE
    # the EEG weights hold 2 PCA components of the 460,800 ViT-B/32 features: read as the test's own file
    weights = np.load(tmp_path / "a" / eeg_files[0], allow_pickle=True).item()
    assert weights["pca_param"]["components_"].shape == (2, 460_800)

    write_synthetic_store(tmp_path / "b", models=[EEG], subjects=[1, 2], seed=3, options={EEG: SMALL[EEG]}, backbone=False)
    write_synthetic_store(tmp_path / "c", models=[EEG], subjects=[1, 2], seed=4, options={EEG: SMALL[EEG]}, backbone=False)
    rel = eeg_files[0]
    assert _digest(tmp_path / "a" / rel) == _digest(tmp_path / "b" / rel)  # same seed, same bytes
    assert _digest(tmp_path / "a" / rel) != _digest(tmp_path / "c" / rel)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"models": ["no-such-model"]}, ModelNotFoundError, "unknown model 'no-such-model'"),
        ({"models": []}, InvalidParameterError, "models is an empty list"),
        ({"models": [EEG], "subjects": [11]}, InvalidParameterError, r"subject 11 is not available for eeg-things_eeg_2-vit_b_32; valid subjects: \[1, 2"),
        ({"models": [EEG], "subjects": {FWRF: [1]}}, InvalidParameterError, r"subjects name model\(s\) \['fmri-nsd-fwrf'\]"),
        ({"models": [EEG], "options": {FWRF: {}}}, InvalidParameterError, r"options name model\(s\) \['fmri-nsd-fwrf'\]"),
        ({"models": [EEG], "options": {EEG: 8}}, InvalidParameterError, "must be dicts"),
        ({"models": [EEG], "seed": -1}, InvalidParameterError, "seed must be a non-negative integer"),
        ({"models": [EEG], "options": {EEG: {"n_components": 0}}}, InvalidParameterError, "n_components must be"),
    ],
)
def test_bad_requests_write_nothing(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        write_synthetic_store(tmp_path / "s", backbone=False, **kwargs)
    files = [p for p in (tmp_path / "s").rglob("*") if p.is_file()] if (tmp_path / "s").exists() else []
    assert files == []  # every check runs before the first file is written


def test_marker_reading(tmp_path):
    assert synthetic_note(tmp_path) is None  # a store of real weights has no marker
    (tmp_path / SYNTHETIC_MARKER).write_text("{not json")
    with pytest.raises(StoreError, match="not the JSON marker"):
        read_synthetic_marker(tmp_path)
    from berg_core.store.model_store import resolve_store

    (tmp_path / SYNTHETIC_MARKER).write_text(json.dumps({"synthetic_weights": "made up"}))
    assert synthetic_note(resolve_store(str(tmp_path))) == "made up"


def test_a_third_party_plugin_uses_the_same_writer(tmp_path):
    pm, plugin = third_party_manager(tmp_path)

    written = write_synthetic_store(tmp_path / "store", seed=9, options={"thirdparty-toy-model": {"size": 1}}, plugin_manager=pm)
    assert written == ["encoding_models/modality-toy/model-toy/weights.json", SYNTHETIC_MARKER]  # no backbone: none named
    assert plugin.calls == [("thirdparty-toy-model", [1], 9, {"size": 1})]
    marker = read_synthetic_marker(tmp_path / "store")
    assert marker is not None and marker["models"] == {"thirdparty-toy-model": [1]}
    assert "does not write synthetic stores" in marker["skipped"]["thirdparty-unwritable"]
    with pytest.raises(PluginError, match="thirdparty-unwritable: plugin 'nowriter' does not write synthetic stores"):
        write_synthetic_store(tmp_path / "s2", models=["thirdparty-unwritable"], plugin_manager=pm)
