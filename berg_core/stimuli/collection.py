"""What every stimulus collection shares: ids, length, slicing, batches, decoding ahead.

The collections of the non-image kinds (:mod:`~berg_core.stimuli.sentences`,
:mod:`~berg_core.stimuli.timed_words`, :mod:`~berg_core.stimuli.video`) hold one item per
stimulus; a batch is a slice of the same class. Images keep their own class
(:class:`berg_core.stimuli.inputs.Stimuli`), which offers the same members.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from berg_core.errors import StimulusError

__all__ = ["ItemCollection", "check_ids", "describe"]


def describe(obj: Any) -> str:
    """A short description of a user value for messages: type, and shape and dtype for arrays."""
    shape, dtype = getattr(obj, "shape", None), getattr(obj, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(obj, (str, bytes)):
        return f"{type(obj).__name__} of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(obj).__name__} {obj!r}"[:200]


def check_ids(ids: Any, n: int) -> list[Any]:
    """``stimulus_ids`` as a list of ``n`` distinct strings, or of ``n`` distinct integers."""
    from berg_core.stimuli.inputs import _check_ids

    return _check_ids(ids, n)


@dataclass
class ItemCollection:
    """Validated stimuli of one kind: ``items[i]`` is stimulus ``ids[i]``.

    Subclasses set :attr:`kind` and :attr:`unit`, and may override :meth:`n_units`,
    :meth:`_decode` (what :meth:`decoded` computes ahead, in a background thread) and
    :meth:`fingerprint_parts` (what a resumed result compares).
    """

    #: the card's ``stimuli`` value this collection serves
    kind: ClassVar[str] = ""
    #: the progress bar's unit (one per :meth:`n_units`)
    unit: ClassVar[str] = "stimulus"

    ids: list[Any]
    items: list[Any]
    _decoded: list[Any] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: slice) -> Any:
        if not isinstance(index, slice):
            raise TypeError(f"{type(self).__name__} are indexed by slices")
        decoded = None if self._decoded is None else self._decoded[index]
        return replace(self, ids=self.ids[index], items=self.items[index], _decoded=decoded)

    def batches(self, batch_size: int) -> Iterator[Any]:
        """Consecutive batches of at most ``batch_size`` stimuli."""
        for start in range(0, len(self), batch_size):
            yield self[start : start + batch_size]

    def n_units(self) -> int:
        """How many progress units this collection holds (stimuli, unless a kind counts otherwise)."""
        return len(self)

    def decoded(self) -> Any:
        """This batch with its content decoded now (berg calls it ahead, in a background thread)."""
        if self._decoded is None:
            self._decoded = self._decode()
        return self

    def _decode(self) -> list[Any]:
        return list(self.items)

    def contents(self) -> list[Any]:
        """The decoded content of each stimulus, in order."""
        return self._decoded if self._decoded is not None else self._decode()

    def fingerprint_parts(self) -> Sequence[Any]:
        """Arrays, strings or bytes that make up this batch's content (digested for resume)."""
        return self.contents()

    def with_ids(self, ids: Any) -> Any:
        """The same stimuli under ``ids`` (checked: one each, distinct, all strings or all integers)."""
        return replace(self, ids=check_ids(ids, len(self)))

    def __getstate__(self) -> dict[str, Any]:
        # decoded content is a cache: a batch sent to a worker decodes there, it does not travel
        return {**self.__dict__, "_decoded": None}


def refuse_recursive(recursive: bool, kind: str) -> None:
    """``recursive=True`` reads subfolders of images or videos; other kinds have no folders to read."""
    if recursive:
        raise StimulusError(f"recursive=True reads subfolders of image or video folders; {kind} stimuli have none")
