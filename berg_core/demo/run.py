"""``berg demo``: the whole job, end to end, offline, in about a minute on a laptop.

1. Once, in the user cache (``$BERG_CACHE_DIR``, else ``~/.cache/berg``), a
   small store in the real BERG 2.0 formats with seeded synthetic weights for
   every installed model, written by each model's own plugin, plus seeded
   ViT-B/32 backbone weights kept inside that store (never in the torch cache).
2. A handful of procedural stimuli of each model's kind encoded by every model
   of that kind in ONE pass (models sharing the backbone compute it once):
   images (:mod:`berg_core.demo.images`), and sentences, timed-word stories and
   short video clips (:mod:`berg_core.demo.stimuli`).
3. The labelled results written to Zarr; models of a synthetic store mark their results
   ``synthetic_weights`` themselves (see ``EncodingModel.base_attrs``).
4. One picture per result (each plugin's ``berg_plot_result``) and a summary.

Every installed model joins: its plugin says how the demo runs it (small
synthetic sizes, a selection) through the ``berg_demo_settings`` hook; a
plugin that does not gets its default synthetic sizes and, when the card
requires a selection, the card's example.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.errors import InvalidParameterError, PluginError, StoreError
from berg_core.store.synthetic_marker import SYNTHETIC_MARKER, read_synthetic_marker, synthetic_note
from berg_core.workflows.synthetic import write_synthetic_store

if TYPE_CHECKING:
    import xarray as xr

    from berg_core.cards.model_card import ModelCard
    from berg_core.models.base import EncodingModel
    from berg_core.registry.manager import PluginManager
    from berg_core.registry.request import DemoSettings

__all__ = [
    "DemoReport",
    "demo_paths",
    "ensure_demo_store",
    "run_demo",
    "write_synthetic_store",
]

#: Bump when the demo store's content changes: an older cached store is then rebuilt.
DEMO_STORE_FORMAT = 1
DEMO_SEED = 2024

@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps its store and writes its outputs."""

    root: Path
    store: Path
    output: Path

    @property
    def results(self) -> Path:
        return self.output / "results.zarr"

    @property
    def pictures(self) -> Path:
        return self.output / "pictures"


def demo_paths(cache_dir: str | os.PathLike[str] | None = None, output_dir: str | os.PathLike[str] | None = None) -> DemoPaths:
    """The demo's folders: ``<cache>/demo/store`` and (unless given) ``<cache>/demo/output``."""
    from berg_core.store.cache import resolve_cache_dir

    root = resolve_cache_dir(cache_dir) / "demo"
    return DemoPaths(root, root / "store", Path(output_dir).expanduser() if output_dir is not None else root / "output")


def _settings_of(pm: PluginManager, card: ModelCard) -> DemoSettings:
    """How the demo runs ``card``'s model: its plugin's answer, else default sizes and the card's example selection."""
    from berg_core.registry.request import DemoSettings

    settings = pm.owner_hook("berg_demo_settings", pm.registry.get(card.id).plugin_name)(card=card)
    if settings is None:
        settings = DemoSettings()
    elif not isinstance(settings, DemoSettings):
        raise PluginError(f"berg_demo_settings gave {type(settings).__name__} for {card.id}, expected DemoSettings")
    if settings.selection is not None:
        return settings
    # a model that cannot run without a selection: its card's own example
    for p in card.parameters:
        if p.name == "selection" and p.function == "get_encoding_model" and p.required and isinstance(p.example, dict):
            return DemoSettings(settings.store_options, dict(p.example))
    return settings


def _chosen(pm: PluginManager, models: Iterable[str] | None) -> list[ModelCard] | None:
    """The cards of ``models`` (each once, in the order given); ``None`` for every installed model."""
    if models is None:
        return None
    if isinstance(models, str):
        models = [models]
    ids = list(dict.fromkeys(models))
    if not ids:
        raise InvalidParameterError(f"models is an empty list; give model ids such as {pm.registry.ids()[:3]}, or None for all")
    return [pm.registry.get(m).card for m in ids]  # ModelNotFoundError lists the installed ids


def _wanted(pm: PluginManager, cards: list[ModelCard] | None = None) -> dict[str, Any]:
    """What the demo store must hold, as recorded in its marker (compared to reuse a cached store)."""
    cards = [r.card for r in pm.registry] if cards is None else cards
    return {
        "format": DEMO_STORE_FORMAT,
        "seed": DEMO_SEED,
        "requested": {card.id: dict(_settings_of(pm, card).store_options) for card in cards},
    }


def _holds(marker: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether the store of ``marker`` holds every model ``wanted`` asks for, written with the same sizes."""
    built, written = marker.get("demo"), marker.get("models")
    if not isinstance(built, dict) or not isinstance(written, dict) or not isinstance(built.get("requested"), dict):
        return False
    if any(built.get(k) != wanted[k] for k in ("format", "seed")):
        return False
    # a model the build skipped (its plugin writes no synthetic stores) is not held
    return all(m in written and built["requested"].get(m) == o for m, o in wanted["requested"].items())


def ensure_demo_store(
    store: Path, pm: PluginManager, refresh: bool = False, models: Iterable[str] | None = None
) -> tuple[bool, dict[str, Any]]:
    """Build the demo store unless a complete one holding the wanted models is there.

    The store is built in a sibling folder and moved into place when complete, so an
    interrupted build never leaves a half store that a later run would trust.

    Parameters
    ----------
    store
        Folder of the demo store.
    pm
        The plugin manager whose plugins write the store.
    refresh
        Rebuild even if a cached store holds the wanted models.
    models
        Model ids the store must hold; ``None`` for every installed model. A cached store of
        more models is reused; one that lacks a wanted model is rebuilt with the wanted ones only.

    Returns
    -------
    (bool, dict)
        Whether it was (re)built, and its marker.

    Raises
    ------
    ModelNotFoundError
        A model id that no installed plugin provides.
    PluginError
        A model named in ``models`` whose plugin does not write synthetic stores.
    """
    cards = _chosen(pm, models)
    wanted = _wanted(pm, cards)
    marker = read_synthetic_marker(store) if store.is_dir() else None
    if marker is not None and not refresh and (
        marker.get("demo") == wanted if cards is None else _holds(marker, wanted)
    ):
        return False, marker
    building = store.with_name(f"{store.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    options = {m: o for m, o in wanted["requested"].items() if o}
    try:
        write_synthetic_store(building, models=None if cards is None else [c.id for c in cards], subjects=None,
                              seed=DEMO_SEED, options=options, plugin_manager=pm)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)  # a failed build leaves nothing a user must clean up
        raise
    marker = read_synthetic_marker(building) or {}
    marker["demo"] = wanted
    (building / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True, default=str) + "\n")
    try:
        if store.exists():
            shutil.rmtree(store)
        os.replace(building, store)
    except OSError as exc:
        raise StoreError(f"cannot put the demo store in place at {store}: {exc.strerror or exc}") from None
    return True, marker


def _stimuli_sheet(ids: list[str], images: Any, path: Path) -> Path:
    """The demo images side by side, as one PNG (Pillow: no plotting stack needed)."""
    from PIL import Image

    n, _, h, w = images.shape
    sheet = Image.new("RGB", (n * (w + 4) - 4, h), "white")
    for i in range(n):
        sheet.paste(Image.fromarray(images[i].transpose(1, 2, 0)), (i * (w + 4), 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _clip_sheet(clips: list[Any], path: Path, columns: int = 4, scale: int = 2) -> Path:
    """The demo clips as one PNG: a row per clip, ``columns`` frames spread over its length, enlarged ``scale`` times."""
    from PIL import Image

    rows = []
    for clip in clips:
        frames = clip.numpy()[np.linspace(0, clip.shape[0] - 1, columns).round().astype(int)]  # (columns, 3, H, W)
        row = np.concatenate([np.pad(f.transpose(1, 2, 0), ((2, 2), (2, 2), (0, 0)), constant_values=255) for f in frames], axis=1)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet.repeat(scale, axis=0).repeat(scale, axis=1)).save(path)
    return path


@dataclass
class DemoReport:
    """What ``berg demo`` did, for the summary and for tests."""

    paths: DemoPaths
    store_built: bool
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    pictures: dict[str, Path] = field(default_factory=dict)
    stimuli_picture: Path | None = None
    n_images: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    note: str = ""
    #: per stimulus kind run: the labels of its models, its number of stimuli, of progress units, and its encode time
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        run = self.kinds.get("images")
        return run["units"] / run["seconds"] if run and run["seconds"] else float("nan")

    def summary(self) -> str:
        """A short, human-readable account of the run."""
        s = self.seconds
        runs = "; ".join(
            f"{len(run['labels'])} model(s) encoded {run['stimuli']} {_NOUNS[kind]} in one pass"
            + (f" ({run['units']} words)" if kind == "timed_words" else "")
            for kind, run in self.kinds.items()
        )
        lines = [f"berg demo: {runs}"]
        rates = ", ".join(
            f"{run['units'] / run['seconds']:.2f} {_UNIT_NAMES[kind]}/s" for kind, run in self.kinds.items() if run["seconds"]
        )
        lines += [
            f"  store   {self.paths.store} ({'built' if self.store_built else 'reused'} in {s.get('store', 0.0):.1f} s)",
        ]
        for label, info in self.models.items():
            dims = ", ".join(f"{d}={n}" for d, n in info["sizes"].items())
            sel = f" selection={info['selection']}" if info["selection"] else ""
            lines.append(f"  model   {label}{sel}: ({dims}) -> {self.pictures[label].name}")
        for model_id, reason in self.skipped.items():
            lines.append(f"  skipped {model_id}: {reason}")
        lines += [
            f"  results {self.paths.results}",
            f"  pictures {self.paths.pictures} ({len(self.pictures)} result(s) + {self.stimuli_picture.name if self.stimuli_picture else 'no'} stimuli sheet)",
            f"  time    load {s.get('load', 0.0):.1f} s, encode {s.get('encode', 0.0):.1f} s "
            f"({rates} for all models of a kind together), pictures {s.get('plot', 0.0):.1f} s",
            f"  NOTE    SYNTHETIC WEIGHTS: {self.note}. Point BERG(berg_dir=...) at the real BERG 2.0 store for real responses.",
        ]
        return "\n".join(lines)


#: how the summary names the stimuli of each kind, and the units of its rates
_NOUNS = {"images": "images", "video": "clips", "sentences": "sentences", "timed_words": "stories"}
_UNIT_NAMES = {"images": "images", "video": "clips", "sentences": "sentences", "timed_words": "words"}


def run_demo(
    cache_dir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    device: str = "cpu",
    image_size: int = 256,
    show_progress: bool = False,
    log: Callable[[str], Any] | None = None,
    plugin_manager: PluginManager | None = None,
    models: Iterable[str] | None = None,
) -> DemoReport:
    """Build (once) the demo store, encode the demo stimuli with every model, write results and pictures.

    Each model gets the demo stimuli of its card's kind (images, video clips, sentences or
    timed-word stories); the models of one kind are encoded together in one pass.

    Parameters
    ----------
    cache_dir
        Cache folder (default: ``$BERG_CACHE_DIR``, else ``~/.cache/berg``); the store goes to ``<cache>/demo/store``.
    output_dir
        Where the results (``results.zarr``) and pictures go (default ``<cache>/demo/output``).
    refresh
        Rebuild the store even if a complete one is cached.
    device
        ``"cpu"`` (default), ``"auto"``, ``"cuda"``...
    image_size
        Side of the square demo images in pixels.
    show_progress
        Show the encode progress bar.
    log
        Called with a line of text at each step (e.g. ``print``).
    plugin_manager
        Defaults to the process-wide one.
    models
        Model ids to run (each needs a plugin that writes synthetic stores); ``None`` for every
        installed model.

    Returns
    -------
    DemoReport

    Raises
    ------
    ModelNotFoundError
        A model id in ``models`` that no installed plugin provides.
    """
    from berg_core.api import BERG
    from berg_core.demo.stimuli import demo_stimuli
    from berg_core.registry.manager import get_plugin_manager
    from berg_core.results.groups import open_results
    from berg_core.results.labels import model_labels
    from berg_core.results.plotting import plot_results

    say = log or (lambda _line: None)
    pm = plugin_manager or get_plugin_manager()
    if not len(pm.registry):
        raise InvalidParameterError("no models are installed: install a berg plugin (e.g. pip install -e plugins/berg_eeg_things, or pip install -r requirements.txt for all)")
    chosen = None if models is None else [card.id for card in _chosen(pm, models) or []]
    paths = demo_paths(cache_dir, output_dir)
    report = DemoReport(paths=paths, store_built=False)

    t = time.perf_counter()
    say(f"demo store: {paths.store}")
    report.store_built, marker = ensure_demo_store(paths.store, pm, refresh, chosen)
    report.seconds["store"] = time.perf_counter() - t
    report.skipped = {m: why for m, why in marker.get("skipped", {}).items() if chosen is None or m in chosen}
    report.note = synthetic_note(paths.store) or ""

    t = time.perf_counter()
    berg = BERG(paths.store, plugin_manager=pm)
    loaded: list[EncodingModel] = []
    installed = {r.card.id for r in pm.registry}
    for model_id, subjects in sorted(marker.get("models", {}).items()):
        if chosen is not None and model_id not in chosen:
            continue  # a cached store of more models than were asked for
        if model_id not in installed:
            # the store was built while its plugin was installed; its files and old outputs stay unused
            say(f"skipping {model_id}: its plugin is no longer installed")
            continue
        selection = _settings_of(pm, berg.get_card(model_id)).selection
        subject = subjects[0] if subjects else None  # a participant-averaged model is written without subjects
        say(f"loading {model_id}" + ("" if subject is None else f", subject {subject}"))
        loaded.append(berg.get_encoding_model(model_id, subject=subject, selection=None if selection is None else dict(selection),
                                              device=device))
    report.seconds["load"] = time.perf_counter() - t
    if not loaded:
        raise InvalidParameterError(f"no installed plugin writes synthetic stores, so the demo has no model to run; skipped: {report.skipped}")

    labels = [label.replace("#", "-") for label in model_labels(loaded)]
    by_kind: dict[str, list[int]] = {}
    for i, m in enumerate(loaded):
        by_kind.setdefault(m.stimulus_kind, []).append(i)
    try:
        t_all = time.perf_counter()
        for kind, members in by_kind.items():
            stimuli = demo_stimuli(kind, image_size)
            if kind == "images":
                report.n_images = len(stimuli)
                report.stimuli_picture = _stimuli_sheet(stimuli.ids, stimuli.array, paths.pictures / "stimuli.png")
            elif kind == "video":
                _clip_sheet(stimuli.clips(), paths.pictures / "stimuli-video.png")
            say(f"encoding {len(stimuli)} {_NOUNS[kind]} with {len(members)} model(s) in one pass")
            t = time.perf_counter()
            # one call per kind: a list of models, so every result has its own group, as in a one-kind demo
            berg.encode([loaded[i] for i in members], stimuli, store=str(paths.results), overwrite=True,
                        show_progress=show_progress)
            report.kinds[kind] = {"labels": [labels[i] for i in members], "stimuli": len(stimuli),
                                  "units": stimuli.n_units(), "seconds": time.perf_counter() - t}
        report.seconds["encode"] = time.perf_counter() - t_all
    finally:
        for m in loaded:
            m.cleanup()

    found: dict[str, xr.DataArray] = open_results(paths.results)
    # only this run's results: groups of models encoded earlier (since uninstalled) are not ours to draw
    results = {label: found[label] for label in labels}
    for m, label in zip(loaded, labels, strict=True):
        report.models[label] = {"selection": m.selection, "sizes": dict(results[label].sizes)}
    say(f"drawing {len(results)} picture(s)")
    t = time.perf_counter()
    report.pictures = plot_results(results, paths.pictures, plugin_manager=pm)
    report.seconds["plot"] = time.perf_counter() - t
    return report
