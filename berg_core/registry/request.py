"""What core hands a plugin's model-bound hooks (the load request) and what they answer (demo settings, convert plans).

One object per call instead of loose arguments, so a field added later (a new
store setting, a new shared service) does not break a plugin's hook signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from berg_core.cards.model_card import ModelCard
    from berg_core.store.model_store import Store

__all__ = ["ConvertPlan", "DemoSettings", "LoadRequest"]


@dataclass(frozen=True)
class LoadRequest:
    """Everything ``berg_load_model`` needs to build one model.

    Attributes
    ----------
    card
        The validated card of the requested model (the hook's plugin contributed it).
    subject
        The subject, already checked against ``card.subjects`` and in the card's form: an ``int``, a name
        (``"N"``, ``"01"``, ``"UTS01"``; do not ``int()`` it), or ``None`` for a participant-averaged model.
    selection
        The user's selection dict (e.g. ``{"roi": "V1"}``), or ``None`` for every output.
    store
        Where the weights live (local folder or any fsspec URL).
    device
        Resolved torch device.
    options
        The remaining keyword arguments of ``get_encoding_model`` (e.g. ``preprocessing="berg-2.0"``,
        ``backbone_weights=PATH``).
    """

    card: ModelCard
    subject: int | str | None
    selection: dict[str, Any] | None
    store: Store
    device: torch.device
    options: Mapping[str, Any] = field(default_factory=dict)
    #: how :meth:`backbone` finds a backbone by name (set by core from the registry)
    backbone_source: Callable[[str, LoadRequest, Any], Any] | None = field(default=None, repr=False, compare=False)

    def backbone(self, name: str | None = None, weights: Any = None) -> Any:
        """The shared feature extractor ``name`` (default: the card's ``backbone``) on this request's device.

        Any installed plugin may contribute it (the ``berg_backbones`` hook); its weights come
        from ``weights`` (a path), else the ``backbone_weights`` option, else the store, else
        the torch hub cache. Every model naming the same backbone and weights gets the same
        instance, so models of different plugins share one forward pass per batch.

        Raises
        ------
        ModelLoadError
            No installed plugin contributes ``name``, or its weights are nowhere.
        """
        from berg_core.errors import ModelLoadError

        wanted = name or self.card.backbone
        if not wanted:
            raise ModelLoadError(f"{self.card.id} names no backbone in its card; pass the name of one")
        if self.backbone_source is None:
            raise ModelLoadError(f"this load request of {self.card.id} was not made by core: it cannot look up backbones")
        return self.backbone_source(wanted, self, weights)


@dataclass(frozen=True)
class DemoSettings:
    """How ``berg demo`` runs one of a plugin's models (the ``berg_demo_settings`` hook).

    Attributes
    ----------
    store_options
        Options for the plugin's ``berg_write_synthetic_store`` (small sizes make a fast demo).
    selection
        The selection to encode with, for a model that needs one (or to keep to what the
        demo store holds); ``None`` for every output.
    """

    store_options: Mapping[str, Any] = field(default_factory=dict)
    selection: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ConvertPlan:
    """How ``berg convert`` chunks the regression rows of one weights file (the ``berg_convert_plan`` hook).

    Attributes
    ----------
    row_groups
        Name of a top-level regression group of the weights dict (``"reg_param"``,
        ``"lh_reg_param"``...) -> the group number of each of its rows (1-D integers, one per
        row; ``roi_row_groups`` makes them from region index lists). Rows are stored sorted by
        group, so reading one group's rows touches few chunks; readers restore the order.
    rows_per_chunk
        Rows per chunk of the regression arrays (1-D arrays such as intercepts take 16 times
        more); ``None`` keeps core's default. Match it to how the model reads its rows
        (for example the rows of one output channel).
    """

    row_groups: Mapping[str, np.ndarray] = field(default_factory=dict)
    rows_per_chunk: int | None = None
