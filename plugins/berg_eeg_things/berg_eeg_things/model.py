"""The loaded THINGS EEG2 ViT-B/32 encoding model.

Per image (reference math): ViT-B/32 block features ``f`` (460,800 values),
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` and,
per repetition ``r``, ``y_r = z @ coef_r.T + intercept_r`` reshaped to
(channels, times). Here the scaler and PCA are one folded float32 projection
and the four repetitions one stacked product over the selected rows only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import InvalidParameterError, ViTB32Readout, WeightFile, read_regression_rows

from .layout import N_REPETITIONS, SFREQ, weights_relpath
from .metadata import OutputLabels, labels_from_metadata, load_metadata
from .selection import OutputSelection, parse_selection

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest, ModelCard, Store

__all__ = ["ThingsEEGModel", "load_model"]

REPETITIONS = np.arange(1, N_REPETITIONS + 1)
DATA_DESCRIPTION = (
    "in silico THINGS EEG2 responses: CSD-transformed, baseline-corrected (pre-stimulus mean) EEG sampled at "
    "200 Hz, one prediction per recording repetition"
)


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

    def _read_regressions(self, wf: WeightFile, n_components: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """The selected rows of the four repetitions' regressions, stacked into one product."""
        rows = self.output.rows(len(self._labels.times))
        parts = [read_regression_rows(wf, f"reg_param/rep-{r}", rows, self._labels.n_outputs, n_components) for r in REPETITIONS]
        return [([coef for coef, _ in parts], [intercept for _, intercept in parts])]

    # ---- encoding -------------------------------------------------------------------------
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses from ViT-B/32 block features ``(B, 460800)`` (shared by several models in one pass)."""
        n_ch, n_t = self.output.shape
        y = self.read_out(features).reshape(features.shape[0], N_REPETITIONS, n_ch, n_t)
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


def load_model(request: LoadRequest) -> ThingsEEGModel:
    """Build a ready-to-encode model; core checked the options and the selection against the card."""
    card, subject, store = request.card, int(request.subject), request.store  # type: ignore[arg-type]
    meta, source = load_metadata(card, subject, store)
    labels = labels_from_metadata(meta, source)
    del meta
    model = ThingsEEGModel(card, subject, parse_selection(request.selection, labels), labels, store, request.device,
                           request.options.get("preprocessing"))
    # the backbone the card names, shared with every model of the same weights and device
    model.load_readout(weights_relpath(card, subject), model._read_regressions, request.backbone())
    return model
