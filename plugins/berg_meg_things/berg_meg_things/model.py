"""The loaded THINGS-MEG1 ViT-B/32 encoding model.

Per image (reference math, BERG 2.0's MEG model): ViT-B/32 block features ``f``
(the outputs of the 12 encoder blocks, 12 x 50 x 768 = 460,800 values),
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` (250
values) and ``y = z @ coef_.T + intercept_`` (271 x 281 values, sensor-major),
reshaped to (sensors, times). ``train_splits="all"`` uses the model trained on
all 22,248 training trials; ``"single"`` the four models trained on the four
disjoint training splits, each with its own scaler, PCA and regression, stacked
along a ``split`` dimension. Only the selected regression rows are read.

The shared ViT-B/32 pass is the same one the EEG and fMRI ViT models use: BERG
2.0's MEG code extracts the modules ``encoder.layers.encoder_layer_k`` (whose
outputs are the ``...add_1`` nodes the others read) after torchvision's
``IMAGENET1K_V1`` transform (``preprocessing="berg-2.0"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    VIT_B_32_N_FEATURES,
    FoldedHeads,
    InvalidParameterError,
    ViTB32Readout,
    WeightFile,
    first_weight_file,
    load_folded_heads,
    read_regression_rows,
)

from .layout import N_SPLITS, SFREQ, SPLITS, weights_candidates
from .metadata import OutputLabels, labels_from_metadata, load_metadata
from .selection import OutputSelection, parse_selection

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest, ModelCard, Store

__all__ = ["SplitReadouts", "ThingsMEGModel", "load_model"]

DATA_DESCRIPTION = (
    "in silico THINGS-MEG1 responses: CTF MEG sensors (axial gradiometers), band-pass 0.1-40 Hz, "
    "baseline-corrected (-100 to 0 ms), 200 Hz, non-normalised"
)


@dataclass
class SplitReadouts:
    """The read-outs of the four single-split models (each its own scaler, PCA and regression), side by side."""

    parts: list[FoldedHeads]

    @property
    def n_components(self) -> int:
        return self.parts[0].n_components

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, 460800)`` -> ``(B, n_splits * outputs)``, split-major."""
        return torch.cat([part(features) for part in self.parts], dim=1)


class ThingsMEGModel(ViTB32Readout):
    """THINGS-MEG1 encoding model of one subject (see :func:`load_model`)."""

    default_batch_size = 32

    def __init__(
        self,
        card: ModelCard,
        subject: int,
        selection: OutputSelection,
        labels: OutputLabels,
        store: Store,
        device: torch.device,
        preprocessing: str | None,
        train_splits: str = "all",
    ) -> None:
        super().__init__(card, subject, selection.normalized, store, device, preprocessing)
        self.output = selection
        self.train_splits = train_splits
        self._labels = labels
        #: the weight files read, store-relative (the newest name the store holds, see ``layout``)
        self.weight_files: list[str] = []

    def _read_regression(self, wf: WeightFile, n_components: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """The selected rows of the file's one regression (``reg_param``)."""
        rows = self.output.rows(len(self._labels.times))
        coef, intercept = read_regression_rows(wf, "reg_param", rows, self._labels.n_outputs, n_components)
        return [([coef], [intercept])]

    def _load(self, feature_extractor: Any) -> None:
        subject = int(self.subject)  # type: ignore[arg-type]
        if self.train_splits == "all":
            relpath = first_weight_file(self.store, weights_candidates(self.card, subject),
                                        f"{self.model_id} weights of subject {subject} (train_splits='all')")
            self.weight_files = [relpath]
            self.load_readout(relpath, self._read_regression, feature_extractor)
            return
        parts = []
        for k in SPLITS:
            relpath = first_weight_file(self.store, weights_candidates(self.card, subject, int(k)),
                                        f"{self.model_id} weights of subject {subject}, training split {k}")
            self.weight_files.append(relpath)
            parts.append(load_folded_heads(self.store, relpath, VIT_B_32_N_FEATURES, self._read_regression,
                                           self.device, "ViT-B/32 block features"))
        if len({p.n_components for p in parts}) != 1:
            raise InvalidParameterError(  # pragma: no cover - BERG 2.0 fits 250 components for every split
                f"the four training-split models of subject {subject} have different PCA sizes "
                f"{[p.n_components for p in parts]}"
            )
        self.feature_extractor = feature_extractor
        self.readout = SplitReadouts(parts)  # type: ignore[assignment]

    # ---- encoding -------------------------------------------------------------------------
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses from ViT-B/32 block features ``(B, 460800)`` (shared by several models in one pass)."""
        n_s, n_t = self.output.shape
        y = self.read_out(features)
        shape = (features.shape[0], N_SPLITS, n_s, n_t) if self.train_splits == "single" else (features.shape[0], n_s, n_t)
        return self._label(y.reshape(shape).cpu().numpy(), stimulus_ids)

    def _label(self, values: np.ndarray, stimulus_ids: list[Any]) -> xr.DataArray:
        lab, s, t = self._labels, self.output.sensor_index, self.output.time_index
        attrs = self.base_attrs()
        attrs.update(
            long_name="in silico MEG response",
            description=DATA_DESCRIPTION,
            sampling_frequency_hz=SFREQ,
            modality="meg",
            train_splits=self.train_splits,
        )
        coords: dict[str, Any] = {
            "stimulus": ("stimulus", np.asarray(stimulus_ids)),
            "sensor_name": ("sensor", np.asarray(lab.sensor_names)[s], {"long_name": "CTF MEG sensor name"}),
            "sensor_prefix": ("sensor", np.asarray(lab.prefixes)[s], {"long_name": "CTF sensor group"}),
            "hemisphere": ("sensor", np.asarray(lab.hemispheres)[s]),
            "region": ("sensor", np.asarray(lab.regions)[s]),
            "time": ("time", lab.times[t], {"units": "s", "long_name": "time from stimulus onset"}),
        }
        if lab.ncsnr is not None:
            coords["ncsnr"] = (("sensor", "time"), lab.ncsnr[np.ix_(s, t)],
                               {"long_name": "noise-ceiling SNR of the recorded test responses"})
        if lab.noise_ceiling is not None:
            coords["noise_ceiling"] = (("sensor", "time"), lab.noise_ceiling[np.ix_(s, t)],
                                       {"units": "%", "long_name": "noise ceiling (% explainable variance, 12 repeats)"})
        dims: tuple[str, ...] = ("stimulus", "sensor", "time")
        if self.train_splits == "single":
            dims = ("stimulus", "split", "sensor", "time")
            coords["split"] = ("split", SPLITS, {"long_name": "training split of the model (4 disjoint quarters)"})
        return xr.DataArray(values, dims=dims, coords=coords, attrs=attrs, name="meg")

    # ---- metadata and accuracy ------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (``meg``, ``sensors``, ``encoding_model``), read afresh."""
        return load_metadata(self.card, int(self.subject or 0), self.store)[0]

    def accuracy(self, kind: Literal["correlation", "percent_noise_ceiling"] = "correlation") -> xr.DataArray:
        """Encoding accuracy on the test images of the selected outputs, for this model's ``train_splits``.

        Parameters
        ----------
        kind
            ``"correlation"`` (Pearson r with the repetition-averaged recordings) or
            ``"percent_noise_ceiling"`` (r² as % of the noise ceiling). Dims (sensor, time),
            with a leading ``split`` dim for ``train_splits="single"``.

        Raises
        ------
        InvalidParameterError
            An unknown ``kind``, or a metadata file that does not hold it.
        """
        if kind not in ("correlation", "percent_noise_ceiling"):
            raise InvalidParameterError(f"kind must be 'correlation' or 'percent_noise_ceiling', got {kind!r}")
        keys: list[Any] = ["all"] if self.train_splits == "all" else [int(k) for k in SPLITS]
        missing = [k for k in keys if kind not in self._labels.accuracy.get(k, {})]
        if missing:
            raise InvalidParameterError(
                f"the metadata of {self.model_id} subject {self.subject} holds no {kind} for training split(s) {missing}"
            )
        s, t = self.output.sensor_index, self.output.time_index
        maps = [self._labels.accuracy[k][kind][np.ix_(s, t)] for k in keys]
        coords: dict[str, Any] = {
            "sensor_name": ("sensor", np.asarray(self._labels.sensor_names)[s]),
            "time": ("time", self._labels.times[t], {"units": "s"}),
        }
        attrs = {"metric": "Pearson correlation" if kind == "correlation" else "% of noise ceiling",
                 "model_id": self.model_id, "subject": int(self.subject or 0), "train_splits": self.train_splits}
        if self.train_splits == "all":
            return xr.DataArray(maps[0], dims=("sensor", "time"), coords=coords, attrs=attrs, name=kind)
        coords["split"] = ("split", SPLITS)
        return xr.DataArray(np.stack(maps), dims=("split", "sensor", "time"), coords=coords, attrs=attrs, name=kind)


def load_model(request: LoadRequest) -> ThingsMEGModel:
    """Build a ready-to-encode model; core checked the options and the selection against the card."""
    card, subject, store = request.card, int(request.subject), request.store  # type: ignore[arg-type]
    train_splits = request.options.get("train_splits") or "all"
    if train_splits not in ("all", "single"):  # core checks the card's valid_values; kept for direct callers
        raise InvalidParameterError(f"train_splits must be 'all' or 'single', got {train_splits!r}")
    meta, source = load_metadata(card, subject, store)
    labels = labels_from_metadata(meta, source)
    del meta
    model = ThingsMEGModel(card, subject, parse_selection(request.selection, labels), labels, store, request.device,
                           request.options.get("preprocessing"), train_splits)
    # the backbone the card names, shared with every model of the same weights and device
    model._load(request.backbone())
    return model
