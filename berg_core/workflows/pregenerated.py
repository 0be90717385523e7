"""Pre-generated in silico responses stored next to the models.

Layout (see ``specs/store_layout.md``)::

    pregenerated_insilico_neural_responses/modality-{m}/train_dataset-{d}/model-{x}/
        imageset-{name}/responses_subject-{SS}.zarr

Each group is written by :class:`~berg_core.results.zarr_sink.ZarrResultSink`
(``BERG.encode(model, images, store=pregenerated_url(...))``), so it carries
the same labels as ``encode``'s output. Reading opens it lazily: only labels
are read until values are asked for, and a selection by label keeps it lazy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.cards.enforce import did_you_mean
from berg_core.cards.model_card import subject_tag
from berg_core.errors import InvalidParameterError, StoreError
from berg_core.models.selection import grid_indices, mask_indices, name_indices, nearest_positions, select_names

if TYPE_CHECKING:
    import xarray as xr

    from berg_core.cards.model_card import ModelCard
    from berg_core.store.model_store import Store

__all__ = ["PREGENERATED_ROOT", "label_aliases", "load_pregenerated", "pregenerated_path", "pregenerated_url", "select_by_label"]

PREGENERATED_ROOT = "pregenerated_insilico_neural_responses"
_IMAGESET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: kinds of card selection keys whose values are labels (or a mask) of their whole axis, as stored responses are selected
_LABEL_KINDS = ("names", "time_window", "mask")


def _folder(card: ModelCard) -> str:
    folder = card.store_path.strip("/")
    return folder.split("/", 1)[1] if folder.startswith("encoding_models/") else folder


def pregenerated_path(card: ModelCard, imageset: str, subject: int | str | None) -> str:
    """Store-relative path of the responses of ``card``'s model to ``imageset`` for ``subject``."""
    if not isinstance(imageset, str) or not _IMAGESET_RE.match(imageset):
        raise InvalidParameterError(f"imageset must be a name of letters, digits, '.', '_' or '-', got {imageset!r}")
    name = "responses.zarr" if subject is None else f"responses_subject-{subject_tag(subject)}.zarr"
    return f"{PREGENERATED_ROOT}/{_folder(card)}/imageset-{imageset}/{name}"


def pregenerated_url(store_url: str, card: ModelCard, imageset: str, subject: int | str | None) -> str:
    """Where ``encode(..., store=...)`` writes pre-generated responses in the store at ``store_url``."""
    return f"{store_url.rstrip('/')}/{pregenerated_path(card, imageset, subject)}"


def _available(store: Store, card: ModelCard) -> list[str]:
    try:
        names = store.listdir(f"{PREGENERATED_ROOT}/{_folder(card)}")
    except StoreError:
        return []
    return [n.removeprefix("imageset-") for n in names if n.startswith("imageset-")]


def load_pregenerated(
    store: Store, card: ModelCard, imageset: str, subject: int | str | None, selection: dict[str, Any] | None = None
) -> xr.DataArray:
    """Open stored responses lazily, optionally selecting outputs by label.

    Raises
    ------
    InvalidParameterError
        No responses for this image set and subject (the message lists the image sets there are),
        or a selection key/label that the responses do not have.
    """
    from berg_core.results.zarr_sink import open_result
    from berg_core.store.zarr_store import StoreZarr

    rel = pregenerated_path(card, imageset, subject)
    if not store.exists(f"{rel}/zarr.json"):
        avail = _available(store, card)
        raise InvalidParameterError(
            f"no pre-generated responses of {card.id} to imageset {imageset!r}"
            + (f" for subject {subject}" if subject is not None else "")
            + f" in {store.url}; image sets there: {avail or 'none'}"
        )
    da = open_result(StoreZarr(store, rel), source=store.url_of(rel))
    if da.attrs.get("model_id") not in (None, card.id):
        raise StoreError(f"{store.url_of(rel)} holds responses of {da.attrs.get('model_id')}, not {card.id}")
    if selection:
        da = select_by_label(da, selection, card.id, label_aliases(card))
    return da


def label_aliases(card: ModelCard) -> dict[str, str]:
    """The card's selection keys that select labels along one output axis -> that axis (``timepoints`` -> ``time``).

    Keys that select positions (``indices``, ``mask_or_indices``) or groups are left out: their
    values are not labels of the axis, so reading them as labels would select other outputs.
    """
    return {k.name: k.axis for k in card.selection_keys if k.axis and k.kind in _LABEL_KINDS}


def _singular(key: str) -> str | None:
    if key.endswith("ices"):
        return key[:-4] + "ex"  # vertices, indices
    return key[:-1] if key.endswith("s") else None


def _resolve(da: xr.DataArray, key: str, aliases: Mapping[str, str]) -> str:
    for name in (key, aliases.get(key), _singular(key)):
        if name and (name in da.dims or name in da.coords):
            return name
    valid = sorted({str(n) for n in (*da.dims, *da.coords)} - {"stimulus"})
    raise InvalidParameterError(
        f"selection key {key!r} is not a label of these responses; select by one of {valid} "
        f"(or its plural), e.g. {{'{valid[0] if valid else 'channel'}': [...]}}.{did_you_mean([key], valid)}".rstrip(".")
    )


def select_by_label(
    da: xr.DataArray, selection: dict[str, Any], owner: str = "these responses", aliases: Mapping[str, str] | None = None
) -> xr.DataArray:
    """``da`` restricted to the labels in ``selection``, lazily; no dimension is dropped.

    Keys are dimension or coordinate names (``channel``, ``time``, ``hemisphere``...), their
    plural, or a key of ``aliases`` (the model card's label keys, see :func:`label_aliases`). Values are read by the SDK's selection primitives, as a model's selection
    is: a boolean mask over the dimension; labels of a dimension (kept in the order given,
    each once; numbers matched within a tolerance); a ``slice`` of labels (both ends
    inclusive); or labels of a coordinate along a dimension (``hemisphere``, ``roi``), each
    naming the group of elements that carry it (in their order along the dimension).
    """
    if not isinstance(selection, dict):
        raise InvalidParameterError(f"selection must be a dict such as {{'channel': ['Oz']}}, got {type(selection).__name__}")
    for key, value in selection.items():
        name = _resolve(da, str(key), aliases or {})
        coord = da[name]
        if coord.ndim != 1:
            raise InvalidParameterError(f"cannot select by {name!r}: it spans {coord.dims}")
        dim = str(coord.dims[0])
        if dim == "stimulus":
            raise InvalidParameterError("select stimuli with .sel(stimulus=...) on the result; selection= picks outputs")
        da = da.isel({dim: _positions(da, name, dim, value, owner)})
    return da


#: how far a requested number may lie from a stored label (labels are written as float32/float64)
_LABEL_TOLERANCE = 1e-6


def _positions(da: xr.DataArray, name: str, dim: str, value: Any, owner: str) -> Any:
    labels = da[name].values
    what, units = f"selection[{name!r}]", str(da[name].attrs.get("units", ""))
    numeric = labels.dtype.kind in "iuf"
    if isinstance(value, slice):
        if name != dim:
            raise InvalidParameterError(f"a slice selects along a dimension; {name!r} is a coordinate along {dim!r}")
        if numeric:
            return grid_indices(value, labels, what=what, tolerance=_LABEL_TOLERANCE, units=units, noun=name)
        return da.indexes[dim].slice_indexer(value.start, value.stop, value.step)
    if np.asarray(value).dtype == bool:
        return mask_indices(value, labels.size, what=what, noun=dim)
    if name != dim:
        # a coordinate along the dimension: each label names the group of elements carrying it
        groups = list(dict.fromkeys(labels.tolist()))
        wanted = np.atleast_1d(np.asarray(value)).tolist() if numeric else value
        if numeric:
            nearest_positions(wanted, groups, what=what, tolerance=_LABEL_TOLERANCE, units=units, noun=name)
        else:
            wanted = select_names(value, [str(g) for g in groups], what=what, owner=owner, noun=name, repeats="merge")
        return np.flatnonzero(np.isin(labels, wanted))
    if numeric:
        return nearest_positions(value, labels, what=what, tolerance=_LABEL_TOLERANCE, units=units, noun=name)
    return name_indices(value, [str(v) for v in labels.tolist()], what=what, owner=owner, noun=name)
