"""The checks of the conformance kit, run on every model of one plugin.

What each check proves (names of :data:`CHECKS`):

``cards``
    Each card validates again from its own dump, ids are unique, and an
    unselected output has the card's output dims (and fixed sizes).
``synthetic_store``
    The plugin's ``berg_write_synthetic_store`` writes the files it lists,
    and every written subject loads from that store.
``batch_size``
    Dims, sizes, coordinates and attrs do not depend on the batch size;
    values differ by at most :data:`BATCH_SIZE_BOUND` of the largest magnitude.
``selection``
    Every selection key of the card gives exactly (``np.array_equal``) the
    matching slice of the unselected output. Values are derived from the
    key's ``valid_values``, else from the coordinates of the output dim the
    key names (``timepoints`` -> ``time``, ``lh_vertices`` -> ``vertex``;
    positions when that dim has no index). A model whose card makes the
    selection required is compared with the union of two values instead.
``determinism``
    The same model, and the same model loaded again, give identical outputs.
``bad_parameters``
    A bad subject, an unknown selection key, a bad selection value, two
    conflicting keys, an unknown load, encode or metadata option and a value
    outside a parameter's ``valid_values`` each raise ``InvalidParameterError``.
``export_plot``
    The export hook answers for the plugin's own results (an unknown format
    is an ``InvalidParameterError``) and the plot hook draws them to a file.
``copy_pickle``
    ``copy.deepcopy`` and a ``pickle`` round trip give models that encode
    exactly as the original.
"""

from __future__ import annotations

import copy
import importlib
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.cards.model_card import ModelCard, card_from_dict
from berg_core.errors import InvalidParameterError, PluginError
from berg_core.registry.hookspecs import ENTRY_POINT_GROUP

__all__ = ["CHECKS", "CheckResult", "ConformanceReport", "check_plugin"]

CHECKS = (
    "cards",
    "synthetic_store",
    "batch_size",
    "selection",
    "determinism",
    "bad_parameters",
    "export_plot",
    "copy_pickle",
)
#: a name no plugin uses, for unknown keys and options
UNKNOWN = "__berg_conformance_unknown__"
#: README ("Encoding at scale"): another batch size changes values by at most this much of the largest |value|
BATCH_SIZE_BOUND = 1e-5
#: a value no selection key or parameter accepts
BAD_VALUE = "__berg_conformance_bad_value__"


@dataclass(frozen=True)
class CheckResult:
    """One check of one model: ``ok``, and what went wrong when not."""

    model_id: str
    check: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ConformanceReport:
    """Every check of every model of one plugin."""

    plugin: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def failures(self, check: str | None = None) -> list[CheckResult]:
        """Failed checks, all of them or those of one check name."""
        if check is not None and check not in CHECKS:
            raise InvalidParameterError(f"unknown conformance check {check!r}; checks: {list(CHECKS)}")
        return [r for r in self.results if not r.ok and (check is None or r.check == check)]

    def describe(self, results: Iterable[CheckResult] | None = None) -> str:
        """One line per result (default: every failure)."""
        chosen = list(self.failures() if results is None else results)
        if not chosen:
            return f"plugin {self.plugin!r}: every check passed"
        return "\n".join(f"{r.model_id} [{r.check}]: {r.detail}" for r in chosen)

    def raise_for_failures(self, allowed: Iterable[str] = ()) -> None:
        """Raise ``AssertionError`` listing every failure, except those of the checks in ``allowed``."""
        allowed = set(allowed)
        bad = [r for r in self.failures() if r.check not in allowed]
        if bad:
            raise AssertionError(f"plugin {self.plugin!r} fails {len(bad)} conformance check(s):\n{self.describe(bad)}")


# ---- plugin and store set-up --------------------------------------------------------------------
def _plugin_manager(plugin: Any, with_plugins: Iterable[str] = ()) -> tuple[Any, str]:
    """A fresh plugin manager holding core's defaults, ``plugin`` and the installed plugins ``with_plugins``."""
    from berg_core.registry.manager import PluginManager

    pm = PluginManager()
    for other in with_plugins:  # e.g. the distribution contributing a backbone the plugin's cards name
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == other]
        if not found:
            installed = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
            raise PluginError(f"with_plugins names {other!r}, which is not an installed berg plugin; installed: {installed}")
        pm.register(found[0].load(), name=other)
    name = None
    if isinstance(plugin, str):
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == plugin]
        if found:
            name, plugin = plugin, found[0].load()
        else:
            try:
                name, plugin = plugin, importlib.import_module(plugin)
            except ImportError:
                installed = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
                raise PluginError(
                    f"{plugin!r} is neither an installed berg plugin nor an importable module; installed: {installed}"
                ) from None
    name = pm.register(plugin, name=name or getattr(plugin, "__name__", None))
    if name is None:  # pragma: no cover - pluggy refuses rather than returning None
        raise PluginError(f"{plugin!r} could not be registered")
    return pm, name


def _per_model(value: Any, model_id: str, default: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(model_id, default)
    return default if value is None else value


def _selection_required(card: ModelCard) -> bool:
    param = card.parameter("selection")
    return bool(param and param.required)


def _stimuli(card: ModelCard, n: int, seed: int) -> Any:
    """Seeded stimuli of the card's kind: non-square images and clips, so resizing and cropping are exercised."""
    from berg_core.stimuli.synthetic import random_stimuli

    return random_stimuli(card.stimuli, n, seed)


# ---- comparing results --------------------------------------------------------------------------
def _element_keys(da: Any, dim: str) -> list[Any]:
    """What tells the elements of ``dim`` apart: its index, else the tuple of its 1-D coordinates."""
    if dim in da.indexes:
        return da.indexes[dim].tolist()
    coords = [da.coords[c].values for c in da.coords if da.coords[c].dims == (dim,)]
    if not coords:
        raise AssertionError(f"dim {dim!r} has neither an index nor coordinates to tell its elements apart")
    return list(zip(*(c.tolist() for c in coords), strict=True))


def _slice_positions(selected: Any, base: Any) -> list[np.ndarray]:
    """Positions in ``base`` of each element of ``selected``, per dim; AssertionError when one is missing."""
    if tuple(selected.dims) != tuple(base.dims):
        raise AssertionError(f"dims {selected.dims} differ from the unselected output's {base.dims}")
    positions = []
    for dim in base.dims:
        where = {k: i for i, k in enumerate(_element_keys(base, dim))}
        keys = _element_keys(selected, dim)
        missing = [k for k in keys if k not in where]
        if missing:
            raise AssertionError(f"{len(missing)} element(s) of {dim!r} are not in the unselected output, e.g. {missing[0]!r}")
        positions.append(np.array([where[k] for k in keys], dtype=np.int64))
    return positions


def _assert_slice(selected: Any, base: Any, selection: dict[str, Any]) -> None:
    positions = _slice_positions(selected, base)
    if sum(len(p) for p in positions) == 0 or any(len(p) == 0 for p in positions):
        raise AssertionError(f"selection {selection} gave an empty output {dict(selected.sizes)}")
    expected = np.asarray(base.values)[np.ix_(*positions)]
    if not np.array_equal(np.asarray(selected.values), expected, equal_nan=True):
        diff = np.nanmax(np.abs(np.asarray(selected.values, dtype=np.float64) - expected))
        raise AssertionError(f"selection {selection}: values differ from the matching slice of the unselected output "
                             f"(max abs difference {diff:.3g})")
    for dim in base.dims:
        if dim in base.indexes:
            continue
        for c in base.coords:
            if base.coords[c].dims == (dim,) and c in selected.coords:
                pos = positions[list(base.dims).index(dim)]
                if not np.array_equal(np.asarray(selected.coords[c].values), np.asarray(base.coords[c].values)[pos]):
                    raise AssertionError(f"selection {selection}: coordinate {c!r} differs from the unselected output's")


def _bad_subject(card: ModelCard) -> Any:
    """A subject the card does not list: the next number, a name none has, any for a participant-averaged model."""
    if card.subjects is None:
        return 1
    if all(isinstance(s, int) for s in card.subjects):
        return max(int(s) for s in card.subjects) + 1
    return BAD_VALUE


def _first_stimulus(result: Any, row_dim: str) -> Any:
    """The first stimulus's part of a result: its one entry, or its rows (a ragged result)."""
    if row_dim == "stimulus":
        return result.isel(stimulus=[0])
    stim = np.asarray(result.coords["stimulus"].values)
    return result.isel({row_dim: np.flatnonzero(stim == stim[0]) if stim.size else []})


def _assert_rows(result: Any, row_dim: str, ids: list[str]) -> None:
    """A ragged result: its ``stimulus`` coordinate runs along the row dim, in the order of the stimuli."""
    if "stimulus" not in result.coords or result.coords["stimulus"].dims != (row_dim,):
        raise AssertionError(f"a result with rows along {row_dim!r} must have a 'stimulus' coordinate along {row_dim!r}")
    order = {s: i for i, s in enumerate(ids)}
    seen = [order.get(str(s), -1) for s in result.coords["stimulus"].values.tolist()]
    if any(i < 0 for i in seen) or seen != sorted(seen):
        raise AssertionError(f"the rows' stimulus coordinate {seen[:10]} is not grouped in the order of the stimuli {ids}")


def _assert_same_layout(a: Any, b: Any, what: str) -> None:
    if tuple(a.dims) != tuple(b.dims) or dict(a.sizes) != dict(b.sizes):
        raise AssertionError(f"{what}: dims {dict(a.sizes)} differ from {dict(b.sizes)}")
    if set(a.coords) != set(b.coords):
        raise AssertionError(f"{what}: coordinates {sorted(a.coords)} differ from {sorted(b.coords)}")
    for c in a.coords:
        if not np.array_equal(np.asarray(a.coords[c].values), np.asarray(b.coords[c].values)):
            raise AssertionError(f"{what}: coordinate {c!r} differs")
    if a.attrs != b.attrs:
        changed = sorted(k for k in set(a.attrs) | set(b.attrs) if a.attrs.get(k) != b.attrs.get(k))
        raise AssertionError(f"{what}: attrs {changed} differ")


def _assert_equal(a: Any, b: Any, what: str) -> None:
    _assert_same_layout(a, b, what)
    if not np.array_equal(np.asarray(a.values), np.asarray(b.values), equal_nan=True):
        raise AssertionError(f"{what}: values differ")


# ---- deriving selections ------------------------------------------------------------------------
def _dim_of_key(key: str, dims: Iterable[str]) -> str | None:
    """The output dim a key without valid values selects along: one whose name starts the key's words."""
    words = key.lower().replace("-", "_").split("_")
    for dim in dims:
        stem = dim.lower()[:4]
        if any(w.startswith(stem) for w in words):
            return dim
    return None


def _key_values(key: Any, base: Any) -> list[Any] | None:
    """Two values of ``key`` (a list when it has two): from ``valid_values``, else the coordinates of its dim."""
    if key.valid_values:
        return list(key.valid_values[:2])
    if base is None:
        return None
    dims = [d for d in base.dims[1:] if d != "stimulus"]  # never the stimulus or row dim
    dim = key.axis if key.axis in dims else _dim_of_key(key.name, dims)  # the card's axis, else guessed from the name
    if dim is None or base.sizes[dim] < 2:
        return None
    if dim in base.indexes:
        values = list(base.indexes[dim])
        return [np.asarray(values[min(3, len(values) - 1)]).item(), np.asarray(values[1]).item()]
    return [min(3, base.sizes[dim] - 1), 1]


def _selections(card: ModelCard, base: Any, base_selection: dict[str, Any] | None) -> list[tuple[dict[str, Any], str | None]]:
    """``(selection, reason it could not be derived)`` for every key of the card."""
    out: list[tuple[dict[str, Any], str | None]] = []
    for key in card.selection_keys:
        values = _key_values(key, base)
        if values is None:
            out.append(({key.name: None}, f"no value could be derived for selection key {key.name!r}: it has no "
                                          "valid_values and names no output dim with coordinates"))
            continue
        if base_selection is not None:  # required selection: the first of a union is a slice of the union
            if key.name in base_selection:
                out.append(({**base_selection, key.name: values[:1]}, None))
            continue
        out.append(({key.name: values[:1]}, None))
        if len(values) > 1:
            out.append(({key.name: values[::-1]}, None))  # order of the given values
    return out


def _base_selection(card: ModelCard, given: dict[str, Any] | None) -> dict[str, Any] | None:
    if given is not None:
        return dict(given)
    if not _selection_required(card):
        return None
    for key in card.selection_keys:
        if key.valid_values:
            return {key.name: list(key.valid_values[:2])}
    raise AssertionError("the card makes selection required but no selection key lists valid_values; pass base_selection")


# ---- the checks ---------------------------------------------------------------------------------
class _ModelChecks:
    """Runs every check of one model, recording results instead of stopping at the first failure."""

    def __init__(self, berg: Any, pm: Any, card: ModelCard, subjects: list[Any], load_options: dict[str, Any],
                 base_selection: dict[str, Any] | None, images: np.ndarray, workdir: Path) -> None:
        self.berg, self.pm, self.card = berg, pm, card
        self.subjects, self.load_options = subjects, load_options
        self.base_selection, self.images, self.workdir = base_selection, images, workdir
        self.results: list[CheckResult] = []
        self.model: Any = None
        self.base: Any = None

    def record(self, check: str, fn: Callable[[], None]) -> None:
        start = time.perf_counter()
        ok, detail = True, ""
        try:
            fn()
        except AssertionError as exc:
            ok, detail = False, str(exc)
        except Exception as exc:
            ok, detail = False, f"raised {type(exc).__name__}: {exc}"
        self.results.append(CheckResult(self.card.id, check, ok, detail, time.perf_counter() - start))

    def load(self, subject: int | str | None = None, selection: Any = None, extra: dict[str, Any] | None = None) -> Any:
        return self.berg.get_encoding_model(self.card.id, subject=self.subjects[0] if subject is None else subject,
                                            selection=selection, device="cpu", **{**self.load_options, **(extra or {})})

    def encode(self, model: Any, batch_size: int | None = None, **options: Any) -> Any:
        return self.berg.encode(model, self.images, show_progress=False,
                                batch_size=batch_size or len(self.images), **options)

    def skipped(self, check: str, why: str) -> None:
        self.results.append(CheckResult(self.card.id, check, False, f"not run: {why}"))

    # -- each check --
    def loads(self) -> None:
        for s in self.subjects:
            model = self.load(s, self.base_selection)
            if s == self.subjects[0]:
                self.model = model
        self.base = self.encode(self.model)

    def card_matches_output(self) -> None:
        again = card_from_dict(self.card.model_dump(mode="json"), f"{self.card.id} (dumped and read back)")
        if again != self.card:
            raise AssertionError("the card does not read back equal to itself from its own dump")
        if self.base is None:
            return
        names = self.card.output.dim_names
        if list(self.base.dims) != names:
            raise AssertionError(f"output dims {list(self.base.dims)} differ from the card's output dims {names}")
        if self.base_selection is None:
            wrong = {d.name: (self.base.sizes[d.name], d.size) for d in self.card.output.dims
                     if d.size is not None and d.name not in ("stimulus", self.card.row_dim) and self.base.sizes[d.name] != d.size}
        if self.card.ragged:
            _assert_rows(self.base, self.card.row_dim, [str(i) for i in range(len(self.images))])
            if wrong:
                raise AssertionError(f"output sizes differ from the card's (given, card): {wrong}")

    def batch_size(self) -> None:
        one = self.encode(self.model, batch_size=1)
        _assert_same_layout(one, self.base, "batch_size=1 vs one batch")
        scale = float(np.nanmax(np.abs(self.base.values))) or 1.0
        diff = float(np.nanmax(np.abs(np.asarray(one.values, np.float64) - np.asarray(self.base.values, np.float64))))
        if not diff <= BATCH_SIZE_BOUND * scale:
            raise AssertionError(f"values with batch_size=1 differ from one batch by {diff:.3g}, more than "
                                 f"{BATCH_SIZE_BOUND:g} of the largest |value| ({scale:.3g})")

    def selection(self) -> None:
        problems = []
        for sel, why in _selections(self.card, self.base, self.base_selection):
            if why:
                problems.append(why)
                continue
            try:
                out = self.encode(self.load(selection=sel))
                _assert_slice(out, self.base, sel)
                for key, values in sel.items():
                    self._assert_named_order(out, key, values)
            except AssertionError as exc:
                problems.append(str(exc))
            except Exception as exc:
                problems.append(f"selection {sel} raised {type(exc).__name__}: {exc}")
        if problems:
            raise AssertionError("; ".join(problems))

    def _assert_named_order(self, out: Any, key: str, values: Any) -> None:
        """A key whose values label a dim (channel names) returns them in the order given."""
        spec = next((k for k in self.card.selection_keys if k.name == key), None)
        if spec is None or not spec.valid_values or self.base_selection is not None:
            return
        for dim in out.dims:
            if dim in out.indexes and set(values) <= set(self.base.indexes[dim]):
                if list(out.indexes[dim]) != list(values):
                    raise AssertionError(f"selection {{{key!r}: {values}}} gave {dim} {list(out.indexes[dim])}, "
                                         "not the values in the order given")

    def determinism(self) -> None:
        _assert_equal(self.encode(self.model), self.base, "a second encode of the same model")
        _assert_equal(self.encode(self.load(selection=self.base_selection)), self.base, "the same model loaded again")

    def bad_parameters(self) -> None:
        base = self.base_selection or {}
        bad_subject = _bad_subject(self.card)
        attempts: list[tuple[str, Callable[[], Any]]] = [
            (f"subject={bad_subject!r}", lambda: self.load(bad_subject, self.base_selection)),
            (f"selection key {UNKNOWN!r}", lambda: self.load(selection={**base, UNKNOWN: 1})),
            (f"load option {UNKNOWN}=1", partial(self.load, selection=self.base_selection, extra={UNKNOWN: 1})),
            (f"encode option {UNKNOWN}=1", lambda: self.encode(self.model, **{UNKNOWN: 1})),
            (f"metadata option {UNKNOWN}=1",
             lambda: self.berg.get_model_metadata(self.card.id, self.subjects[0], **{UNKNOWN: 1})),
        ]
        for key in self.card.selection_keys:
            attempts.append((f"selection {{{key.name!r}: {BAD_VALUE!r}}}",
                             partial(self.load, selection={**base, key.name: BAD_VALUE})))
            for other in key.conflicts_with:
                sel = self._conflicting(key.name, other)
                if sel is not None:
                    attempts.append((f"conflicting selection {sel}", partial(self.load, selection=sel)))
        for p in self.card.parameters:
            if p.function == "get_encoding_model" and p.valid_values and p.name not in ("subject", "device", "selection"):
                attempts.append((f"{p.name}={BAD_VALUE!r}",
                                 partial(self.load, selection=self.base_selection, extra={p.name: BAD_VALUE})))
        problems = []
        for what, call in attempts:
            try:
                call()
            except InvalidParameterError:
                continue
            except Exception as exc:
                problems.append(f"{what} raised {type(exc).__name__} ({exc}), not InvalidParameterError")
            else:
                problems.append(f"{what} was accepted")
        if problems:
            raise AssertionError("; ".join(problems))

    def _conflicting(self, key: str, other: str) -> dict[str, Any] | None:
        values = {}
        for name in (key, other):
            spec = next((k for k in self.card.selection_keys if k.name == name), None)
            found = _key_values(spec, self.base) if spec is not None else None
            if not found:
                return None
            values[name] = found[:1]
        return values

    def export_plot(self) -> None:
        own = _first_stimulus(self.base, self.card.row_dim)
        try:
            # only the plugin owning the card is asked, as the accessor does
            answer = self.pm.owner_hook("berg_export_result", self.pm.registry.get(self.card.id).plugin_name)(
                result=own, fmt=UNKNOWN, path=None, options={})
        except InvalidParameterError:
            answer = True
        if answer is None:
            raise AssertionError(f"the export hook gives no answer for a result of {self.card.id}")
        if answer is not True:
            raise AssertionError(f"exporting to the unknown format {UNKNOWN!r} gave {type(answer).__name__}, "
                                 "not InvalidParameterError listing the formats")
        path = self.workdir / f"{self.card.id}.png"
        fig = self.pm.owner_hook("berg_plot_result", self.pm.registry.get(self.card.id).plugin_name)(
            result=own, path=str(path), options={})
        if fig is None:
            raise AssertionError(f"the plot hook gives no answer for a result of {self.card.id}")
        _close(fig)
        if not path.is_file() or path.stat().st_size == 0:
            raise AssertionError(f"the plot hook did not write {path.name}")

    def copy_pickle(self) -> None:
        _assert_equal(self.encode(copy.deepcopy(self.model)), self.base, "copy.deepcopy(model)")
        _assert_equal(self.encode(pickle.loads(pickle.dumps(self.model))), self.base, "pickle round trip of the model")

    def run(self) -> list[CheckResult]:
        loaded = CheckResult(self.card.id, "synthetic_store", True)
        try:
            self.loads()
        except Exception as exc:
            loaded = CheckResult(self.card.id, "synthetic_store", False,
                                 f"loading or encoding from the synthetic store raised {type(exc).__name__}: {exc}")
        self.record("cards", self.card_matches_output)
        self.results.append(loaded)
        steps = [("batch_size", self.batch_size), ("selection", self.selection), ("determinism", self.determinism),
                 ("bad_parameters", self.bad_parameters), ("export_plot", self.export_plot),
                 ("copy_pickle", self.copy_pickle)]
        for check, fn in steps:
            if self.base is None:
                self.skipped(check, "the model did not load and encode from the synthetic store")
            else:
                self.record(check, fn)
        if self.model is not None:
            self.model.cleanup()
        return self.results


def _close(fig: Any) -> None:
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # a figure the plugin drew some other way is its own business
        pass


def check_plugin(
    plugin: Any,
    store_root: str | os.PathLike[str] | None = None,
    subjects: Any = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    load_options: Mapping[str, Mapping[str, Any]] | None = None,
    base_selection: Mapping[str, dict[str, Any]] | None = None,
    models: Iterable[str] | None = None,
    backbone: bool | None = None,
    n_images: int = 2,
    seed: int = 0,
    with_plugins: Iterable[str] = (),
) -> ConformanceReport:
    """Check every model of ``plugin`` against berg's contract.

    Parameters
    ----------
    plugin
        The plugin's entry-point name, an importable module name, or its hook module/object.
        It is registered alone (with core's defaults) in a fresh plugin manager.
    store_root
        Empty folder for the synthetic store; default a temporary folder.
    subjects
        Subjects to write and load: a list for every model or ``{model_id: [...]}``;
        default each model's first subject.
    options
        ``{model_id: {...}}``: the plugin's synthetic-store options (small sizes keep it fast).
    load_options
        ``{model_id: {...}}``: extra ``get_encoding_model`` options (e.g. ``backbone_weights``).
    base_selection
        ``{model_id: selection}`` to compare selections against, for models whose card
        makes the selection required (default: the union of a key's first two valid values).
    models
        Only these model ids of the plugin.
    backbone
        Passed to :func:`berg_core.workflows.synthetic.write_synthetic_store` (``None``: write the
        backbones the cards name).
    with_plugins
        Entry-point names of other installed plugins to register too, e.g. the one contributing
        a backbone the plugin's cards name (its own models are not checked).
    n_images, seed
        How many seeded random stimuli of the card's kind to encode (see :func:`berg_core.stimuli.synthetic.random_stimuli`).

    Returns
    -------
    ConformanceReport
        Every check of every model; ``report.raise_for_failures()`` turns failures into an
        ``AssertionError`` naming model, check and reason.
    """
    from berg_core.api import BERG
    from berg_core.workflows.synthetic import write_synthetic_store

    pm, name = _plugin_manager(plugin, with_plugins)
    report = ConformanceReport(name)
    cards = [r.card for r in pm.registry if r.plugin_name == name]
    ids = [c.id for c in cards]
    if models is not None:
        wanted = list(models)
        unknown = sorted(set(wanted) - set(ids))
        if unknown:
            raise InvalidParameterError(f"models {unknown} are not models of plugin {name!r}; its models: {ids}")
        cards = [c for c in cards if c.id in wanted]
    if not cards:
        report.results.append(CheckResult("<none>", "cards", False, f"plugin {name!r} provides no model cards"))
        return report
    with tempfile.TemporaryDirectory(prefix="berg-conformance-") as scratch:
        root = Path(store_root) if store_root is not None else Path(scratch) / "store"
        # a participant-averaged model is loaded with subject None and written without subjects
        chosen = {c.id: [None] if c.subjects is None else list(_per_model(subjects, c.id, c.subjects[:1])) for c in cards}
        to_write = {c.id: [] if c.subjects is None else chosen[c.id] for c in cards}
        written: set[str] = set()
        try:
            paths = write_synthetic_store(root, models=[c.id for c in cards], subjects=to_write, seed=seed,
                                          options={k: dict(v) for k, v in (options or {}).items()}, backbone=backbone,
                                          plugin_manager=pm)
            missing = [p for p in paths if not (root / p).exists()]
            if missing:
                raise AssertionError(f"the synthetic-store hook lists files it did not write: {missing[:3]}")
            written = set(ids)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, AssertionError) else f"raised {type(exc).__name__}: {exc}"
            for c in cards:
                report.results.append(CheckResult(c.id, "synthetic_store", False, f"writing the store: {detail}"))
        berg = BERG(root, plugin_manager=pm)
        for card in cards:
            if card.id not in written:
                report.results += [CheckResult(card.id, check, False, "not run: no synthetic store")
                                   for check in CHECKS if check != "synthetic_store"]
                continue
            try:
                base_sel = _base_selection(card, _per_model(base_selection, card.id, None))
            except AssertionError as exc:
                report.results.append(CheckResult(card.id, "selection", False, str(exc)))
                continue
            checks = _ModelChecks(berg, pm, card, chosen[card.id], dict(_per_model(load_options, card.id, {})),
                                  base_sel, _stimuli(card, n_images, seed), Path(scratch))
            report.results += checks.run()
    return report
