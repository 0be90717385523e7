"""Reading a monkey's TVSD metadata dict and turning it into electrode and time labels.

BERG 2.0's dict (prep ``utils.py`` plus the test script): ``utah_array``
(``times`` (300,), ``monkey_id``, ``n_electrodes``, ``electrode_order``;
the docs spell the key ``utah-array``), ``roi`` (``roi_assignments`` (1024,)
indices into ``roi_labels`` ``['V1', 'V4', 'IT']``) and ``encoding_model``
(stimulus lists per training split, ``SNR`` (4, 1024), ``SNR_max`` (1024,),
``ncsnr`` and ``noise_ceiling`` (1024, 300), and per training split
``correlation_results`` and ``percent_noise_ceiling`` (1024, 300)). Times are
TVSD's ``tb``, in milliseconds (-100 ... 199); berg labels results in seconds.
Per-electrode entries are optional: present ones become coordinates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, first_weight_file, read_metadata

from .layout import N_ELECTRODES, N_SPLITS, N_TIMES, ROIS, metadata_candidates

if TYPE_CHECKING:
    from berg_core.plugin import Store

__all__ = ["OutputLabels", "labels_from_metadata", "load_metadata", "split_key"]

#: ``tb`` values beyond this magnitude are milliseconds (the epoch spans -0.1 to 0.2 s).
_MS_ABOVE = 5.0


def split_key(split: int | None) -> str:
    """The ``encoding_model`` key of a training split (``None``: all training splits)."""
    return "all_training_splits" if split is None else f"single_training_split_{split}"


def load_metadata(store: Store, subject: str, store_path: str | None = None) -> tuple[dict[str, Any], str]:
    """The monkey's metadata dict (read safely) and its URL; every documented file name is tried."""
    kwargs = {} if store_path is None else {"store_path": store_path}
    relpath = first_weight_file(store, metadata_candidates(subject, **kwargs), f"TVSD metadata of monkey {subject}")
    return read_metadata(store, relpath), store.url_of(relpath)


def _entry(meta: Any, path: str) -> Any:
    for part in path.split("/"):
        if not isinstance(meta, Mapping) or part not in meta:
            return None
        meta = meta[part]
    return meta


def _array(value: Any, shape: tuple[int, ...], name: str, source: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != shape or arr.dtype.kind not in "biuf":
        raise IntegrityError(f"{source}: {name} should be numbers of shape {shape}, found shape {arr.shape} dtype {arr.dtype}")
    return arr


@dataclass(frozen=True)
class OutputLabels:
    """The electrodes' ROIs and the times of the full output, and the reliability the metadata holds."""

    source: str
    roi: np.ndarray  # (1024,) str: V1, V4 or IT
    times: np.ndarray  # (300,) float64 seconds
    electrode_order: np.ndarray | None = None  # (1024,) int64: entry in TVSD's channel mapping
    #: coordinate name -> (dims, values): per electrode (1024,) or per electrode and time (1024, 300)
    reliability: dict[str, np.ndarray] = field(default_factory=dict)
    #: per training split (None: all splits; 1-4): coordinate name -> (1024, 300)
    accuracy: dict[int | None, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        return N_ELECTRODES * self.times.size


def _section(meta: Mapping[str, Any]) -> Any:
    for key in ("utah_array", "utah-array"):  # the code's spelling, then the docs'
        if key in meta:
            return meta[key]
    return None


def _times(meta: Mapping[str, Any], source: str) -> np.ndarray:
    raw = _entry(_section(meta), "times")
    if raw is None:
        raise IntegrityError(f"{source} has no utah_array/times (expected BERG 2.0's TVSD metadata layout)")
    times = _array(raw, (N_TIMES,), "utah_array/times", source).astype(np.float64)
    if not np.all(np.diff(times) > 0):
        raise IntegrityError(f"{source}: utah_array/times should increase, found {times[:5]}...")
    return times / 1000.0 if np.abs(times).max() > _MS_ABOVE else times


def _rois(meta: Mapping[str, Any], source: str) -> np.ndarray:
    assignments = _entry(meta, "roi/roi_assignments")
    labels = _entry(meta, "roi/roi_labels")
    if assignments is None or labels is None:
        raise IntegrityError(f"{source} has no roi/roi_assignments and roi/roi_labels (expected BERG 2.0's layout)")
    names = [str(x) for x in np.asarray(labels).ravel()]
    idx = _array(assignments, (N_ELECTRODES,), "roi/roi_assignments", source).astype(np.int64)
    if idx.min() < 0 or idx.max() >= len(names):
        raise IntegrityError(f"{source}: roi/roi_assignments should index roi_labels {names}")
    unknown = sorted(set(names) - set(ROIS))
    if unknown:
        raise IntegrityError(f"{source}: roi/roi_labels holds {unknown}; TVSD's ROIs are {list(ROIS)}")
    return np.asarray(names)[idx].astype(str)


def labels_from_metadata(meta: Mapping[str, Any], source: str) -> OutputLabels:
    """Check the metadata's shapes and pull out what labelling the output needs."""
    order = _entry(_section(meta), "electrode_order")
    if order is not None:
        order = _array(order, (N_ELECTRODES,), "utah_array/electrode_order", source).astype(np.int64)
    enc = _entry(meta, "encoding_model")
    reliability: dict[str, np.ndarray] = {}
    for coord, key, shape in (("ncsnr", "ncsnr", (N_ELECTRODES, N_TIMES)),
                              ("noise_ceiling", "noise_ceiling", (N_ELECTRODES, N_TIMES)),
                              ("snr_max", "SNR_max", (N_ELECTRODES,))):
        value = _entry(enc, key)
        if value is not None:
            reliability[coord] = _array(value, shape, f"encoding_model/{key}", source).astype(np.float32)
    accuracy: dict[int | None, dict[str, np.ndarray]] = {}
    for split in (None, *range(1, N_SPLITS + 1)):
        found = {}
        for coord, key in (("correlation", "correlation_results"), ("percent_noise_ceiling", "percent_noise_ceiling")):
            value = _entry(enc, f"{split_key(split)}/{key}")
            if value is not None:
                found[coord] = _array(value, (N_ELECTRODES, N_TIMES), f"encoding_model/{split_key(split)}/{key}",
                                      source).astype(np.float32)
        accuracy[split] = found
    return OutputLabels(source, _rois(meta, source), _times(meta, source), order, reliability, accuracy)
