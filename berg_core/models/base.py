"""The base class of loaded encoding models.

Plugins subclass :class:`EncodingModel`; core drives it through the hooks.
The base class gives every model the same life cycle: a context manager,
a ``cleanup()`` that really frees weights, and metadata on the instance.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

from berg_core._version import __version__
from berg_core.errors import InvalidParameterError

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from berg_core.cards.model_card import ModelCard
    from berg_core.stimuli.inputs import Stimuli
    from berg_core.store.model_store import Store

__all__ = ["EncodingModel"]


class EncodingModel:
    """A model ready to encode stimuli.

    Subclasses implement :meth:`preprocess`, :meth:`encode_batch`,
    :meth:`get_metadata` and :meth:`_release`, and keep all large tensors as
    attributes that ``_release`` drops.

    Copying and pickling: ``copy.deepcopy(model)`` is an independent model that
    encodes identically; it copies every attribute except those named in
    ``_shared_on_copy`` (the store handle, the plugin manager and the process-wide
    backbone, already shared by every model that uses it). ``pickle`` stores how to
    load the model (store settings, plugins by reference, ``get_encoding_model``'s
    arguments), about 1 kB, and unpickling loads the weights again from the store:
    for BERG 2.0's EEG model, 460 MB of read-out tensors would otherwise travel with
    every pickle (see README, "BERG 2.0 compatibility"). A model after
    :meth:`cleanup` refuses both with :class:`~berg_core.InvalidParameterError`.

    Attributes
    ----------
    card : ModelCard
    subject : int, str or None
        As the card lists it (``2``, ``"N"``, ``"01"``); ``None`` for a participant-averaged model.
    selection : dict
        The normalised selection the model was built with.
    device : torch.device
    preprocessing : str or None
    """

    #: Batch size used when ``encode(batch_size=None)``.
    default_batch_size: int = 32
    #: Names of keyword options ``encode`` accepts for this model.
    encode_options: frozenset[str] = frozenset()
    #: A shared feature extractor (torch module) whose output :meth:`encode_features` reads out,
    #: or ``None`` for models that map input to responses in one step.
    feature_extractor: Any = None

    def __init__(
        self,
        card: ModelCard,
        subject: int | str | None,
        selection: dict[str, Any] | None,
        store: Store,
        device: torch.device,
        preprocessing: str | None = None,
    ) -> None:
        self.card = card
        self.subject = subject
        self.selection: dict[str, Any] = dict(selection or {})
        self.store = store
        self.device = device
        if preprocessing is None:
            preprocessing = card.default_preprocessing
        if card.preprocessing and (not isinstance(preprocessing, str) or preprocessing not in card.preprocessing):
            raise InvalidParameterError(
                f"preprocessing={preprocessing!r} is not available for {card.id}; "
                f"expected one of {sorted(card.preprocessing)}"
            )
        self.preprocessing = preprocessing
        self.plugin_name: str | None = None
        #: how to load this model again, here or in another process: a
        #: :class:`~berg_core.engine.factory.ModelFactory` (set when core loads the model)
        self.factory: Any = None
        #: the plugin manager that loaded the model: its owning plugin answers the model's hooks
        self._plugin_manager: Any = None
        self._closed = False

    # ---- identity -------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.card.id

    def __repr__(self) -> str:
        state = "closed" if self._closed else str(self.device)
        sel = f", selection={self.selection}" if self.selection else ""
        return f"<{type(self).__name__} {self.model_id} subject={self.subject}{sel} [{state}]>"

    @property
    def stimulus_kind(self) -> str:
        """The kind of stimuli this model takes, from its card (``images``, ``video``, ``sentences``, ``timed_words``)."""
        return str(self.card.stimuli)

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise InvalidParameterError(f"{self.model_id} (subject {self.subject}) was cleaned up; load it again to encode")

    @property
    def synthetic_note(self) -> str | None:
        """What results say about their weights when the store holds synthetic ones (``berg demo``, tests)."""
        return self.store.synthetic_note

    def base_attrs(self) -> dict[str, Any]:
        """attrs every result carries (JSON-friendly, so they survive Zarr and NetCDF).

        ``subject`` is the card's form of it (an integer or a name); a participant-averaged model's
        results carry none.
        """
        import json

        return {
            "model_id": self.model_id,
            **({} if self.subject is None else {"subject": self.subject if isinstance(self.subject, str) else int(self.subject)}),
            "selection": json.dumps(self.selection, default=_jsonable, sort_keys=True),
            "units": self.card.units,
            "template_space": self.card.template_space,
            "preprocessing": self.preprocessing or "",
            "berg_version": __version__,
            **({"synthetic_weights": note} if (note := self.synthetic_note) else {}),
        }

    # ---- to implement -------------------------------------------------------------------
    def preprocess(self, stimuli: Stimuli) -> torch.Tensor:
        """Turn a batch of stimuli into the model's input tensor on ``self.device``."""
        raise NotImplementedError

    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Encode one preprocessed batch (see the ``berg_encode_batch`` hook).

        The default runs :attr:`feature_extractor` then :meth:`encode_features`.
        """
        if self.feature_extractor is None:
            raise NotImplementedError(f"{type(self).__name__} must implement encode_batch or set feature_extractor")
        return self.encode_features(self.feature_extractor(batch), stimulus_ids)

    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Read out responses from :attr:`feature_extractor`'s output for one batch."""
        raise NotImplementedError

    @property
    def feature_key(self) -> Any:
        """Models with equal, non-None keys share preprocessing and features in a multi-model pass.

        The default key is the shared extractor instance (one per backbone, weights file and device,
        whichever plugin asked for it) plus how inputs are prepared: two subjects of a model then
        compute the backbone once per batch.
        """
        if self.feature_extractor is None:
            return None
        backbone = getattr(self.feature_extractor, "berg_backbone_key", None)
        return (backbone, id(self.feature_extractor), type(self).preprocess, self.preprocessing, str(self.device))

    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict for this model's subject (and ROI)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Drop every reference to weights and buffers."""

    # ---- life cycle ---------------------------------------------------------------------
    def cleanup(self) -> None:
        """Free the model's weights (CPU and GPU memory). The model cannot encode afterwards."""
        if self._closed:
            return
        self._release()
        self._closed = True
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    # ---- copy and pickle ----------------------------------------------------------------
    #: Attributes a deep copy shares with the original instead of copying: read-only handles
    #: shared by design (the store, the plugin manager, the process-wide backbone).
    _shared_on_copy: tuple[str, ...] = ("store", "_plugin_manager", "feature_extractor", "factory")

    def __deepcopy__(self, memo: dict[int, Any]) -> EncodingModel:
        """An independent model: its read-out weights, selection and labels are copied.

        The store handle, the plugin manager and :attr:`feature_extractor` (the
        process-wide backbone every model of that backbone already shares, never
        modified by encoding) are shared; ``cleanup()`` of either model leaves the
        other intact. A cleaned-up model cannot be copied (:class:`InvalidParameterError`).
        """
        from berg_core.models.copying import check_copyable, deepcopy_sharing

        check_copyable(self, "copy")
        return deepcopy_sharing(self, memo, [getattr(self, name, None) for name in self._shared_on_copy])  # type: ignore[no-any-return]

    def __copy__(self) -> EncodingModel:
        # a shallow copy shares the weights; without this, copy.copy would reload through __reduce__
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.selection = dict(self.selection)
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickles as how to load the model again: store, plugins and ``get_encoding_model``'s arguments.

        Unpickling loads the weights again from the store (the local cache for a remote
        store), so the pickle stays small (about 1 kB) for any model. Only models made by
        ``BERG.get_encoding_model`` and not cleaned up can be pickled.
        """
        from berg_core.models.copying import check_copyable

        check_copyable(self, "pickle")
        if self.factory is None:
            raise InvalidParameterError(
                f"cannot pickle {self!r}: only models made by BERG.get_encoding_model can be pickled "
                "(they carry how to load them again); copy.deepcopy works for any model"
            )
        return _rebuild, (self.factory,)

    def __enter__(self) -> EncodingModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def _rebuild(factory: Any) -> EncodingModel:
    """Unpickling: the model's factory loads it again from its store, through its plugin."""
    return factory.build()  # type: ignore[no-any-return]


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, slice):
        return {"start": obj.start, "stop": obj.stop, "step": obj.step}
    return str(obj)
