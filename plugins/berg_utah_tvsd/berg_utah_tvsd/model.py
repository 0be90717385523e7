"""The loaded TVSD ViT-B/32 encoding model (macaque multi-unit activity on Utah arrays).

Per image (BERG 2.0's math): ViT-B/32 block features ``f`` (460,800 values),
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` (250
components), ``y = z @ coef_.T + intercept_`` over 1,024 x 300 outputs,
electrode-major (``row = electrode * 300 + time``), reshaped to (electrodes,
times). ``train_splits="all"`` uses the model trained on all 22,248 training
trials; ``"single"`` the four models trained on disjoint quarters of them, each
with its own scaler, PCA and regression, stacked along a ``split`` dimension.
Only the selected rows are read; the scaler and PCA are folded into one product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    VIT_B_32_N_FEATURES,
    ViTB32Readout,
    WeightFile,
    first_weight_file,
    load_folded_heads,
    read_regression_rows,
)

from .layout import N_SPLITS, SPLITS, weights_candidates
from .metadata import OutputLabels, labels_from_metadata, load_metadata
from .selection import OutputSelection, parse_selection

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest

__all__ = ["DATA_DESCRIPTION", "TvsdModel"]

DATA_DESCRIPTION = (
    "in silico TVSD responses: multi-unit activity (MUA) of macaque V1, V4 and IT Utah-array electrodes, "
    "normalised as in TVSD, 1 kHz from -100 to 199 ms"
)


class TvsdModel(ViTB32Readout):
    """TVSD responses of one monkey's electrodes from ViT-B/32 features.

    Output: ``(stimulus, electrode, time)``, or ``(stimulus, split, electrode, time)``
    with ``train_splits="single"``; coordinates ``electrode`` (index 0-1023), ``roi``,
    ``electrode_order``, ``time`` (s) and, where the metadata has them, ``snr_max``,
    ``ncsnr``, ``noise_ceiling``, ``correlation`` and ``percent_noise_ceiling``.

    Parameters
    ----------
    request
        The ``berg_load_model`` hook's request; core checked the subject (``"N"``/``"F"``),
        selection and options (``preprocessing``, ``backbone_weights``, ``train_splits``).
    """

    default_batch_size = 32

    def __init__(self, request: LoadRequest) -> None:
        r, subject = request, str(request.subject)
        super().__init__(r.card, subject, r.selection, r.store, r.device, r.options.get("preprocessing"))
        self.train_splits: str = r.options.get("train_splits") or "all"
        meta, source = load_metadata(r.store, subject, r.card.store_path)
        self._labels: OutputLabels = labels_from_metadata(meta, source)
        del meta
        self.output: OutputSelection = parse_selection(r.selection, self._labels)
        self.selection = self.output.normalized
        self._coords = self._output_coords()
        #: the weight files read, store-relative (the newest name the store holds, see ``layout``)
        self.weight_files: list[str] = []
        self._load(r.backbone())
        self._attrs = self._result_attrs()

    def _read_regression(self, wf: WeightFile, n_components: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        rows = self.output.rows(self._labels.times.size)
        coef, intercept = read_regression_rows(wf, "reg_param", rows, self._labels.n_outputs, n_components)
        return [([coef], [intercept])]

    def _load(self, feature_extractor: Any) -> None:
        subject, path = str(self.subject), self.card.store_path
        if self.train_splits == "all":
            relpath = first_weight_file(self.store, weights_candidates(subject, None, path),
                                        f"{self.model_id} weights of monkey {subject} (train_splits='all')")
            self.weight_files = [relpath]
            self.load_readout(relpath, self._read_regression, feature_extractor)
            return
        readouts = []
        for k in SPLITS:
            relpath = first_weight_file(self.store, weights_candidates(subject, k, path),
                                        f"{self.model_id} weights of monkey {subject}, training split {k}")
            self.weight_files.append(relpath)
            readouts.append(load_folded_heads(self.store, relpath, VIT_B_32_N_FEATURES, self._read_regression,
                                              self.device, self.features_name))
        self.feature_extractor = feature_extractor
        self.readout = readouts  # read_out puts the splits side by side, split-major

    def _output_coords(self) -> dict[str, Any]:
        lab, e, t = self._labels, self.output.electrode_index, self.output.time_index
        coords: dict[str, Any] = {
            "electrode": ("electrode", e, {"long_name": "electrode index (0-1023) of the model's output"}),
            "roi": ("electrode", lab.roi[e], {"long_name": "area the electrode's array lies in"}),
            "time": ("time", lab.times[t], {"units": "s", "long_name": "time from stimulus onset"}),
        }
        if lab.electrode_order is not None:
            coords["electrode_order"] = ("electrode", lab.electrode_order[e],
                                         {"long_name": "entry in TVSD's 1024-channel mapping (0-based)"})
        if "snr_max" in lab.reliability:
            coords["snr_max"] = ("electrode", lab.reliability["snr_max"][e], {"long_name": "TVSD SNR_max"})
        for name, what in (("ncsnr", "noise-ceiling SNR of the recorded test responses"),
                           ("noise_ceiling", "noise ceiling (% explainable variance, 30 repeats)")):
            if name in lab.reliability:
                coords[name] = (("electrode", "time"), lab.reliability[name][np.ix_(e, t)], {"long_name": what})
        if self.train_splits == "all":
            for name, values in lab.accuracy.get(None, {}).items():
                coords[name] = (("electrode", "time"), values[np.ix_(e, t)])
        else:
            coords["split"] = ("split", np.array(SPLITS), {"long_name": "training split of the model (1-4)"})
            for name in ("correlation", "percent_noise_ceiling"):
                if all(name in lab.accuracy.get(k, {}) for k in SPLITS):
                    coords[name] = (("split", "electrode", "time"),
                                    np.stack([lab.accuracy[k][name][np.ix_(e, t)] for k in SPLITS]))
        return coords

    def _result_attrs(self) -> dict[str, Any]:
        attrs = self.base_attrs()
        attrs.update(long_name="in silico multi-unit activity", description=DATA_DESCRIPTION, modality="utah_array",
                     sampling_frequency_hz=1000.0, train_splits=self.train_splits)
        return attrs

    # ---- encoding -------------------------------------------------------------------------
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """``(B, 460800)`` ViT-B/32 features -> ``(stimulus, [split,] electrode, time)`` responses."""
        n_e, n_t = self.output.shape
        y = self.read_out(features).to("cpu", torch.float32).numpy()
        dims: tuple[str, ...]
        values: np.ndarray
        if self.train_splits == "single":
            values, dims = y.reshape(-1, N_SPLITS, n_e, n_t), ("stimulus", "split", "electrode", "time")
        else:
            values, dims = y.reshape(-1, n_e, n_t), ("stimulus", "electrode", "time")
        return xr.DataArray(values, dims=dims, coords={"stimulus": ("stimulus", np.asarray(stimulus_ids)), **self._coords},
                            attrs=dict(self._attrs), name="mua")

    # ---- metadata ---------------------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this monkey (read again from the store)."""
        return load_metadata(self.store, str(self.subject), self.card.store_path)[0]
