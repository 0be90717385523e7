"""Toy in-process plugins, one per stimulus kind, each with a real (tiny) torch read-out.

Each model turns its kind's batch into a few numbers (what its ``preprocess`` reads is the
point: texts, stories with onsets, clips with frame rates) and reads them out with a
``torch.nn.Linear`` whose weights a seeded synthetic store holds. ``reference`` computes
the same responses in float64 NumPy, independently of the collections.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr

from berg_core import hookimpl
from berg_core.plugin import EncodingModel, card_from_dict
from berg_core.registry.manager import PluginManager

N_IN = {"sentences": 8, "timed_words": 4, "video": 4, "images": 3}
N_OUT = 3
IDS = {"sentences": "toy-kinds-sentences", "timed_words": "toy-kinds-timed_words", "video": "toy-kinds-video",
       "images": "toy-kinds-images"}


def card(kind: str) -> Any:
    return card_from_dict({
        "id": IDS[kind], "modality": "toy", "training_dataset": "kinds", "species": "simulated", "stimuli": kind,
        "architecture": f"{N_IN[kind]} summary numbers of a {kind} stimulus and a linear read-out",
        "creator": "berg tests", "description": f"A toy {kind} model.",
        "input": {"description": kind, "dims": [{"name": "stimulus"}]},
        "output": {"description": "units", "dims": [{"name": "stimulus"}, {"name": "unit", "size": N_OUT}]},
        "subjects": [1], "store_path": f"encoding_models/modality-toy/model-{IDS[kind]}",
        "units": "a.u.", "template_space": "none", "license": "MIT",
    })


# ---- what each model reads of a stimulus (float64 here; the models use the same numbers) ----
def sentence_numbers(text: str) -> np.ndarray:
    """Share of the characters whose code falls in each of 8 bins (code mod 8)."""
    counts = np.bincount([ord(c) % 8 for c in text], minlength=8).astype(np.float64)
    return counts / len(text)


def story_numbers(words: list[str], onsets: np.ndarray) -> np.ndarray:
    """Number of words, duration (s), mean word length, mean gap between onsets (s)."""
    on = np.asarray(onsets, dtype=np.float64)
    gaps = np.diff(on).mean() if len(on) > 1 else 0.0
    return np.array([len(words), on[-1] - on[0], np.mean([len(w) for w in words]), gaps])


def clip_numbers(clip: np.ndarray, fps: float | None) -> np.ndarray:
    """Mean of each colour channel in [0, 1], and the duration in seconds (0 without a frame rate)."""
    c = np.asarray(clip, dtype=np.float64) / 255.0
    return np.array([*c.mean(axis=(0, 2, 3)), 0.0 if fps is None else clip.shape[0] / fps])


def reference(kind: str, weights: dict[str, Any], numbers: list[np.ndarray]) -> np.ndarray:
    w = np.asarray(weights["w"], dtype=np.float64)
    b = np.asarray(weights["b"], dtype=np.float64)
    return np.stack(numbers) @ w.T + b


class KindToy(EncodingModel):
    default_batch_size = 2
    #: each batch collection handed to preprocess, so tests can look at it (on the class: not hashed as weights)
    seen: ClassVar[list[Any]] = []

    def __init__(self, request: Any) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device)
        with request.store.open(f"{request.card.store_path}/weights.json") as fh:
            self.weights = json.load(fh)
        kind = request.card.stimuli
        self.readout = torch.nn.Linear(N_IN[kind], N_OUT).double()
        with torch.no_grad():
            self.readout.weight.copy_(torch.tensor(self.weights["w"], dtype=torch.float64))
            self.readout.bias.copy_(torch.tensor(self.weights["b"], dtype=torch.float64))

    def preprocess(self, stimuli: Any) -> torch.Tensor:
        KindToy.seen.append(stimuli)
        kind = self.card.stimuli
        if kind == "sentences":
            rows = [sentence_numbers(t) for t in stimuli.texts()]
        elif kind == "timed_words":
            rows = [story_numbers(list(s.words), s.onsets) for s in stimuli.stories()]
        elif kind == "video":
            rows = [clip_numbers(c.numpy(), r) for c, r in zip(stimuli.clips(), stimuli.frame_rates(), strict=True)]
        else:
            rows = [t.double().mean(dim=(1, 2)).numpy() / 255.0 for t in stimuli.tensors()]
        return torch.from_numpy(np.stack(rows))

    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        with torch.no_grad():
            y = self.readout(batch).float().numpy()
        return xr.DataArray(y, dims=("stimulus", "unit"), coords={"stimulus": stimulus_ids, "unit": np.arange(N_OUT)},
                            attrs=self.base_attrs())

    def get_metadata(self) -> dict[str, Any]:
        return {"kind": self.card.stimuli}

    def _release(self) -> None:
        del self.readout


class KindPlugin:
    def __init__(self, kind: str) -> None:
        self.card = card(kind)

    @hookimpl
    def berg_model_cards(self):  # type: ignore[no-untyped-def]
        return [self.card]

    @hookimpl
    def berg_load_model(self, request):  # type: ignore[no-untyped-def]
        return KindToy(request) if request.card.id == self.card.id else None

    @hookimpl
    def berg_export_result(self, result, fmt, path, options):  # type: ignore[no-untyped-def]
        if result.attrs.get("model_id") != self.card.id:
            return None
        from berg_core.errors import InvalidParameterError

        if fmt != "csv":
            raise InvalidParameterError(f"toy results export to ['csv'], not {fmt!r}")
        np.savetxt(path, result.values, delimiter=",")
        return path

    @hookimpl
    def berg_plot_result(self, result, path, options):  # type: ignore[no-untyped-def]
        if result.attrs.get("model_id") != self.card.id:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(3, 2))
        ax.imshow(result.values, aspect="auto")
        ax.set_title(self.card.id)
        if path:
            fig.savefig(path)
        return fig

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):  # type: ignore[no-untyped-def]
        if card.id != self.card.id:
            return None
        rng = np.random.default_rng(seed)
        rel = f"{card.store_path}/weights.json"
        (Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
        n_in = N_IN[card.stimuli]
        weights = {"w": rng.normal(size=(N_OUT, n_in)).round(6).tolist(), "b": rng.normal(size=N_OUT).round(6).tolist()}
        (Path(root) / rel).write_text(json.dumps(weights))
        return [rel]


def plugin_manager(kinds: tuple[str, ...] = ("sentences", "timed_words", "video", "images")) -> PluginManager:
    pm = PluginManager()
    for kind in kinds:
        pm.register(KindPlugin(kind), name=f"toy-{kind}")
    return pm


def write_store(root: Path, pm: PluginManager, seed: int = 5) -> Path:
    from berg_core.workflows.synthetic import write_synthetic_store

    write_synthetic_store(root, seed=seed, plugin_manager=pm, models=list(IDS.values()))
    return root


def store_weights(root: Path, kind: str) -> dict[str, Any]:
    return json.loads((root / card(kind).store_path / "weights.json").read_text())  # type: ignore[no-any-return]


def write_video(path: Path, clip: np.ndarray, fps: int = 10, lossless: bool = True) -> Path:
    """Write ``clip`` (T, 3, H, W) uint8 as a real video file with PyAV (lossless RGB H.264 by default)."""
    import av

    _, _, h, w = clip.shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb" if lossless else "mpeg4", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "rgb24" if lossless else "yuv420p"
        if lossless:
            stream.options = {"crf": "0", "preset": "ultrafast"}
        for frame in clip:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.transpose(1, 2, 0)), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
