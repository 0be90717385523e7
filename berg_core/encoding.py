"""The batch loop behind ``BERG.encode``.

Each batch goes through the ``berg_preprocess`` and ``berg_encode_batch``
hooks; the labelled batch results are written into one preallocated array
(never grown by appending), so memory is the result plus one batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .errors import PluginError

if TYPE_CHECKING:
    from .model import EncodingModel
    from .plugins import PluginManager
    from .stimuli import Stimuli

__all__ = ["check_batch_result", "run_encode"]


def check_batch_result(model: EncodingModel, da: Any, ids: list[Any], template: xr.DataArray | None) -> xr.DataArray:
    """Check that a plugin's batch result keeps the hook's contract."""
    if not isinstance(da, xr.DataArray):
        raise PluginError(f"{model.model_id}: berg_encode_batch returned {type(da).__name__}, expected xarray.DataArray")
    if not da.dims or da.dims[0] != "stimulus" or da.sizes["stimulus"] != len(ids):
        raise PluginError(
            f"{model.model_id}: batch result has dims {da.dims} and shape {da.shape}; expected 'stimulus' first with length {len(ids)}"
        )
    if template is not None and (da.dims != template.dims or da.shape[1:] != template.shape[1:]):
        raise PluginError(f"{model.model_id}: batch result shape {da.shape} differs from the first batch's {template.shape}")
    return da


def run_encode(pm: PluginManager, model: EncodingModel, stimuli: Stimuli, batch_size: int, show_progress: bool) -> xr.DataArray:
    """Encode all of ``stimuli`` with ``model``, batch by batch."""
    n = len(stimuli)
    out: np.ndarray | None = None
    template: xr.DataArray | None = None
    start = 0
    with tqdm(total=n, unit="img", desc=model.model_id, disable=not show_progress, leave=False) as bar:
        for batch in stimuli.batches(batch_size):
            x = pm.hook.berg_preprocess(model=model, stimuli=batch)
            da = check_batch_result(model, pm.hook.berg_encode_batch(model=model, batch=x, stimulus_ids=batch.ids), batch.ids, template)
            if out is None:
                template = da
                out = np.empty((n, *da.shape[1:]), dtype=da.dtype)
            out[start : start + len(batch)] = da.values
            start += len(batch)
            bar.update(len(batch))
    assert out is not None and template is not None  # stimuli are never empty
    coords = {k: v for k, v in template.coords.items() if "stimulus" not in v.dims}
    coords["stimulus"] = ("stimulus", np.asarray(stimuli.ids))
    return xr.DataArray(out, dims=template.dims, coords=coords, attrs=dict(template.attrs), name=template.name)
