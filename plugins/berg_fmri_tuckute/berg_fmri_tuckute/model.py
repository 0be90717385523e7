"""The loaded fmri-tuckute_2024-GPT2_XL model.

Per sentence (reference math, BERG 2.0 ``ANNEncoder(source_model='gpt2-xl', sent_embed='last-tok')`` and
``predict_using_prefitted_mapping``): ``ids = tokenizer(sentence)`` (GPT-2 adds no special tokens);
``x = hidden_states[22][0, -1]`` of GPT-2 XL on those ids alone (the output of block 22, 1600 values);
``y = x @ coef_[rois].T + intercept_[rois]`` with the pickled RidgeCV's rows in the order the ROIs are
selected. Here the sentences of a batch share one forward pass, padded on the right with an attention mask:
a causal model's last real token never sees the padding, so each sentence gets its own ``x``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import EncodingModel, IntegrityError, StimulusError

from .layout import LAYER
from .selection import parse_rois
from .weights import read_labels, read_ridge

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest

__all__ = ["TuckuteModel"]

DATA_DESCRIPTION = (
    "in silico fMRI responses of the left-hemisphere language network's functional ROIs (session-z-scored betas "
    "averaged over 5 participants) to single sentences (Tuckute et al. 2024)"
)


def tokenize(backbone: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each sentence alone, as ``tokenizer(text, add_special_tokens=True)`` gives them."""
    ids = [list(backbone.tokenizer(t, add_special_tokens=True)["input_ids"]) for t in texts]
    for t, seq in zip(texts, ids, strict=True):
        if not seq:
            raise StimulusError(f"sentence {t!r} gives no tokens")
        if len(seq) > backbone.max_positions:
            raise StimulusError(f"sentence {t[:60]!r}... has {len(seq)} tokens; GPT-2 XL takes at most {backbone.max_positions}")
    return ids


def sentence_features(backbone: Any, texts: list[str]) -> torch.Tensor:
    """``hidden_states[22]`` at each sentence's last token: ``(n_sentences, width)`` float32.

    One pass for the batch, right-padded with an attention mask: a causal model's last real token never
    attends to the padding after it.
    """
    ids = tokenize(backbone, texts)
    lengths = torch.tensor([len(s) for s in ids])
    batch = torch.zeros((len(ids), int(lengths.max())), dtype=torch.long)
    mask = torch.zeros_like(batch)
    for i, seq in enumerate(ids):
        batch[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
    hidden = backbone.hidden_state(batch, LAYER, mask)
    rows = torch.arange(len(ids), device=hidden.device)  # indices on the states' device (CUDA too)
    return hidden[rows, (lengths - 1).to(hidden.device)]


class TuckuteModel(EncodingModel):
    """Sentences -> the six language-network ROIs; participant-averaged (no subject)."""

    default_batch_size = 16
    #: the GPT-2 XL backbone is shared by every model that uses it: copies share it too
    _shared_on_copy = (*EncodingModel._shared_on_copy, "backbone")

    def __init__(self, request: LoadRequest) -> None:
        super().__init__(request.card, None, request.selection, request.store, request.device, None)
        self.rois = parse_rois(request.selection)
        _meta, labels = read_labels(self.store)
        ridge = read_ridge(self.store)
        missing = [r for r in dict.fromkeys(self.rois) if r not in ridge.neuroid_order]
        if missing:
            raise IntegrityError(f"{ridge.source}: its neuroid_order {list(ridge.neuroid_order)} lacks {missing}")
        rows = [ridge.neuroid_order.index(r) for r in self.rois]  # the user's order, repeats kept (as BERG 2.0)
        self.backbone: Any = request.backbone()
        self.backbone.check_width(ridge.coef.shape[1], f"the ridge of {ridge.source}")
        self.backbone.check_layer(LAYER)
        # core runs it once per batch for every model with the same feature_key (under autocast for bf16/fp16)
        self.feature_extractor = functools.partial(sentence_features, self.backbone)
        # float64 as sklearn's predict on the float32 features
        self._coef = torch.from_numpy(ridge.coef[rows]).to(self.device)
        self._intercept = torch.from_numpy(ridge.intercept[rows]).to(self.device)
        self.noise_ceiling = np.array([labels.noise_ceiling.get(r, np.nan) for r in self.rois])
        self.noise_ceiling_snr = np.array([labels.noise_ceiling_snr.get(r, np.nan) for r in self.rois])

    # ---- encoding -------------------------------------------------------------------------
    def preprocess(self, stimuli: Any) -> list[str]:
        """The batch's sentences (``SentenceStimuli.texts()``; a list of str is taken as is)."""
        texts = stimuli.texts() if hasattr(stimuli, "texts") else list(stimuli)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise StimulusError(f"{self.model_id} takes sentences (non-empty text); entries {bad[:5]} are not")
        return texts

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each sentence alone, as ``tokenizer(text, add_special_tokens=True)`` gives them."""
        return tokenize(self.backbone, texts)

    def sentence_features(self, texts: list[str]) -> torch.Tensor:
        """``hidden_states[22]`` at each sentence's last token: ``(n_sentences, width)`` float32."""
        return sentence_features(self.backbone, texts)

    @property
    def feature_key(self) -> Any:
        """Every Tuckute model on the same GPT-2 XL instance shares one pass per batch."""
        if self.backbone is None:
            return None
        return ("tuckute-last-token", LAYER, getattr(self.backbone, "berg_backbone_key", None), id(self.backbone), str(self.device))

    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses ``(stimulus, roi)`` from the sentences' layer-22 last-token states ``(n, width)``."""
        self.check_open()
        y = features.to(self.device, torch.float64) @ self._coef.T + self._intercept
        return self._label(y.to(torch.float32).cpu().numpy(), stimulus_ids)

    def encode_batch(self, batch: list[str], stimulus_ids: list[Any]) -> xr.DataArray:
        """Responses ``(stimulus, roi)`` of a batch of sentences."""
        self.check_open()
        return self.encode_features(self.sentence_features(batch), stimulus_ids)

    def _label(self, values: np.ndarray, stimulus_ids: list[Any]) -> xr.DataArray:
        attrs = self.base_attrs()
        attrs.update(long_name="in silico fMRI response", description=DATA_DESCRIPTION, modality="fmri",
                     layer=LAYER, participant_averaged=1)
        return xr.DataArray(
            values,
            dims=("stimulus", "roi"),
            coords={
                "stimulus": ("stimulus", np.asarray(stimulus_ids)),
                "roi": ("roi", np.asarray(self.rois), {"long_name": "language-network fROI (left hemisphere)"}),
                "noise_ceiling": ("roi", self.noise_ceiling, {"long_name": "noise ceiling (Pearson r)"}),
                "noise_ceiling_snr": ("roi", self.noise_ceiling_snr, {"long_name": "noise-ceiling signal-to-noise ratio"}),
            },
            attrs=attrs,
            name="fmri",
        )

    # ---- metadata and life cycle ----------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict (``rois``, ``noise_ceiling``, ``noise_ceiling_snr``, the stimulus sets...)."""
        return read_labels(self.store)[0]

    def _release(self) -> None:
        self._coef = self._intercept = None  # type: ignore[assignment]
        self.backbone = self.feature_extractor = None
