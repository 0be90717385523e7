"""A plugin of toy models whose subjects and results take the new forms, registered in-process by the tests.

* ``toy-forms-named``: subjects named ``"N"``, ``"F"`` and ``"07"`` (a zero-padded number); one response per
  stimulus and unit, ``(stimulus, unit)``.
* ``toy-forms-ragged``: participant-averaged (the card lists no subjects), ragged: each stimulus gives
  :func:`n_rows` rows along ``tr`` (0 to 3, from its pixels), with per-row ``time`` (s) and ``label`` (text)
  coordinates, ``(tr, roi)``.

Both read seeded weights the synthetic-store hook writes as JSON (``weights_sub-N.json`` for named subjects, one
``weights.json`` for the averaged model), and compute in torch; :func:`reference` is the same math in float64 NumPy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from berg_core import InvalidParameterError, hookimpl
from berg_core.plugin import EncodingModel, card_from_dict

NAMED = "toy-forms-named"
RAGGED = "toy-forms-ragged"
ROIS = ["lang", "aud", "vis"]
TR_S = 2.0


def _card(model_id: str, subjects: Any, output: list[dict[str, Any]]) -> Any:
    data = {
        "id": model_id, "modality": "toy", "training_dataset": "forms", "species": "simulated", "stimuli": "images",
        "architecture": "mean pixel and a linear read-out", "creator": "berg tests", "description": "A toy model.",
        "input": {"description": "images", "dims": [{"name": "stimulus"}, {"name": "channel", "size": 3}]},
        "output": {"description": "toy responses", "dims": output},
        "store_path": f"encoding_models/modality-toy/train_dataset-forms/model-{model_id}",
        "units": "a.u.", "template_space": "none", "license": "MIT",
    }
    if subjects is not None:
        data["subjects"] = subjects
    return card_from_dict(data)


CARDS = [
    _card(NAMED, ["N", "F", "07"], [{"name": "stimulus"}, {"name": "unit", "size": 2}]),
    _card(RAGGED, None, [{"name": "tr"}, {"name": "roi", "size": 3}]),
]


def n_rows(image: np.ndarray) -> int:
    """Rows a stimulus gives: 0 to 3, a deterministic function of its pixels."""
    return int(np.asarray(image, dtype=np.int64).sum() % 4)


def _mean_pixels(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float64).reshape(len(images), 3, -1).mean(axis=2) / 255.0  # (N, 3)


class NamedModel(EncodingModel):
    default_batch_size = 2

    def __init__(self, request: Any) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device)
        if not isinstance(request.subject, str):
            raise InvalidParameterError(f"expected a named subject, got {request.subject!r}")
        with request.store.open(f"{request.card.store_path}/weights_sub-{request.subject}.json") as fh:
            self.weight = torch.tensor(json.load(fh), dtype=torch.float32)  # (2, 3)

    def preprocess(self, stimuli: Any) -> torch.Tensor:
        return torch.stack([t.float() for t in stimuli.tensors()]).to(self.device)

    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        mean = batch.reshape(batch.shape[0], 3, -1).mean(dim=2) / 255.0
        y = (mean @ self.weight.T).cpu().numpy()
        return xr.DataArray(y, dims=("stimulus", "unit"), coords={"stimulus": stimulus_ids, "unit": [0, 1]},
                            attrs=self.base_attrs())

    def get_metadata(self) -> dict[str, Any]:
        return {"toy": {"subject": self.subject}}

    def _release(self) -> None:
        del self.weight


class RaggedModel(EncodingModel):
    default_batch_size = 3

    def __init__(self, request: Any) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device)
        with request.store.open(f"{request.card.store_path}/weights.json") as fh:
            self.weight = torch.tensor(json.load(fh), dtype=torch.float32)  # (3 rois, 3 channels)

    def preprocess(self, stimuli: Any) -> Any:
        # images may differ in size: the model keeps them as a list
        return [t.to(self.device) for t in stimuli.tensors()]

    def encode_batch(self, batch: Any, stimulus_ids: list[Any]) -> xr.DataArray:
        rows, stim, times, labels = [], [], [], []
        for image, sid in zip(batch, stimulus_ids, strict=True):
            mean = image.float().reshape(3, -1).mean(dim=1) / 255.0
            base = self.weight @ mean  # (3,)
            for k in range(n_rows(image.cpu().numpy())):
                rows.append(base + k)
                stim.append(sid)
                times.append(k * TR_S)
                labels.append(f"{sid}:{k}")
        y = torch.stack(rows).cpu().numpy() if rows else np.zeros((0, 3), np.float32)
        return xr.DataArray(
            y, dims=("tr", "roi"),
            coords={"stimulus": ("tr", np.asarray(stim if stim else np.zeros(0, dtype=np.asarray(stimulus_ids).dtype))),
                    "time": ("tr", np.asarray(times, dtype=np.float64)), "label": ("tr", np.asarray(labels, dtype=str)),
                    "roi": ROIS},
            attrs=self.base_attrs(),
        )

    def get_metadata(self) -> dict[str, Any]:
        return {"toy": {"rois": ROIS}}

    def _release(self) -> None:
        del self.weight


def reference(model_id: str, weight: np.ndarray, images: np.ndarray, ids: list[Any]) -> dict[str, np.ndarray]:
    """The toy models' math in float64 NumPy: values, and for the ragged one each row's stimulus and time."""
    mean = _mean_pixels(images)
    if model_id == NAMED:
        return {"values": mean @ np.asarray(weight, np.float64).T}
    values, stim, times = [], [], []
    for image, sid, m in zip(images, ids, mean, strict=True):
        for k in range(n_rows(image)):
            values.append(np.asarray(weight, np.float64) @ m + k)
            stim.append(sid)
            times.append(k * TR_S)
    return {"values": np.asarray(values).reshape(-1, 3), "stimulus": np.asarray(stim), "time": np.asarray(times)}


class FormsPlugin:
    """The hooks; registered with ``pm.register(FormsPlugin(), name="forms")``."""

    @hookimpl
    def berg_model_cards(self):  # type: ignore[no-untyped-def]
        return list(CARDS)

    @hookimpl
    def berg_load_model(self, request):  # type: ignore[no-untyped-def]
        return NamedModel(request) if request.card.id == NAMED else RaggedModel(request)

    @hookimpl
    def berg_model_metadata(self, card, subject, store, options):  # type: ignore[no-untyped-def]
        return {"toy": {"subject": subject}}

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(seed)
        if card.id == RAGGED:
            assert subjects is None, subjects  # a participant-averaged model is written without subjects
            names = ["weights.json"]
        else:
            names = [f"weights_sub-{s}.json" for s in subjects]
        written = []
        for name in names:
            rel = f"{card.store_path}/{name}"
            path = Path(root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            shape = (3, 3) if card.id == RAGGED else (2, 3)
            path.write_text(json.dumps(rng.normal(size=shape).round(6).tolist()))
            written.append(rel)
        return written

    @hookimpl
    def berg_export_result(self, result, fmt, path, options):  # type: ignore[no-untyped-def]
        if result.attrs.get("model_id") not in (NAMED, RAGGED):
            return None
        raise InvalidParameterError(f"toy results export to no format, not {fmt!r}")

    @hookimpl
    def berg_plot_result(self, result, path, options):  # type: ignore[no-untyped-def]
        if result.attrs.get("model_id") not in (NAMED, RAGGED):
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot(np.asarray(result.values).reshape(len(result), -1))
        if path:
            fig.savefig(path)
        return fig


def weights_of(root: Path, model_id: str, subject: Any = None) -> np.ndarray:
    """The seeded weights the synthetic store holds for a toy model (and subject)."""
    card = next(c for c in CARDS if c.id == model_id)
    name = "weights.json" if subject is None else f"weights_sub-{subject}.json"
    return np.asarray(json.loads((root / card.store_path / name).read_text()), dtype=np.float64)
