"""The marker of a store of synthetic weights (``berg-synthetic.json`` at its root).

Stores written by :func:`berg_core.workflows.synthetic.write_synthetic_store` (``berg demo``,
tests) carry it; every result of a model loaded from such a store says so in
``attrs["synthetic_weights"]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berg_core.errors import StoreError

if TYPE_CHECKING:
    from berg_core.store.model_store import Store

__all__ = ["SYNTHETIC_MARKER", "SYNTHETIC_NOTE", "read_synthetic_marker", "synthetic_note"]

#: File at the store root that marks a store of synthetic weights.
SYNTHETIC_MARKER = "berg-synthetic.json"
#: What results of such a store say about themselves (``attrs["synthetic_weights"]``).
SYNTHETIC_NOTE = "seeded random weights in the BERG 2.0 formats; these are not responses of a real brain"


def read_synthetic_marker(store: Store | str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of a synthetic store, or ``None`` for a store of real weights."""
    if not isinstance(store, (str, os.PathLike)):  # a Store (duck-typed: model_store imports this module)
        raw = store.read_bytes(SYNTHETIC_MARKER, missing_ok=True)
        source = store.url_of(SYNTHETIC_MARKER)
    else:
        path = Path(store).expanduser() / SYNTHETIC_MARKER
        raw = path.read_bytes() if path.is_file() else None
        source = str(path)
    if raw is None:
        return None
    try:
        marker = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{source} is not the JSON marker of a synthetic store: {exc}") from None
    if not isinstance(marker, dict):
        raise StoreError(f"{source} is not the JSON marker of a synthetic store (expected an object)")
    return marker


def synthetic_note(store: Store | str | os.PathLike[str]) -> str | None:
    """What results of ``store`` should say about their weights: the marker's note, or ``None``."""
    marker = read_synthetic_marker(store)
    if marker is None:
        return None
    return str(marker.get("synthetic_weights") or SYNTHETIC_NOTE)
