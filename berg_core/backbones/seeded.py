"""Backbones whose weights are a seeded initialisation: no weights file to find.

BERG 2.0's untrained models (``…-alexnet_untrained``) read out a network whose
weights are torch's default initialisation drawn right after
``torch.manual_seed(seed)``. Such a backbone is a :class:`SeededBackboneSpec`:
core builds it from the seed (never from a file), once per device, and shares
it between models like any other backbone.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from berg_core.backbones.spec import BackboneSpec

__all__ = ["SeededBackboneSpec", "get_seeded_backbone", "is_seeded"]


@dataclass(frozen=True)
class SeededBackboneSpec(BackboneSpec):
    """A backbone built from a seed instead of a weights file.

    Attributes
    ----------
    seed
        The seed given to ``torch.manual_seed`` right before the network is built.
    seeded_state_dict
        ``seeded_state_dict(seed) -> dict``: the state dict of the network built right after
        seeding (the caller's random state kept). Function or ``"module:function"`` name.
    """

    seed: int = 0
    seeded_state_dict: Callable[[int], Mapping[str, Any]] | str = ""

    def state_dict_of_seed(self) -> Mapping[str, Any]:
        """The seeded weights (see :attr:`seeded_state_dict`)."""
        target = self.seeded_state_dict
        if not callable(target):
            import importlib

            module, _, attr = str(target).partition(":")
            target = getattr(importlib.import_module(module), attr)
        return target(int(self.seed))  # type: ignore[operator,no-any-return]


def is_seeded(spec: Any) -> TypeGuard[SeededBackboneSpec]:
    """Whether ``spec`` is built from a seed (it has no weights file to resolve, fetch or write)."""
    return isinstance(spec, SeededBackboneSpec)


_CACHE: weakref.WeakValueDictionary[tuple[str, int, str], Any] = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def get_seeded_backbone(spec: SeededBackboneSpec, device: Any = "cpu") -> Any:
    """The shared extractor of ``spec`` on ``device`` (built once from the seed, then reused)."""
    import torch

    dev = torch.device(device)
    key = (spec.name, int(spec.seed), str(dev))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        model = spec.builder()(spec.state_dict_of_seed(), f"{spec.title} (torch.manual_seed({spec.seed}))").to(dev)
        # models of this backbone group by it: one forward pass per batch for all of them
        model.berg_backbone_key = spec.key
        _CACHE[key] = model
        return model


def seeded_cached_count() -> int:
    """Number of live seeded extractors (tests use it to prove they are freed)."""
    return len(_CACHE)
