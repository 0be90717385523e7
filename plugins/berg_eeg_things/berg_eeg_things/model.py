"""The loaded THINGS EEG2 encoding models (ViT-B/32, AlexNet, untrained AlexNet).

Per image (reference math): backbone features ``f`` (460,800 ViT-B/32 block
values or 205,672 AlexNet node values),
``z = ((f - scaler.mean_) / scaler.scale_ - pca.mean_) @ components_.T`` and,
per repetition ``r``, ``y_r = z @ coef_r.T + intercept_r`` reshaped to
(channels, times). Here the scaler and PCA are one folded float32 projection
and the four repetitions one stacked product over the selected rows only.

The AlexNet models' newest weights hold one PCA per repetition
(``pca_param/rep-1`` ... ``rep-4``, each a dict of sklearn's fitted attributes or
a pickled sklearn ``PCA``, read by core's restricted reader as its attributes):
then ``z_r`` comes from PCA ``r`` and feeds regression ``r``. Older files hold
one PCA shared by all repetitions; both are accepted (see ``specs/store_layout.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import (
    AlexNetReadout,
    BackboneReadout,
    IntegrityError,
    InvalidParameterError,
    ViTB32Readout,
    WeightFile,
    open_weight_file,
    read_regression_rows,
)

from .layout import ALEXNET_MODEL_IDS, N_REPETITIONS, SFREQ, weights_relpath
from .metadata import OutputLabels, labels_from_metadata, load_metadata
from .selection import OutputSelection, parse_selection

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest, ModelCard, Store

__all__ = ["ThingsEEGAlexNetModel", "ThingsEEGModel", "load_model", "pca_layout"]

REPETITIONS = np.arange(1, N_REPETITIONS + 1)
DATA_DESCRIPTION = (
    "in silico THINGS EEG2 responses: CSD-transformed, baseline-corrected (pre-stimulus mean) EEG sampled at "
    "200 Hz, one prediction per recording repetition"
)


class _ThingsEEGReadout(BackboneReadout):
    """What every THINGS EEG2 model shares: selection, labels, accuracy (see :func:`load_model`)."""

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
        parts = [self._read_repetition(wf, int(r), n_components) for r in REPETITIONS]
        return [([coef for coef, _ in parts], [intercept for _, intercept in parts])]

    def _read_repetition(self, wf: WeightFile, repetition: int, n_components: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.output.rows(len(self._labels.times))
        return read_regression_rows(wf, f"reg_param/rep-{repetition}", rows, self._labels.n_outputs, n_components)

    # ---- encoding -------------------------------------------------------------------------
    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses from backbone features ``(B, n_features)`` (shared by several models in one pass)."""
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


class ThingsEEGModel(_ThingsEEGReadout, ViTB32Readout):
    """THINGS EEG2 ViT-B/32 encoding model of one subject (one PCA, four regressions)."""


class ThingsEEGAlexNetModel(_ThingsEEGReadout, AlexNetReadout):
    """THINGS EEG2 AlexNet (trained or untrained) encoding model of one subject.

    One PCA per repetition (BERG 2.0's newest weights) or one shared PCA (older weights).
    """

    def _read_one_repetition(self, wf: WeightFile, index: int, n_components: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        coef, intercept = self._read_repetition(wf, index + 1, n_components)
        return [([coef], [intercept])]


#: Where a per-repetition PCA's components are, and the single PCA's (BERG 2.0's two documented forms)
PER_REPETITION_KEYS = tuple(f"pca_param/rep-{r}" for r in REPETITIONS)
SINGLE_KEY = "pca_param"


def pca_layout(store: Store, relpath: str) -> tuple[str, ...]:
    """The PCA key(s) of a THINGS EEG2 weight file: four per-repetition PCAs, or one shared PCA.

    Accepted forms: ``pca_param/rep-1`` ... ``rep-4`` (newest AlexNet trainers), each a dict of
    sklearn's fitted attributes or a pickled ``PCA`` (read as its attributes by the restricted
    reader), or ``pca_param`` itself holding ``components_`` (older trainers, and every ViT-B/32
    file; the Zarr layout stores that one folded).

    Raises
    ------
    IntegrityError
        Neither form is there; the message lists the keys looked for and those present.
    """
    wf = open_weight_file(store, relpath)
    try:
        keys = set(wf.keys())
        source = wf.source
    finally:
        wf.close()
    if all(f"{k}/components_" in keys for k in PER_REPETITION_KEYS):
        return PER_REPETITION_KEYS
    if f"{SINGLE_KEY}/components_" in keys or "folded/W" in keys:
        return (SINGLE_KEY,)
    pca_keys = sorted(k for k in keys if k.startswith("pca_param"))[:12]
    looked = [f"{k}/components_" for k in (*PER_REPETITION_KEYS, SINGLE_KEY)]
    raise IntegrityError(
        f"{source}: no PCA found; looked for {looked} (one PCA per repetition, or one shared PCA), "
        f"found {pca_keys or 'no pca_param entries'}"
    )


def load_model(request: LoadRequest) -> _ThingsEEGReadout:
    """Build a ready-to-encode model; core checked the options and the selection against the card."""
    card, subject, store = request.card, int(request.subject), request.store  # type: ignore[arg-type]
    meta, source = load_metadata(card, subject, store)
    labels = labels_from_metadata(meta, source)
    del meta
    cls = ThingsEEGAlexNetModel if card.id in ALEXNET_MODEL_IDS else ThingsEEGModel
    model = cls(card, subject, parse_selection(request.selection, labels, card.id), labels, store, request.device,
                request.options.get("preprocessing"))
    relpath = weights_relpath(card, subject)
    # the backbone the card names, shared with every model of the same weights and device
    backbone = request.backbone()
    pcas = pca_layout(store, relpath) if isinstance(model, ThingsEEGAlexNetModel) else (SINGLE_KEY,)
    if pcas == PER_REPETITION_KEYS:
        assert isinstance(model, ThingsEEGAlexNetModel)
        model.load_readouts(relpath, pcas, model._read_one_repetition, backbone)
    else:
        model.load_readout(relpath, model._read_regressions, backbone)
    return model
