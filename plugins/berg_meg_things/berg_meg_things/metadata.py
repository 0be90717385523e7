"""Reading and checking a subject's metadata dict (BERG 2.0's ``metadata_P{n}.npy``).

What labels the output: ``meg.times`` and ``sensors.sensor_names`` (with
``sensor_prefixes``, ``sensor_hemispheres``, ``sensor_regions``; derived from
the CTF names when absent, as BERG 2.0's ``create_meg_metadata`` derives them).
What is reliability: ``encoding_model.ncsnr`` and ``encoding_model.noise_ceiling``.
What is accuracy: ``encoding_model.<split>.correlation_results`` and
``percent_noise_ceiling``, per training split.

Versions disagree on some spellings, so all documented forms are read
(``specs/store_layout.md``): the single-split key is ``single_training_split_{N}``
(prep code) or ``single_training split_{N}`` (model card); ncsnr, noise ceiling
and correlations are (sensors, times) or, as an older card writes them,
(times, sensors); the older flat layout keeps them at the top of ``encoding_model``
or of the dict itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, metadata_entry, read_metadata

from .layout import N_SPLITS, metadata_relpath, sensor_parts

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard, Store

__all__ = ["ALL_SPLITS_KEY", "OutputLabels", "labels_from_metadata", "load_metadata", "split_key_forms"]

ALL_SPLITS_KEY = "all_training_splits"


def split_key_forms(split: int) -> tuple[str, ...]:
    """The spellings of one split's key in ``encoding_model`` (prep code's first, then the model card's)."""
    return (f"single_training_split_{split}", f"single_training split_{split}", f"split{split}")


def load_metadata(card: ModelCard, subject: int, store: Store) -> tuple[dict[str, Any], str]:
    """The subject's metadata dict (read safely) and its URL, for messages."""
    relpath = metadata_relpath(card, subject)
    return read_metadata(store, relpath), store.url_of(relpath)


@dataclass(frozen=True)
class OutputLabels:
    """The labels of the full (sensor, time) output, and the per-output reliability and accuracy."""

    sensor_names: tuple[str, ...]
    prefixes: tuple[str, ...]
    hemispheres: tuple[str, ...]
    regions: tuple[str, ...]
    times: np.ndarray  # (n_times,) float64, seconds
    ncsnr: np.ndarray | None  # (n_sensors, n_times) or None
    noise_ceiling: np.ndarray | None  # (n_sensors, n_times), % of variance, or None
    #: ``"all"`` or split number -> {"correlation": (S, T), "percent_noise_ceiling": (S, T)} where the metadata has them
    accuracy: dict[Any, dict[str, np.ndarray]]

    @property
    def n_outputs(self) -> int:
        return len(self.sensor_names) * len(self.times)


def _strings(meta: dict[str, Any], key: str, source: str, n: int | None = None) -> tuple[str, ...]:
    raw = metadata_entry(meta, key, source)
    values = raw.tolist() if isinstance(raw, np.ndarray) else raw
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise IntegrityError(f"{source}: {key.replace('/', '.')} should be a list of strings, found {raw!r:.200}")
    if n is not None and len(values) != n:
        raise IntegrityError(f"{source}: {key.replace('/', '.')} has {len(values)} entries, expected {n} (one per sensor)")
    return tuple(values)


def _get(tree: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _sensor_time_map(value: Any, shape: tuple[int, int], what: str, source: str) -> np.ndarray:
    """A (sensors, times) map, accepting the (times, sensors) orientation an older card documents."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise IntegrityError(f"{source}: {what} should hold numbers, found dtype {arr.dtype}")
    if arr.shape == shape:
        return arr.astype(np.float64)
    if arr.shape == shape[::-1]:
        return arr.T.astype(np.float64)
    raise IntegrityError(f"{source}: {what} has shape {arr.shape}, expected {shape} (sensors, times) or {shape[::-1]}")


def _first(meta: dict[str, Any], paths: list[tuple[str, ...]]) -> tuple[Any, str] | None:
    for path in paths:
        found = _get(meta, *path)
        if found is not None:
            return found, ".".join(path)
    return None


def labels_from_metadata(meta: dict[str, Any], source: str) -> OutputLabels:
    """Check the metadata's shapes and pull out what labelling the output needs."""
    names = _strings(meta, "sensors/sensor_names", source)
    if not names or len(set(names)) != len(names):
        raise IntegrityError(f"{source}: sensors.sensor_names should be unique sensor names, found {len(names)} "
                             f"names, {len(names) - len(set(names))} repeated")
    n = len(names)
    derived = [sensor_parts(s) for s in names]
    sensors = meta.get("sensors", {})
    prefixes = _strings(meta, "sensors/sensor_prefixes", source, n) if "sensor_prefixes" in sensors else tuple(
        d[0] for d in derived)
    hemis = _strings(meta, "sensors/sensor_hemispheres", source, n) if "sensor_hemispheres" in sensors else tuple(
        d[1] or "" for d in derived)
    regions = _strings(meta, "sensors/sensor_regions", source, n) if "sensor_regions" in sensors else tuple(
        d[2] or "" for d in derived)
    times = np.asarray(metadata_entry(meta, "meg/times", source))
    if times.ndim != 1 or times.size < 1 or times.dtype.kind not in "fiu":
        raise IntegrityError(
            f"{source}: meg.times should be a 1-D array of seconds, found shape {times.shape} dtype {times.dtype}"
        )
    times = times.astype(np.float64)
    if times.size > 1 and not np.all(np.diff(times) > 0):
        raise IntegrityError(f"{source}: meg.times should increase, found {times[:5]}...")
    shape = (n, times.size)

    def reliability(key: str) -> np.ndarray | None:
        found = _first(meta, [("encoding_model", key), ("encoding_models", key), (key,)])
        return None if found is None else _sensor_time_map(found[0], shape, found[1], source)

    accuracy: dict[Any, dict[str, np.ndarray]] = {}
    groups: list[tuple[Any, list[tuple[str, ...]]]] = [
        ("all", [("encoding_model", ALL_SPLITS_KEY), ("encoding_model",), ()])
    ]
    for k in range(1, N_SPLITS + 1):
        groups.append((k, [("encoding_model", form) for form in split_key_forms(k)]))
    for split, paths in groups:
        for path in paths:
            group = _get(meta, *path) if path else meta
            if not isinstance(group, dict) or "correlation_results" not in group:
                continue
            where = ".".join(path) or "<top level>"
            entry = {"correlation": _sensor_time_map(group["correlation_results"], shape,
                                                     f"{where}.correlation_results", source)}
            if "percent_noise_ceiling" in group:
                entry["percent_noise_ceiling"] = _sensor_time_map(group["percent_noise_ceiling"], shape,
                                                                  f"{where}.percent_noise_ceiling", source)
            accuracy[split] = entry
            break
    return OutputLabels(names, prefixes, hemis, regions, times, reliability("ncsnr"), reliability("noise_ceiling"),
                        accuracy)
