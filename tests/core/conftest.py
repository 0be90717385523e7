"""Source of a third-party berg plugin, written to a temp folder by the tests.

It implements every hook with a real (tiny) torch model, so the tests prove
a plugin outside this repository is discovered, listed, described and used
without any change to core.
"""

import importlib
import sys

import pytest

PLUGIN_SOURCE = '''
"""A third-party berg plugin: mean-luminance 'retina' model."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from berg_core import EncodingModel, InvalidParameterError, hookimpl
from berg_core.cards.model_card import cards_in
from berg_core.stimuli.transforms import square_crop_resize

CARDS = Path(__file__).parent / "cards"
CALLS = []  # hook names, so tests can see each hook was used


class Flatten(torch.nn.Module):
    """The toy 'backbone', shared by every toy model; counts its forward passes."""

    calls = 0

    def forward(self, x):
        Flatten.calls += 1
        return x.reshape(x.shape[0], -1)


SHARED = Flatten()


class ToyModel(EncodingModel):
    default_batch_size = 2

    def __init__(self, card, subject, selection, store, device, options):
        # core checked the options and the selection against the card: the plugin only uses them
        super().__init__(card, subject, selection, store, device, options.get("preprocessing"))
        units = np.atleast_1d((selection or {}).get("units", range(4))).tolist()
        with store.open(f"{card.store_path}/weights_subject-{subject:02d}.json") as fh:
            w = np.asarray(json.load(fh)["w"], dtype=np.float32)
        self.units = units
        self.weight = torch.from_numpy(w[units]).to(device)  # (U, 3*4*4)

    def preprocess(self, stimuli):
        return square_crop_resize(stimuli.tensors(), 4).to(self.device)

    feature_extractor = SHARED

    def encode_features(self, features, stimulus_ids):
        y = features @ self.weight.T
        return xr.DataArray(
            y.cpu().numpy(), dims=("stimulus", "unit"),
            coords={"stimulus": stimulus_ids, "unit": self.units}, attrs=self.base_attrs(),
        )

    def get_metadata(self):
        return {"toy": {"subject": self.subject, "units": self.units}}

    def _release(self):
        del self.weight


@hookimpl
def berg_model_cards():
    CALLS.append("berg_model_cards")
    return cards_in(CARDS)


@hookimpl
def berg_load_model(request):
    CALLS.append("berg_load_model")
    r = request
    return ToyModel(r.card, r.subject, r.selection, r.store, r.device, r.options)


@hookimpl
def berg_model_metadata(card, subject, store, options):
    CALLS.append("berg_model_metadata")
    return {"toy": {"subject": subject, "units": [0, 1, 2, 3]}}


@hookimpl
def berg_preprocess(model, stimuli):
    CALLS.append("berg_preprocess")
    # for runs in subprocesses (tests/reliability): log which stimuli each process prepared, slow batches down
    log = os.environ.get("BERG_TEST_BATCH_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(" ".join([str(os.getpid()), *map(str, stimuli.ids)]) + "\\n")
    time.sleep(float(os.environ.get("BERG_TEST_BATCH_DELAY_S") or 0))
    return None  # fall through to the model's own preprocess


@hookimpl
def berg_encode_batch(model, batch, stimulus_ids):
    CALLS.append("berg_encode_batch")
    return None


def _mine(result):
    return result.attrs.get("model_id") == "toy-retina-luminance"


@hookimpl
def berg_export_result(result, fmt, path, options):
    CALLS.append("berg_export_result")
    if not _mine(result):
        return None
    if fmt != "csv":
        raise InvalidParameterError(f"toy results export to ['csv'], not {fmt!r}")
    np.savetxt(path, result.values, delimiter=",")
    return path


@hookimpl
def berg_plot_result(result, path, options):
    CALLS.append("berg_plot_result")
    if not _mine(result):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.imshow(result.values, aspect="auto")
    if path:
        fig.savefig(path)
    return fig


@hookimpl
def berg_write_synthetic_store(card, root, subjects, seed, options):
    CALLS.append("berg_write_synthetic_store")
    rng = np.random.default_rng(seed)
    written = []
    for s in subjects:
        rel = f"{card.store_path}/weights_subject-{s:02d}.json"
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"w": rng.normal(size=(4, 48)).round(6).tolist()}))
        written.append(rel)
    return written
'''

CARD_YAML = '''
id: toy-retina-luminance
modality: toy
training_dataset: retina
species: simulated
stimuli: images
architecture: 4x4 luminance pooling and a linear read-out
creator: A third party
description: A toy model proving plugins need no change to core.
input:
  description: images
  dims: [{name: stimulus}, {name: channel, size: 3}, {name: height}, {name: width}]
output:
  description: four units
  dims: [{name: stimulus}, {name: unit, size: 4}]
subjects: [1, 2]
parameters:
  - {name: subject, function: get_encoding_model, type: int, required: true, valid_values: [1, 2], description: subject}
selection_keys:
  - {name: units, description: unit indices, kind: indices, axis: unit, noun: unit}
preprocessing: {train: "centre crop, resize to 4x4"}
default_preprocessing: train
store_path: encoding_models/modality-toy/train_dataset-retina/model-luminance
units: a.u.
template_space: none
license: MIT
'''


def write_plugin(root, dist_name="berg-toy", package="berg_toy", ep_name="toy"):
    """Write an importable package plus its dist-info with a berg.plugins entry point."""
    pkg = root / package
    (pkg / "cards").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(PLUGIN_SOURCE)
    (pkg / "cards" / "toy.yaml").write_text(CARD_YAML)
    dist = root / f"{dist_name.replace('-', '_')}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[berg.plugins]\n{ep_name} = {package}.plugin\n")
    return root



@pytest.fixture
def toy_plugin_dir(tmp_path, monkeypatch):
    """A third-party plugin installed only by being on sys.path (dist-info + entry point)."""
    root = write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    for name in [m for m in sys.modules if m == "berg_toy" or m.startswith("berg_toy.")]:
        del sys.modules[name]


@pytest.fixture
def fresh_pm(monkeypatch):
    """A plugin manager built from the entry points visible now (not the process-wide one)."""
    from berg_core.registry.manager import PluginManager

    monkeypatch.delenv("BERG_DISABLE_PLUGIN_AUTOLOAD", raising=False)

    def make():
        pm = PluginManager()
        pm.load_entrypoint_plugins()
        return pm

    return make


@pytest.fixture
def toy_store(tmp_path, toy_plugin_dir, fresh_pm):
    """A store with the toy model's synthetic weights, written through its hook."""
    from berg_core import BERG

    pm = fresh_pm()
    berg = BERG(tmp_path / "store", plugin_manager=pm)
    card = berg.get_card("toy-retina-luminance")
    reg = pm.registry.get(card.id)
    pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)(
        card=card, root=str(tmp_path / "store"), subjects=[1, 2], seed=0, options={}
    )
    return berg


@pytest.fixture
def plugin_writer():
    """``write_plugin(root, dist_name, package, ep_name)``, for tests that need a second plugin."""
    return write_plugin
