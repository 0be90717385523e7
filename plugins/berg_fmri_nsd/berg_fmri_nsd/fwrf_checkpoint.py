"""Building the fwRF network and read-out of one checkpoint file.

Only three entries of a checkpoint are read: ``stim_mean``,
``best_params.enc`` and ``best_params.fwrfs[subject]`` (an int key). The rest
(an ``argparse.Namespace``, training histories) is never rebuilt: the
restricted loader of :mod:`berg_core.io.torch_checkpoint` turns it into inert
placeholders and reads none of its tensors. A used entry that holds anything
but tensors and containers is refused with :class:`~berg_core.IntegrityError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from berg_core.plugin import IntegrityError, Store, TorchCheckpoint

from .fwrf_network import FwrfImageNet, FwrfReadout

__all__ = ["FwrfPart", "load_fwrf_part"]


@dataclass
class FwrfPart:
    """The network and read-out of one checkpoint file."""

    net: FwrfImageNet
    readout: FwrfReadout
    source: str

    @property
    def n_voxels(self) -> int:
        return self.readout.n_voxels


def _state_dict(entry: Any, where: str, source: str) -> Mapping[str, torch.Tensor]:
    if not isinstance(entry, Mapping) or not all(isinstance(v, torch.Tensor) for v in entry.values()):
        raise IntegrityError(f"{source}: {where} should be a state dict of tensors, found {type(entry).__name__}")
    return entry


def _load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str, source: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())  # torch's message spans lines
        raise IntegrityError(f"{source}: {where} does not match the documented fwRF architecture: {detail}") from None


def load_fwrf_part(store: Store, relpath: str, subject: int) -> FwrfPart:
    """Read one fwRF checkpoint of ``subject`` into an image network and a read-out (on CPU, eval mode).

    Raises
    ------
    StoreError
        The file is missing.
    IntegrityError
        The file is corrupt, lacks an entry, has unexpected keys or shapes, or
        a used entry holds objects other than tensors.
    """
    source = store.url_of(relpath)
    with store.open(relpath) as fh, TorchCheckpoint(fh, source) as ckpt:
        stim_mean = ckpt.get("stim_mean")
        enc = _state_dict(ckpt.get("best_params", "enc"), "best_params['enc']", source)
        subjects = ckpt.keys("best_params", "fwrfs")
        if subject not in subjects:
            raise IntegrityError(f"{source}: best_params['fwrfs'] has no read-out for subject {subject} (it has {subjects})")
        fwrf = _state_dict(ckpt.get("best_params", "fwrfs", subject), f"best_params['fwrfs'][{subject}]", source)
    if tuple(np.shape(stim_mean)) != (1, 3, 1, 1):
        raise IntegrityError(f"{source}: stim_mean has shape {tuple(np.shape(stim_mean))}, expected (1, 3, 1, 1)")
    # BERG 2.0 builds the network from stim_mean and then loads the state dict, whose 'mu' is what gets subtracted
    net = FwrfImageNet()
    _load_strict(net, enc, "best_params['enc']", source)
    b = fwrf.get("b")
    if b is None or b.ndim != 1:
        raise IntegrityError(f"{source}: the read-out has no 1-D bias 'b' (keys: {sorted(fwrf)})")
    readout = FwrfReadout(int(b.shape[0]))
    _load_strict(readout, fwrf, f"best_params['fwrfs'][{subject}]", source)
    return FwrfPart(net.eval(), readout.eval(), source)
