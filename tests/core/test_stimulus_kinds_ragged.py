"""Timed words into a ragged result: a toy story model gives one row per 1-s bin of each story (``tr``),
from the words' onsets; memory and Zarr results equal a float64 reference, rows labelled by story and time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from berg_core import BERG, hookimpl
from berg_core.plugin import EncodingModel, card_from_dict

STORIES = {
    "long": {"word": ["once", "upon", "a", "time", "there", "was", "a", "fox"], "onset": [0.1, 0.5, 0.9, 1.2, 2.6, 2.9, 3.3, 3.4]},
    "short": {"word": ["hi"], "onset": [0.4]},
    "gap": {"word": ["and", "then", "silence"], "onset": [0.0, 0.2, 4.5]},
}


def _toys() -> Any:
    import importlib.util

    name = "stimulus_kind_toys"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


toys = _toys()
MODEL_ID = "toy-kinds-story_bins"


def bins(words: list[str], onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 1-s bin up to the last onset: words in it and their mean length (0 when none); and the bin centres."""
    on = np.asarray(onsets, dtype=np.float64)
    n = int(np.floor(on[-1])) + 1
    rows = np.zeros((n, 2))
    for w, t in zip(words, on, strict=True):
        rows[int(np.floor(t)), 0] += 1
        rows[int(np.floor(t)), 1] += len(w)
    rows[:, 1] = np.divide(rows[:, 1], rows[:, 0], out=np.zeros(n), where=rows[:, 0] > 0)
    return rows, np.arange(n) + 0.5


class StoryBins(EncodingModel):
    """Rows per 1-s bin of each story: a ragged model of timed words."""

    default_batch_size = 2

    def __init__(self, request: Any) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device)
        import json

        with request.store.open(f"{request.card.store_path}/weights.json") as fh:
            self.weights = json.load(fh)
        self.readout = torch.nn.Linear(2, toys.N_OUT).double()
        with torch.no_grad():
            self.readout.weight.copy_(torch.tensor(self.weights["w"], dtype=torch.float64))
            self.readout.bias.copy_(torch.tensor(self.weights["b"], dtype=torch.float64))

    def preprocess(self, stimuli: Any) -> Any:
        return [bins(list(s.words), s.onsets) for s in stimuli.stories()]

    def encode_batch(self, batch: Any, stimulus_ids: list[Any]) -> xr.DataArray:
        rows = np.concatenate([r for r, _ in batch])
        with torch.no_grad():
            y = self.readout(torch.from_numpy(rows)).float().numpy()
        owner = np.concatenate([[sid] * len(r) for sid, (r, _) in zip(stimulus_ids, batch, strict=True)])
        time = np.concatenate([t for _, t in batch])
        return xr.DataArray(y, dims=("tr", "unit"), coords={"stimulus": ("tr", owner), "time": ("tr", time),
                                                           "unit": np.arange(toys.N_OUT)}, attrs=self.base_attrs())

    def get_metadata(self) -> dict[str, Any]:
        return {}

    def _release(self) -> None:
        del self.readout


class StoryPlugin(toys.KindPlugin):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        data = toys.card("timed_words").model_dump(mode="json")
        data.update(id=MODEL_ID, store_path=f"encoding_models/modality-toy/model-{MODEL_ID}")
        data["output"] = {"description": "one row per 1-s bin", "dims": [{"name": "tr", "units": "s"},
                                                                       {"name": "unit", "size": toys.N_OUT}]}
        self.card = card_from_dict(data)

    @hookimpl
    def berg_load_model(self, request):  # type: ignore[no-untyped-def]
        return StoryBins(request) if request.card.id == MODEL_ID else None

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):  # type: ignore[no-untyped-def]
        import json

        if card.id != MODEL_ID:
            return None
        rng = np.random.default_rng(seed)
        rel = f"{card.store_path}/weights.json"
        (Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path(root) / rel).write_text(json.dumps({"w": rng.normal(size=(toys.N_OUT, 2)).tolist(),
                                                  "b": rng.normal(size=toys.N_OUT).tolist()}))
        return [rel]


@pytest.fixture(scope="module")
def berg(tmp_path_factory: pytest.TempPathFactory) -> BERG:
    from berg_core.registry.manager import PluginManager
    from berg_core.workflows.synthetic import write_synthetic_store

    pm = PluginManager()
    pm.register(StoryPlugin(), name="toy-story-bins")
    root = tmp_path_factory.mktemp("ragged") / "store"
    write_synthetic_store(root, seed=9, plugin_manager=pm)
    return BERG(root, plugin_manager=pm)


def _reference(berg: BERG) -> tuple[np.ndarray, list[str], np.ndarray]:
    import json

    card = berg.get_card(MODEL_ID)
    weights = json.loads((Path(berg.berg_dir) / card.store_path / "weights.json").read_text())
    rows, owners, times = [], [], []
    for sid, story in STORIES.items():
        r, t = bins(story["word"], np.array(story["onset"]))
        rows.append(r)
        owners += [sid] * len(r)
        times.append(t)
    y = np.concatenate(rows) @ np.array(weights["w"]).T + np.array(weights["b"])
    return y, owners, np.concatenate(times)


def test_stories_give_rows_per_bin_in_memory_and_in_zarr(berg: BERG, tmp_path: Path) -> None:
    model = berg.get_encoding_model(MODEL_ID, subject=1, device="cpu")
    stories = [pd.DataFrame(s) for s in STORIES.values()]
    want, owners, times = _reference(berg)
    out = berg.encode(model, stories, stimulus_ids=list(STORIES), batch_size=2, show_progress=False)
    assert out.dims == ("tr", "unit") and out.sizes["tr"] == 4 + 1 + 5
    assert list(out["stimulus"].values) == owners
    np.testing.assert_allclose(out["time"].values, times)
    np.testing.assert_allclose(out.values, want, rtol=1e-6, atol=1e-6)
    url = tmp_path / "run.zarr"
    for name, story in STORIES.items():
        pd.DataFrame(story).to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
    berg.encode(model, [tmp_path / f"{n}.tsv" for n in STORIES], store=str(url), batch_size=1, show_progress=False)
    opened = xr.open_zarr(url)
    var = opened[next(iter(opened.data_vars))]
    assert list(var["stimulus"].values) == owners  # the file stems label the rows
    np.testing.assert_allclose(var.values, want, rtol=1e-6, atol=1e-6)
