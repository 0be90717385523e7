"""What makes two encodes the same computation: fingerprints of stimuli and weights.

A resumed result must hold rows of one computation only, so a result store
records, with its request, a digest of the weights the model computes with,
and with every finished batch, a digest of that batch's decoded images.
Resuming re-decodes the finished batches (cheap next to the backbone) and
compares their digests.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from berg_core.models.base import EncodingModel
    from berg_core.stimuli.inputs import Stimuli

__all__ = ["stimulus_fingerprint", "weights_fingerprint"]

#: Digests of modules already hashed in this process, by id (modules are shared between models).
_MODULE_DIGESTS: dict[int, tuple[Any, str]] = {}
#: Attributes that do not hold weights: handles, descriptions, the plugin manager, and copies of weights in
#: another layout made at the first product (oneDNN's packed projection: it appears after the first encode).
_SKIP = {"card", "store", "factory", "_plugin_manager", "plugin_name", "device", "selection", "_packed"}
#: Deep enough for read-outs nested in helper objects (model -> readout -> heads -> tensors); cycles are cut by `seen`.
_MAX_DEPTH = 16


def _update_array(h: Any, arr: Any) -> None:
    import torch

    if isinstance(arr, torch.Tensor):
        t = arr.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return
    a = np.ascontiguousarray(arr)
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())


def stimulus_fingerprint(batch: Stimuli) -> str:
    """Digest of a batch's decoded content, of any kind (pixels, frames, texts, words and onsets; not the ids)."""
    h = hashlib.blake2b(digest_size=16)
    for part in batch.fingerprint_parts():
        if isinstance(part, bytes):
            # length first: ["ab", "c"] and ["a", "bc"] are other stimuli
            h.update(f"bytes{len(part)}".encode())
            h.update(part)
        else:
            _update_array(h, part)
    return h.hexdigest()


def _module_digest(module: Any) -> str:
    key = id(module)
    hit = _MODULE_DIGESTS.get(key)
    if hit is not None and hit[0]() is module:
        return str(hit[1])
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        _update_array(h, tensor)
    digest = h.hexdigest()
    _MODULE_DIGESTS[key] = (weakref.ref(module), digest)
    return digest


def _walk(h: Any, obj: Any, depth: int, seen: dict[int, Any]) -> None:
    import torch

    if id(obj) in seen or depth > _MAX_DEPTH:
        return
    # keyed by id, holding the object: a visited object stays alive, so no later object can reuse its id
    seen[id(obj)] = obj
    if isinstance(obj, torch.nn.Module):
        h.update(_module_digest(obj).encode())
    elif isinstance(obj, torch.Tensor) or (isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc"):
        _update_array(h, obj)
    elif isinstance(obj, dict):
        _walk_items(h, obj, depth, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(h, v, depth + 1, seen)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type) and type(obj).__module__.split(".")[0] != "builtins":
        _walk_items(h, {k: v for k, v in vars(obj).items() if k not in _SKIP}, depth, seen)


def _walk_items(h: Any, mapping: dict[Any, Any], depth: int, seen: dict[int, Any]) -> None:
    for k in sorted(mapping, key=str):
        h.update(str(k).encode())
        _walk(h, mapping[k], depth + 1, seen)


def weights_fingerprint(model: EncodingModel) -> str:
    """Digest of every array the model computes with: backbone and read-out weights, masks.

    The backbone is hashed once per process (every model of that backbone shares it).
    """
    h = hashlib.blake2b(digest_size=16)
    _walk_items(h, {k: v for k, v in vars(model).items() if k not in _SKIP}, 0, {})
    return h.hexdigest()
