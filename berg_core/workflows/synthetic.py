"""Stores of seeded synthetic weights for any installed plugin's models (``berg demo``, tests).

Each model's files are written by the plugin that owns it (the
``berg_write_synthetic_store`` hook), in the model's real formats. Core adds
what no single plugin owns: seeded weights of the backbones the written
models' cards name (each backbone's spec, contributed through the
``berg_backbones`` hook, gives its architecture and its place in the store,
where loading finds it before the torch hub cache) and a marker file,
``berg-synthetic.json``, that says the store holds no real weights.

A third-party plugin's tests use it as berg's own do::

    from berg_core.workflows.synthetic import write_synthetic_store

    write_synthetic_store(tmp_path, models=["my-model"], subjects=[1], seed=0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core._version import __version__
from berg_core.cards.enforce import check_subject
from berg_core.errors import InvalidParameterError, PluginError
from berg_core.store.output_files import make_folder
from berg_core.store.synthetic_marker import SYNTHETIC_MARKER, SYNTHETIC_NOTE

if TYPE_CHECKING:
    from berg_core.registry.manager import PluginManager, RegisteredModel

__all__ = [
    "write_synthetic_backbone",
    "write_synthetic_store",
]

def _registered(pm: PluginManager, models: Iterable[str] | None) -> list[RegisteredModel]:
    if models is None:
        return list(pm.registry)
    if isinstance(models, str):
        models = [models]
    ids = list(dict.fromkeys(models))
    if not ids:
        raise InvalidParameterError(f"models is an empty list; give model ids such as {pm.registry.ids()[:3]}, or None for all")
    return [pm.registry.get(m) for m in ids]  # ModelNotFoundError lists the installed ids


def _subjects_of(card: Any, subjects: Any) -> list[int | str] | None:
    """The subjects to write for ``card``, as it lists them; ``None`` for a participant-averaged model."""
    if card.subjects is None:
        chosen = subjects.get(card.id) if isinstance(subjects, Mapping) else None
        if chosen is not None and not (isinstance(chosen, (list, tuple)) and len(chosen) == 0):
            check_subject(card, chosen)  # refuses with "takes no subject"
        return None
    chosen = subjects.get(card.id, [card.subjects[0]]) if isinstance(subjects, Mapping) else subjects
    if chosen is None:
        return [card.subjects[0]]
    values = [chosen] if isinstance(chosen, (int, np.integer, str)) and not isinstance(chosen, bool) else chosen
    if isinstance(chosen, bool) or not isinstance(values, (list, tuple, range, np.ndarray)) or len(values) == 0:
        raise InvalidParameterError(f"subjects for {card.id} must be a non-empty list of subjects from {card.subjects}, got {chosen!r}")
    # the card lists subjects, so check_subject never answers None here
    return list(dict.fromkeys(s for s in (check_subject(card, v) for v in values) if s is not None))


def _options_of(options: Mapping[str, Any] | None, ids: list[str]) -> dict[str, dict[str, Any]]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidParameterError(f"options must map model ids to option dicts, e.g. {{{ids[0]!r}: {{...}}}}, got {options!r}")
    unknown = sorted(set(options) - set(ids))
    if unknown:
        raise InvalidParameterError(f"options name model(s) {unknown} that are not being written; models written: {ids}")
    bad = [k for k, v in options.items() if not isinstance(v, Mapping)]
    if bad:
        raise InvalidParameterError(f"options for {bad} must be dicts of that plugin's synthetic-store options")
    return {k: dict(v) for k, v in options.items()}


def write_synthetic_backbone(
    root: str | os.PathLike[str], seed: int = 0, name: str | None = None, plugin_manager: PluginManager | None = None
) -> str:
    """Write seeded weights of the contributed backbone ``name`` where a store keeps them, under ``root``.

    Parameters
    ----------
    root
        Local folder of the store.
    seed
        The same seed writes the same file; the caller's random state is left alone.
    name
        The backbone (a card's ``backbone`` field); may be left out while only one is installed.
    plugin_manager
        Where backbones are contributed; defaults to the process-wide one.

    Returns
    -------
    str
        The path written, relative to ``root``.
    """
    from berg_core.backbones.loading import write_synthetic_weights
    from berg_core.registry.manager import manager_of

    registry = manager_of(plugin_manager).registry
    if name is None:
        names = registry.backbone_names()
        if len(names) != 1:
            raise InvalidParameterError(f"name the backbone to write: one of {names}")
        name = names[0]
    return write_synthetic_weights(registry.backbone(name).spec, root, int(seed))


def write_synthetic_store(
    root: str | os.PathLike[str],
    models: Iterable[str] | None = None,
    subjects: Any = None,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    backbone: bool | None = None,
    plugin_manager: PluginManager | None = None,
) -> list[str]:
    """Write a store of seeded synthetic weights, in the real formats, for installed models.

    Parameters
    ----------
    root
        Local folder of the store (created if needed).
    models
        Model ids; ``None`` for every installed model whose plugin writes synthetic stores
        (the others are skipped and listed in the marker file).
    subjects
        A list of subjects for every model, ``{model_id: [subjects]}``, or ``None``
        for each model's first subject (numbers or names, as each card lists them; a
        participant-averaged model takes none and its hook gets ``subjects=None``).
    seed
        The same seed writes the same files.
    options
        ``{model_id: {option: value}}``: each plugin's own sizes (e.g. ``{"n_components": 8}``).
    backbone
        Write seeded weights of the backbones the written models' cards name (``None``: when
        one does; ``False``: never, for tests that bring their own).
    plugin_manager
        Defaults to the process-wide one.

    Returns
    -------
    list of str
        Paths written, relative to ``root``; the marker file comes last.

    Raises
    ------
    ModelNotFoundError
        An unknown model id.
    InvalidParameterError
        Bad subjects or options (checked for every model before anything is written).
    PluginError
        A model named in ``models`` whose plugin does not write synthetic stores.
    """
    from berg_core.backbones.seeded import is_seeded
    from berg_core.registry.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    regs = _registered(pm, models)
    per_model_options = _options_of(options, [r.card.id for r in regs])
    if isinstance(subjects, Mapping):
        unknown = sorted(set(subjects) - {r.card.id for r in regs})
        if unknown:
            raise InvalidParameterError(f"subjects name model(s) {unknown} that are not being written; models written: {[r.card.id for r in regs]}")
    per_model_subjects = {r.card.id: _subjects_of(r.card, subjects) for r in regs}
    out = make_folder(root, "store folder")

    written: list[str] = []
    done: dict[str, list[int | str] | None] = {}
    skipped: dict[str, str] = {}
    for reg in regs:
        model_id = reg.card.id
        hook = pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)
        paths = hook(card=reg.card, root=str(out), subjects=per_model_subjects[model_id], seed=int(seed),
                     options=dict(per_model_options.get(model_id, {})))
        if paths is None:
            reason = f"plugin {reg.plugin_name!r} does not write synthetic stores"
            if models is not None:
                raise PluginError(f"{model_id}: {reason} (it implements no berg_write_synthetic_store for it)")
            skipped[model_id] = reason
            continue
        written += [str(p) for p in paths]
        done[model_id] = per_model_subjects[model_id]
    # a seeded backbone (untrained AlexNet) has no weights file: it is built from its seed
    specs = {spec.name: spec for reg in regs if reg.card.id in done and (spec := pm.registry.backbone_of(reg.card)) is not None
             and not is_seeded(spec)}
    wrote_backbones = backbone is not False and bool(specs)
    if wrote_backbones:
        from berg_core.backbones.loading import write_synthetic_weights

        written += [write_synthetic_weights(specs[name], out, int(seed)) for name in sorted(specs)]
    marker = {
        "synthetic_weights": SYNTHETIC_NOTE,
        "seed": int(seed),
        "models": done,
        "options": per_model_options,
        "skipped": skipped,
        "backbone": wrote_backbones,
        "berg_version": __version__,
    }
    (out / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True, default=str) + "\n")
    written.append(SYNTHETIC_MARKER)
    return written
