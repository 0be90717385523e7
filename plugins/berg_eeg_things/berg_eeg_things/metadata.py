"""Reading and checking a subject's metadata dict (BERG 2.0's nested layout).

The dict holds ``eeg.ch_names`` and ``eeg.times`` (the labels of the outputs)
and ``encoding_models.correlation_*`` (the per-channel, per-time accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import IntegrityError, metadata_entry, read_metadata

from .layout import N_REPETITIONS, metadata_relpath

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard, Store

__all__ = ["OutputLabels", "labels_from_metadata", "load_metadata"]


def load_metadata(card: ModelCard, subject: int, store: Store) -> tuple[dict[str, Any], str]:
    """The subject's metadata dict (read safely) and its URL, for messages."""
    relpath = metadata_relpath(card, subject)
    return read_metadata(store, relpath), store.url_of(relpath)


@dataclass(frozen=True)
class OutputLabels:
    """The channel names and times of the full output, and its accuracy maps."""

    ch_names: tuple[str, ...]
    times: np.ndarray  # (n_times,) float64, seconds
    corr_averaged: np.ndarray  # (n_channels, n_times)
    corr_single: np.ndarray  # (n_repetitions, n_channels, n_times)

    @property
    def n_outputs(self) -> int:
        return len(self.ch_names) * len(self.times)


def labels_from_metadata(meta: dict[str, Any], source: str) -> OutputLabels:
    """Check the metadata's shapes and pull out what labelling the output needs."""
    raw_names = metadata_entry(meta, "eeg/ch_names", source)
    names = raw_names.tolist() if isinstance(raw_names, np.ndarray) else raw_names
    if (
        not isinstance(names, (list, tuple))
        or not names
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        raise IntegrityError(f"{source}: eeg.ch_names should be unique channel name strings, found {raw_names!r:.200}")
    times = np.asarray(metadata_entry(meta, "eeg/times", source))
    if times.ndim != 1 or times.size < 1 or times.dtype.kind not in "fiu":
        raise IntegrityError(
            f"{source}: eeg.times should be a 1-D array of seconds, found shape {times.shape} dtype {times.dtype}"
        )
    times = times.astype(np.float64)
    if times.size > 1 and not np.all(np.diff(times) > 0):
        raise IntegrityError(f"{source}: eeg.times should increase, found {times[:5]}...")
    shape = (len(names), times.size)
    avg = np.asarray(metadata_entry(meta, "encoding_models/correlation_averaged_repetitions", source))
    single = np.asarray(metadata_entry(meta, "encoding_models/correlation_single_repetitions", source))
    if avg.shape != shape:
        raise IntegrityError(f"{source}: correlation_averaged_repetitions has shape {avg.shape}, expected {shape}")
    if single.shape != (N_REPETITIONS, *shape):
        raise IntegrityError(
            f"{source}: correlation_single_repetitions has shape {single.shape}, expected {(N_REPETITIONS, *shape)}"
        )
    return OutputLabels(tuple(names), times, avg, single)
