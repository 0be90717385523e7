"""Which subjects (and ROIs) of a model a store actually holds, from a listing of its files.

A card says what a model can do; a store, especially a partial download or a conversion of a few
subjects, holds only part of it. The names of the files tell which part: ``subject-SS`` / ``sub-SS``
and, for per-ROI models, ``roi-NAME`` (the same rules ``berg download`` selects files by).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berg_core.errors import StoreError

if TYPE_CHECKING:
    from berg_core.cards.model_card import ModelCard
    from berg_core.store.model_store import Store

__all__ = ["store_holdings"]


def store_holdings(store: Store, card: ModelCard) -> dict[str, Any]:
    """``{"store", "model_folder", "subjects", "rois", "per_roi_files"}`` of ``card``'s model in ``store``.

    ``rois`` maps each subject to the ROIs whose files are there (per-ROI models), or is ``None``
    when each subject's files hold every ROI.

    Raises
    ------
    StoreError
        The store has no file of the model.
    """
    from berg_core.workflows.convert import subject_of
    from berg_core.workflows.download import ACCURACY_DIR, card_rois, roi_of

    folder = card.store_path.strip("/")
    try:
        files = store.find(folder)
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot list {store.url_of(folder)}: {type(exc).__name__}: {exc}") from None
    heads = [rel[len(folder) + 1 :].split(".zarr/", 1)[0] for rel in files]
    heads = [h for h in heads if not h.startswith(f"{ACCURACY_DIR}/")]
    subjects: set[int | str] = set()
    rois: dict[int | str, set[str]] = {}
    for head in heads:
        subject = subject_of(head, card)
        if subject is None:
            continue
        subjects.add(subject)
        roi = roi_of(head)
        if roi is not None:
            rois.setdefault(subject, set()).add(roi)
    if not subjects and card.subjects is not None:
        raise StoreError(
            f"{store.url_of(folder)} holds no file of {card.id} for any subject "
            f"(expected names with subject-SS or sub-SS; see 'berg download {card.id}')"
        )
    per_roi = bool(rois)
    order = {name: i for i, name in enumerate(card_rois(card) or [])}
    return {
        "store": store.url,
        "model_folder": folder,
        "subjects": sorted(subjects, key=_order),
        "missing_subjects": [s for s in card.subjects or [] if s not in subjects],
        "per_roi_files": per_roi,
        "rois": {s: sorted(rois.get(s, ()), key=lambda r: (order.get(r, len(order)), r)) for s in sorted(subjects, key=_order)}
        if per_roi else None,
    }


def _order(subject: int | str) -> tuple[int, Any]:
    # one card's subjects are all numbers or all names; numbers sort as numbers
    return (0, subject) if isinstance(subject, int) else (1, str(subject))
