"""The loaded THINGS EEG2 ViT-B/32 encoding model.

Per image (reference math): ViT-B/32 block features ``f`` (460,800 values),
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` and,
per repetition ``r``, ``y_r = z @ coef_r.T + intercept_r`` reshaped to
(channels, times). Here the scaler and PCA are one folded float32 projection
and the four repetitions one stacked product over the selected rows only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    VIT_B_32_N_FEATURES,
    FoldedProjection,
    IntegrityError,
    InvalidParameterError,
    RegressionHeads,
    ViTB32Readout,
    WeightFile,
    get_vit_b_32,
    open_weight_file,
    read_folded_projection,
)

from .layout import N_REPETITIONS, SFREQ, weights_relpath
from .metadata import OutputLabels, labels_from_metadata, load_metadata
from .selection import OutputSelection, parse_selection

if TYPE_CHECKING:
    from berg_core.plugin import ModelCard, Store

__all__ = ["ThingsEEGModel", "check_load_options", "load_model"]

REPETITIONS = np.arange(1, N_REPETITIONS + 1)
DATA_DESCRIPTION = (
    "in silico THINGS EEG2 responses: CSD-transformed, baseline-corrected (pre-stimulus mean) EEG sampled at "
    "200 Hz, one prediction per recording repetition"
)


def check_load_options(model_id: str, options: dict[str, Any]) -> tuple[str | None, str | os.PathLike[str] | None]:
    """``get_encoding_model``'s extra options as (preprocessing, backbone_weights).

    Core checked their names, types and valid values against the card before the plugin was called.
    """
    return options.get("preprocessing"), options.get("backbone_weights")


class ThingsEEGModel(ViTB32Readout):
    """THINGS EEG2 encoding model of one subject (see :func:`load_model`)."""

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
    ) -> None:
        super().__init__(card, subject, selection.normalized, store, device, preprocessing)
        self.output = selection
        self._labels = labels
        self.feature_extractor: torch.nn.Module | None = None
        self._projection: FoldedProjection | None = None
        self._heads: RegressionHeads | None = None

    # ---- building -------------------------------------------------------------------------
    def _load_weights(self, backbone_weights: str | os.PathLike[str] | None) -> None:
        self.feature_extractor = get_vit_b_32(self.device, weights=backbone_weights, store=self.store)
        wf = open_weight_file(self.store, weights_relpath(self.card, int(self.subject or 0)))
        try:
            W, c = read_folded_projection(wf)
            if W.shape[1] != VIT_B_32_N_FEATURES:
                raise IntegrityError(
                    f"{wf.source}: pca_param components_ have {W.shape[1]} features, expected {VIT_B_32_N_FEATURES} "
                    "(ViT-B/32 block features)"
                )
            coefs, intercepts = self._read_regressions(wf, W.shape[0])
        finally:
            # the unpickled dict (float64 regression weights, scaler, PCA extras) is not needed any more
            wf.close()
        self._projection = FoldedProjection.from_numpy(W, c, self.device)
        del W
        self._heads = RegressionHeads.from_numpy(coefs, intercepts, self.device)

    def _read_regressions(self, wf: WeightFile, n_components: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        rows = self.output.rows(len(self._labels.times))
        n_total = self._labels.n_outputs
        coefs, intercepts = [], []
        for r in REPETITIONS:
            key = f"reg_param/rep-{r}"
            intercept = wf.read(f"{key}/intercept_")
            if intercept.shape != (n_total,):
                raise IntegrityError(
                    f"{wf.source}: {key}/intercept_ has shape {intercept.shape}, expected ({n_total},) = "
                    f"{len(self._labels.ch_names)} channels x {len(self._labels.times)} times"
                )
            try:
                coef = wf.read(f"{key}/coef_", rows=rows, dtype=np.float32)
            except IndexError:
                raise IntegrityError(
                    f"{wf.source}: {key}/coef_ has fewer than the {n_total} rows of the outputs"
                ) from None
            if coef.shape != (rows.size, n_components):
                raise IntegrityError(
                    f"{wf.source}: {key}/coef_ rows have shape {coef.shape[1:]}, expected ({n_components},) "
                    "to match pca_param components_"
                )
            coefs.append(coef)
            intercepts.append(intercept[rows].astype(np.float32))
        return coefs, intercepts

    # ---- encoding -------------------------------------------------------------------------
    def encode_batch(self, batch: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses of one preprocessed batch: ``(stimulus, repetition, channel, time)`` float32."""
        self.check_open()
        assert self.feature_extractor is not None
        return self.encode_features(self.feature_extractor(batch), stimulus_ids)

    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses from ViT-B/32 block features ``(B, 460800)`` (shared by several models in one pass)."""
        self.check_open()
        assert self._projection is not None and self._heads is not None
        n_ch, n_t = self.output.shape
        with torch.inference_mode():
            z = self._projection(features)
            y = self._heads(z).reshape(features.shape[0], N_REPETITIONS, n_ch, n_t)
        return self._label(y.cpu().numpy(), stimulus_ids)

    def _label(self, values: np.ndarray, stimulus_ids: list[Any]) -> xr.DataArray:
        attrs = self.base_attrs()
        attrs.update(
            long_name="in silico EEG response",
            description=DATA_DESCRIPTION,
            sampling_frequency_hz=SFREQ,
            modality="eeg",
        )
        return xr.DataArray(
            values,
            dims=("stimulus", "repetition", "channel", "time"),
            coords={
                "stimulus": ("stimulus", np.asarray(stimulus_ids)),
                "repetition": ("repetition", REPETITIONS, {"long_name": "EEG recording repetition"}),
                "channel": ("channel", np.asarray(self.output.ch_names), {"long_name": "EEG channel (10-10 name)"}),
                "time": ("time", self.output.times, {"units": "s", "long_name": "time from stimulus onset"}),
            },
            attrs=attrs,
            name="eeg",
        )

    # ---- metadata and accuracy ------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (``eeg``, ``encoding_models``), read afresh."""
        return load_metadata(self.card, int(self.subject or 0), self.store)[0]

    def accuracy(self, kind: Literal["averaged", "single"] = "averaged") -> xr.DataArray:
        """Encoding accuracy (Pearson r on the test images) of the selected outputs.

        Parameters
        ----------
        kind
            ``"averaged"``: correlation with the repetition-averaged recorded responses,
            dims (channel, time). ``"single"``: per repetition, dims (repetition, channel, time).
        """
        ch, t = self.output.channel_index, self.output.time_index
        coords: dict[str, Any] = {
            "channel": ("channel", np.asarray(self.output.ch_names)),
            "time": ("time", self.output.times, {"units": "s"}),
        }
        attrs = {"metric": "Pearson correlation", "model_id": self.model_id, "subject": int(self.subject or 0)}
        if kind == "averaged":
            values = self._labels.corr_averaged[np.ix_(ch, t)]
            return xr.DataArray(
                values, dims=("channel", "time"), coords=coords, attrs=attrs, name="correlation_averaged_repetitions"
            )
        if kind == "single":
            values = self._labels.corr_single[np.ix_(np.arange(N_REPETITIONS), ch, t)]
            coords["repetition"] = ("repetition", REPETITIONS)
            return xr.DataArray(
                values,
                dims=("repetition", "channel", "time"),
                coords=coords,
                attrs=attrs,
                name="correlation_single_repetitions",
            )
        raise InvalidParameterError(f"kind must be 'averaged' or 'single', got {kind!r}")

    # ---- life cycle -----------------------------------------------------------------------
    def _release(self) -> None:
        self.feature_extractor = None
        self._projection = None
        self._heads = None


def load_model(
    card: ModelCard,
    subject: int,
    selection: dict[str, Any] | None,
    store: Store,
    device: torch.device,
    options: dict[str, Any],
) -> ThingsEEGModel:
    """Build a ready-to-encode model: options and selection are checked before any weight is read."""
    preprocessing, backbone_weights = check_load_options(card.id, options)
    meta, source = load_metadata(card, subject, store)
    labels = labels_from_metadata(meta, source)
    del meta
    model = ThingsEEGModel(card, subject, parse_selection(selection, labels), labels, store, device, preprocessing)
    model._load_weights(backbone_weights)
    return model
