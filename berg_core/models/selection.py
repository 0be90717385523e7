"""Selection primitives, written once for core and every plugin (exposed through :mod:`berg_core.plugin`).

A selection key's value is one of a few shapes, each with one parser here:

* names from a set (:func:`select_names`), in the order given, or read as a
  union of named groups with repeats merged (ROIs);
* a binary mask over an axis (:func:`mask_indices`), integer indices
  (:func:`index_list`), or either of the two (:func:`mask_or_indices`);
* coordinates on an evenly spaced grid: a value, a list, a binary mask or a
  slice with both ends inclusive (:func:`grid_indices`, EEG time points);
* the union of several groups where the first listed group that holds an
  element answers for it (:func:`first_listed_wins`).

:func:`check_selection` applies them to a user's selection as the card
declares it (``kind``, ``valid_values``, ``size``/``axis``, ``grid``), so core
refuses a bad selection before the plugin is called. Every message names the
key, what was given and what is valid.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from berg_core.cards.enforce import check_selection_keys, did_you_mean
from berg_core.cards.model_card import ModelCard, SelectionKey
from berg_core.errors import InvalidParameterError

__all__ = [
    "check_selection",
    "first_listed_wins",
    "grid_indices",
    "index_list",
    "mask_indices",
    "mask_or_indices",
    "name_indices",
    "nearest_positions",
    "select_names",
]


def _plural(noun: str) -> str:
    return noun[:-2] + "ices" if noun.endswith("ex") else noun + "s"


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


# ---- names ----------------------------------------------------------------------------------------
def select_names(
    value: Any,
    valid: Sequence[str],
    *,
    what: str,
    owner: str,
    noun: str = "name",
    repeats: Literal["refuse", "merge"] = "refuse",
) -> list[str]:
    """A name or a list of names from ``valid`` -> the names, in the order given.

    Parameters
    ----------
    value
        What the user gave.
    valid
        The names there are (listed in messages in this order).
    what
        How the message calls the value, e.g. ``"selection['roi']"``.
    owner
        Whose names they are (a model id), for messages.
    noun
        What one name names (``"ROI"``, ``"channel"``).
    repeats
        ``"refuse"`` a name given twice, or ``"merge"`` repeats (a union of groups), keeping the first.

    Raises
    ------
    InvalidParameterError
        Not a string or a non-empty list of strings, an unknown name (with the closest valid one), or a repeat.
    """
    valid = list(valid)
    plural = _plural(noun)
    if isinstance(value, str):
        names: list[Any] = [value]
    elif isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        names = list(value)
        if not names:
            raise InvalidParameterError(f"{what} is an empty list; expected a {noun} name or a list of names from {valid}")
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise InvalidParameterError(
                f"{what} must hold {noun} names (strings), got {type(bad[0]).__name__} {bad[0]!r:.100}; valid {plural}: {valid}"
            )
    else:
        raise InvalidParameterError(
            f"{what} must be a {noun} name or a list of names, got {type(value).__name__} {value!r}"[:300]
            + f"; valid {plural}: {valid}"
        )
    known = set(valid)
    unknown = list(dict.fromkeys(n for n in names if n not in known))
    if unknown:
        shown = repr(unknown[0]) if len(unknown) == 1 else str(unknown)
        raise InvalidParameterError(
            f"unknown {noun if len(unknown) == 1 else plural} {shown} for {owner}.{did_you_mean(unknown, valid)} "
            f"Valid {plural}: {valid}"
        )
    if repeats == "merge":
        return list(dict.fromkeys(names))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameterError(f"{what} lists {dupes} more than once; give each {noun} once")
    return names


def name_indices(value: Any, valid: Sequence[str], **kwargs: Any) -> np.ndarray:
    """:func:`select_names`, as positions in ``valid`` (``intp``, in the order given)."""
    lookup = {name: i for i, name in enumerate(valid)}
    return np.array([lookup[n] for n in select_names(value, valid, **kwargs)], dtype=np.intp)


def first_listed_wins(masks: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The union of overlapping groups, each element answered for by the first listed group holding it.

    Parameters
    ----------
    masks
        One boolean array per group, all of one shape.

    Returns
    -------
    union, parts
        The union mask and, per group in the order given, ``(positions, columns)``: the positions of
        the elements it answers for among its own elements (C order) and where they go among the
        union's elements (C order). A group left with no element of its own has empty arrays.
    """
    union = np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks])
    union_flat = np.flatnonzero(union)
    taken = np.zeros(union_flat.size, dtype=bool)
    parts = []
    for mask in masks:
        columns = np.searchsorted(union_flat, np.flatnonzero(mask))
        free = ~taken[columns]
        taken[columns[free]] = True
        parts.append((np.flatnonzero(free), columns[free]))
    return union, parts


# ---- masks and indices ------------------------------------------------------------------------------
def mask_indices(mask: Any, size: int, *, what: str, noun: str, empty_hint: str = "", length_hint: str = "") -> np.ndarray:
    """A binary mask (bool, or 0/1 numbers) of ``size`` entries -> the indices of its ones (``int64``, ascending).

    Raises
    ------
    InvalidParameterError
        Another length (``length_hint`` follows the message), a value other than 0/1, or no one at all
        (``empty_hint`` follows: how to select nothing or everything, where the model allows it).
    """
    arr = np.asarray(mask)
    if arr.ndim != 1 or arr.size != size:
        raise InvalidParameterError(
            f"{what} as a binary mask must have {size:,} entries (one per {noun}), got {arr.size:,}{length_hint}"
        )
    if arr.dtype != bool:
        non_binary = ~np.isin(arr, (0, 1))
        if non_binary.any():
            first = int(np.flatnonzero(non_binary)[0])
            raise InvalidParameterError(
                f"{what} as a binary mask must hold only 0/1 (or True/False), but entry {first} is "
                f"{arr[first].item()!r}{length_hint}"
            )
    idx = np.flatnonzero(arr).astype(np.int64)
    if idx.size == 0:
        raise InvalidParameterError(f"{what} is an all-zero mask, which selects no {noun}{empty_hint}")
    return idx


def index_list(value: Any, size: int, *, what: str, noun: str, ordered: bool = True) -> np.ndarray:
    """Integer indices in ``0..size-1`` (one int or a list), each once -> ``int64`` in the order given (or sorted).

    Raises
    ------
    InvalidParameterError
        Not integers, out of range, repeated, or empty.
    """
    expected = f"{noun} indices in 0-{size - 1}"
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes, dict, set)):
        raise InvalidParameterError(f"{what} must be {expected}, got {type(value).__name__} {value!r:.100}")
    try:
        arr = np.atleast_1d(np.asarray(value))
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{what} must be {expected}; it could not be read as an array ({exc})") from None
    if arr.ndim != 1:
        raise InvalidParameterError(f"{what} must be one-dimensional ({expected}), got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidParameterError(f"{what} is empty; give at least one of the {expected}")
    if arr.dtype.kind not in "iu":
        raise InvalidParameterError(f"{what} must hold integers ({expected}), got values of type {arr.dtype}: {value!r:.100}")
    return _checked_indices(arr, size, what, noun, ordered)


def _checked_indices(arr: np.ndarray, size: int, what: str, noun: str, ordered: bool) -> np.ndarray:
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= size:
        raise InvalidParameterError(f"{what} holds {noun} index {lo if lo < 0 else hi}, outside 0-{size - 1}")
    values, counts = np.unique(arr, return_counts=True)
    if values.size != arr.size:
        raise InvalidParameterError(f"{what} repeats {noun} index {int(values[counts > 1][0])}; list each {noun} once")
    return arr.astype(np.int64) if ordered else values.astype(np.int64)


def mask_or_indices(value: Any, size: int, *, what: str, noun: str) -> np.ndarray:
    """A binary mask of ``size`` entries or an index array -> sorted unique ``int64`` indices.

    A boolean array, or an array of exactly ``size`` entries, is a mask; anything else is indices.
    An empty list selects nothing (an empty result), an all-zero mask is refused as a likely mistake.
    """
    empty_hint = f"; to select no {noun} here pass an empty list ({what} = []), to keep every {noun} omit the key"
    expected = f"a binary mask of {size:,} entries or an array of {noun} indices in 0-{size - 1}"
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise InvalidParameterError(f"{what} must be {expected}, got {type(value).__name__} {value!r}"[:300])
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{what} must be {expected}; it could not be read as an array ({exc})") from None
    if arr.ndim != 1:
        raise InvalidParameterError(f"{what} must be one-dimensional ({expected}), got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)  # explicit: none of this axis
    if arr.dtype.kind not in "biuf":
        raise InvalidParameterError(f"{what} has dtype {arr.dtype}; expected {expected}")
    if arr.dtype == bool or arr.size == size:
        return mask_indices(
            arr, size, what=what, noun=noun, empty_hint=empty_hint,
            length_hint=f"; to select {_plural(noun)} by index, pass fewer indices",
        )
    if arr.dtype.kind == "f":
        raise InvalidParameterError(
            f"{what} has {arr.size} float values; a mask must have exactly {size:,} entries "
            f"and {noun} indices must be integers"
        )
    return _checked_indices(arr, size, what, noun, ordered=False)


# ---- coordinates on a grid ----------------------------------------------------------------------------
def _in_words(units: str) -> str:
    return {"s": "seconds", "ms": "milliseconds"}.get(units, units)


def _grid_text(grid: np.ndarray, units: str) -> str:
    u = f" {units}" if units else ""
    if grid.size > 1 and np.allclose(np.diff(grid), np.diff(grid)[0], rtol=1e-3):
        return f"{grid[0]:.3f} to {grid[-1]:.3f}{u} in steps of {np.diff(grid)[0]:.3g}{u}"
    shown = [round(float(v), 6) for v in grid[:30]]
    return f"{shown}{' ...' if grid.size > 30 else ''}{u}"


def grid_indices(value: Any, grid: np.ndarray, *, what: str, tolerance: float, units: str = "s", noun: str = "time point") -> np.ndarray:
    """Coordinates on ``grid`` -> their indices.

    ``value`` is a binary mask with one entry per grid point (bool, ints, or 0.0/1.0 floats of
    the grid's length), a coordinate or a list of coordinates (each within ``tolerance`` of a grid
    point, kept in the order given, each once), or a ``slice`` of coordinates, label-based like
    ``DataArray.sel``: both ends inclusive, ``None`` for an open end, no step.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if isinstance(value, slice):
        return _slice_indices(value, grid, what, tolerance, units, noun)
    if _is_real(value):
        return nearest_positions(float(value), grid, what=what, tolerance=tolerance, units=units, noun=noun)
    if isinstance(value, (str, bytes, dict, set)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise InvalidParameterError(
            f"{what} must be a binary mask of length {grid.size}, {_plural(noun)} in {_in_words(units)} (a number or a "
            f"list of numbers), or a slice of {_in_words(units)}; got {type(value).__name__} {value!r:.100}"
        )
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        # ragged nesting such as [0.1, [0.2]]: numpy refuses to build it
        raise InvalidParameterError(
            f"{what} must be a flat list of numbers (a 0/1 mask or {_plural(noun)} in {_in_words(units)}), got "
            f"nested items: {value!r:.100}; available {_plural(noun)}: {_grid_text(grid, units)}"
        ) from None
    if arr.ndim != 1:
        raise InvalidParameterError(
            f"{what} must be one-dimensional (a 0/1 mask or {_plural(noun)} in {_in_words(units)}), got shape "
            f"{arr.shape}; available {_plural(noun)}: {_grid_text(grid, units)}"
        )
    if arr.size == 0:
        raise InvalidParameterError(f"{what} is empty; available {_plural(noun)}: {_grid_text(grid, units)}")
    hint = f"; for {_plural(noun)} in {_in_words(units)} pass floats, e.g. [{grid[grid.size // 2]:.3g}]"
    if arr.dtype.kind in "biu" or (arr.dtype.kind == "f" and arr.size == grid.size and np.isin(arr, (0.0, 1.0)).all()):
        return mask_indices(arr, grid.size, what=what, noun=noun, length_hint=hint)
    if arr.dtype.kind == "f":
        return nearest_positions(arr, grid, what=what, tolerance=tolerance, units=units, noun=noun)
    raise InvalidParameterError(
        f"{what} must hold numbers (a 0/1 mask or {_plural(noun)} in {_in_words(units)}), got values of type "
        f"{arr.dtype}: {value!r:.100}"
    )


def nearest_positions(
    requested: Any, grid: Any, *, what: str, tolerance: float, units: str = "", noun: str = "value"
) -> np.ndarray:
    """Positions in ``grid`` of the coordinates ``requested``, each within ``tolerance`` of one, each once.

    ``grid`` need not be sorted; lookup is by binary search, so long grids (vertices) cost no
    ``len(requested) x len(grid)`` temporary.
    """
    requested = np.atleast_1d(np.asarray(requested, dtype=np.float64))
    grid = np.asarray(grid, dtype=np.float64)
    order = np.argsort(grid, kind="stable")
    ordered = grid[order]
    right = np.searchsorted(ordered, requested).clip(0, ordered.size - 1)
    left = (right - 1).clip(0, ordered.size - 1)
    # the nearer neighbour; NaN has none and is caught as off-grid below
    nearer = np.where(np.abs(ordered[left] - requested) <= np.abs(ordered[right] - requested), left, right)
    nearest = order[nearer]
    off = ~(np.abs(grid[nearest] - requested) <= tolerance)
    u = f" {units}" if units else ""
    if off.any():
        within = f" (matched within {tolerance}{u})" if tolerance else ""
        raise InvalidParameterError(
            f"{what}: {requested[off][:5].tolist()}{u} are not {_plural(noun)} of the model; "
            f"available {_plural(noun)}: {_grid_text(grid, units)}{within}"
        )
    uniq, counts = np.unique(nearest, return_counts=True)
    if (counts > 1).any():
        dup = [round(float(grid[i]), 6) for i in uniq[counts > 1]]
        raise InvalidParameterError(f"{what} asks for {dup}{u} more than once")
    return nearest.astype(np.int64)


def _slice_indices(sl: slice, grid: np.ndarray, what: str, tolerance: float, units: str, noun: str) -> np.ndarray:
    if sl.step is not None:
        raise InvalidParameterError(f"{what} slice must not have a step, got {sl!r}; use a list or a mask instead")
    for name, bound in (("start", sl.start), ("stop", sl.stop)):
        if bound is not None and not (_is_real(bound) and np.isfinite(bound)):
            raise InvalidParameterError(f"{what} slice {name} must be a number in {_in_words(units)} or None, got {bound!r}")
    lo = -np.inf if sl.start is None else float(sl.start) - tolerance
    hi = np.inf if sl.stop is None else float(sl.stop) + tolerance
    idx = np.flatnonzero((grid >= lo) & (grid <= hi))
    if idx.size == 0:
        raise InvalidParameterError(
            f"{what} slice({sl.start}, {sl.stop}) selects no {noun}; available {_plural(noun)}: {_grid_text(grid, units)}"
        )
    return idx.astype(np.int64)


# ---- a selection, as the card declares it ----------------------------------------------------------
def check_selection(card: ModelCard, selection: Any) -> dict[str, Any] | None:
    """Check ``selection`` against the card: a dict, known keys, no conflicting keys, required when the card
    says so, and each value of a key with a ``kind`` parsed as that kind declares.

    Returns the selection (unchanged); the plugin resolves it against its data with the same primitives.

    Raises
    ------
    InvalidParameterError
        In the one style of :mod:`berg_core.cards.enforce`.
    """
    keys = list(card.selection_keys)
    if selection is not None and not isinstance(selection, dict):
        raise InvalidParameterError(
            f"selection must be a dict such as {_example(keys)} or None, got {type(selection).__name__}"
        )
    if selection:
        check_selection_keys(card, selection)
    param = card.parameter("selection")
    if not selection or all(v is None for v in selection.values()):
        if param is not None and param.required:
            key = next((k for k in keys if k.valid_values), keys[0] if keys else None)
            noun = _noun(key) if key is not None else "value"
            valid = f"; valid {_plural(noun)}: {key.valid_values}" if key is not None and key.valid_values else ""
            raise InvalidParameterError(f"{card.id} needs selection=..., e.g. {_example(keys)}{valid}")
        return selection
    for key in keys:
        if selection.get(key.name) is not None and key.kind is not None:
            check_value(card, key, selection[key.name])
    return selection


def _noun(key: SelectionKey) -> str:
    return key.noun or key.axis or "value"


def _example(keys: list[SelectionKey]) -> str:
    key = next((k for k in keys if k.valid_values), keys[0] if keys else None)
    if key is None:
        return "{}"
    return repr({key.name: key.valid_values[0] if key.valid_values else ...})


def check_value(card: ModelCard, key: SelectionKey, value: Any) -> Any:
    """Parse one selection value as ``key`` declares it (names, indices or grid positions)."""
    what, noun = f"selection[{key.name!r}]", _noun(key)
    if key.kind in ("names", "names_or_groups"):
        return select_names(value, [str(v) for v in key.valid_values or []], what=what, owner=card.id, noun=noun,
                            repeats="refuse" if key.kind == "names" else "merge")
    if key.kind == "time_window":
        grid = key.grid.values() if key.grid is not None else key.valid_values
        tolerance = key.grid.tolerance if key.grid is not None else 1e-9
        units = key.grid.units if key.grid is not None else ""
        return grid_indices(value, np.asarray(grid, dtype=np.float64), what=what, tolerance=tolerance, units=units, noun=noun)
    size = card.selection_size(key)
    assert size is not None  # the card validator requires it for these kinds
    if key.kind == "mask":
        return mask_indices(value, size, what=what, noun=noun)
    if key.kind == "indices":
        return index_list(value, size, what=what, noun=noun)
    return mask_or_indices(value, size, what=what, noun=noun)

