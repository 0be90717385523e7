"""The loaded ecog-zada2025-gpt2_xl model.

Per story (reference math, BERG 2.0 ``PodcastECoGEncodingModel`` @1cb3cf1d): every word ``w`` is tokenised as
``tokenizer.encode(" " + w)`` (a leading space for every word, the first too); the story's tokens are
concatenated; token ``i`` gets the window ``tokens[max(0, i - 32) : i + 1]`` right-aligned in 33 positions,
left-padded with id 0 (GPT-2 has no pad token) and no attention mask (the padding is attended to), and its
feature is ``hidden_states[24][:, -1]``; a word's feature is the mean of its tokens'. Then
``x = (f - scaler_X.mean_) / scaler_X.scale_`` (float32), ``z = x @ coef_[:, targets] + intercept_[targets]``
(himalaya layout) and ``y = z * scaler_Y.scale_[targets] + scaler_Y.mean_[targets]``, reshaped to
``(word, electrode, lag)``. Here the read-out runs in float64 and the result is float32, as BERG 2.0's.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import EncodingModel, StimulusError

from .layout import CONTEXT_LENGTH, LAYER
from .readout import read_labels, read_readout
from .selection import electrode_indices, lag_indices, target_indices

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest

__all__ = ["ZadaModel"]

DATA_DESCRIPTION = (
    "in silico ECoG high-gamma power (70-150 Hz, the Podcast ECoG dataset's units) around each word's onset, "
    "at every selected electrode and lag (-2 to 2 s at 32 Hz)"
)
#: windows per forward pass: all have 33 tokens, so any number gives the same values
WINDOWS_PER_PASS = 64


def word_tokens(backbone: Any, words: tuple[str, ...] | list[str]) -> list[list[int]]:
    """Each word's token ids: ``tokenizer.encode(" " + word)`` (a leading space for every word, the first too)."""
    tok = backbone.tokenizer
    out = [list(tok.encode(" " + w)) for w in words]
    empty = [w for w, t in zip(words, out, strict=True) if not t]
    if empty:
        raise StimulusError(f"word(s) {empty[:5]} give no GPT-2 tokens")
    return out


def word_features(backbone: Any, words: tuple[str, ...] | list[str]) -> torch.Tensor:
    """``(n_words, width)`` float32: the mean over each word's tokens of their window's last hidden state."""
    per_word = word_tokens(backbone, words)
    tokens = torch.tensor([t for ids in per_word for t in ids], dtype=torch.long)
    n = tokens.numel()
    fill = backbone.tokenizer.pad_token_id or 0  # None for GPT-2: 0, as BERG 2.0
    windows = torch.full((n, CONTEXT_LENGTH + 1), int(fill), dtype=torch.long)
    for i in range(n):
        ctx = tokens[max(0, i - CONTEXT_LENGTH) : i + 1]
        windows[i, CONTEXT_LENGTH + 1 - ctx.numel() :] = ctx
    feats = torch.cat([
        backbone.hidden_state(windows[s : s + WINDOWS_PER_PASS], LAYER)[:, -1, :] for s in range(0, n, WINDOWS_PER_PASS)
    ])
    counts = torch.tensor([len(t) for t in per_word])
    owner = torch.repeat_interleave(torch.arange(len(per_word)), counts).to(feats.device)
    sums = torch.zeros((len(per_word), feats.shape[1]), dtype=feats.dtype, device=feats.device)
    sums.index_add_(0, owner, feats)
    return sums / counts.to(feats.device, feats.dtype)[:, None]


def story_features(backbone: Any, stories: list[Any]) -> torch.Tensor:
    """Word features of every story of a batch, concatenated in order: ``(total words, width)``."""
    return torch.cat([word_features(backbone, list(story.words)) for story in stories])


class ZadaModel(EncodingModel):
    """Words of a story -> ECoG high-gamma around each word, for one Podcast ECoG subject ("01".."09")."""

    default_batch_size = 1
    _shared_on_copy = (*EncodingModel._shared_on_copy, "backbone")

    def __init__(self, request: LoadRequest) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device, None)
        subject = str(request.subject)
        _meta, labels = read_labels(self.store, subject)
        sel = request.selection or {}
        self.electrodes = electrode_indices(sel.get("electrode_index"), labels.ch_names)
        self.lags = lag_indices(sel.get("lags"))
        readout = read_readout(self.store, subject, len(labels.ch_names), target_indices(self.electrodes, self.lags))
        self.backbone: Any = request.backbone()
        self.backbone.check_width(readout.x_mean.shape[0], f"the scaler and ridge of subject {subject}")
        self.backbone.check_layer(LAYER)
        # core runs it once per batch for every model with the same feature_key (several subjects: one GPT-2 pass)
        self.feature_extractor = functools.partial(story_features, self.backbone)
        dev = self.device
        self._x_mean, self._x_scale = (torch.from_numpy(a).to(dev) for a in (readout.x_mean, readout.x_scale))
        self._coef, self._intercept = torch.from_numpy(readout.coef).to(dev), torch.from_numpy(readout.intercept).to(dev)
        self._y_mean, self._y_scale = torch.from_numpy(readout.y_mean).to(dev), torch.from_numpy(readout.y_scale).to(dev)
        self.labels = labels

    # ---- features ---------------------------------------------------------------------------
    def preprocess(self, stimuli: Any) -> list[Any]:
        """The batch's stories (``TimedWordStimuli.stories()``)."""
        if not hasattr(stimuli, "stories"):
            raise StimulusError(f"{self.model_id} takes stories of timed words, not {type(stimuli).__name__}")
        return list(stimuli.stories())

    def word_tokens(self, words: tuple[str, ...] | list[str]) -> list[list[int]]:
        """Each word's token ids: ``tokenizer.encode(" " + word)``."""
        return word_tokens(self.backbone, words)

    def word_features(self, words: tuple[str, ...] | list[str]) -> torch.Tensor:
        """``(n_words, width)`` float32: the mean over each word's tokens of their window's last hidden state."""
        return word_features(self.backbone, words)

    def story_features(self, stories: list[Any]) -> torch.Tensor:
        """Word features of every story of a batch, concatenated in order: ``(total words, width)``."""
        return story_features(self.backbone, stories)

    @property
    def feature_key(self) -> Any:
        """Every Zada model (any subject) on the same GPT-2 XL instance shares one pass per batch."""
        if self.backbone is None:
            return None
        return ("zada-word-windows", LAYER, CONTEXT_LENGTH, getattr(self.backbone, "berg_backbone_key", None),
                id(self.backbone), str(self.device))

    # ---- encoding ---------------------------------------------------------------------------
    def read_out(self, features: torch.Tensor) -> torch.Tensor:
        """``(n_words, n_electrodes, n_lags)`` float32 from word features."""
        x = ((features.to(self.device, torch.float64) - self._x_mean) / self._x_scale).to(torch.float32).to(torch.float64)
        y = (x @ self._coef + self._intercept) * self._y_scale + self._y_mean
        return y.to(torch.float32).reshape(features.shape[0], len(self.electrodes), len(self.lags))

    def encode_batch(self, batch: list[Any], stimulus_ids: list[Any], features: torch.Tensor | None = None) -> xr.DataArray:
        """One row per word of every story of the batch, rows grouped by story in order.

        ``features``: the batch's :meth:`story_features` when core computed them once for several models.
        """
        self.check_open()
        feats = self.story_features(batch) if features is None else features
        values = self.read_out(feats).cpu().numpy() if len(feats) else None
        stim, index, text, onsets = [], [], [], []
        for sid, story in zip(stimulus_ids, batch, strict=True):
            words = list(story.words)
            stim += [sid] * len(words)
            index += list(range(len(words)))
            text += words
            onsets.append(np.asarray(story.onsets, dtype=np.float64))
        if values is None:
            values = np.zeros((0, len(self.electrodes), len(self.lags)), np.float32)
        return self._label(values, stim, np.asarray(index), np.asarray(text, dtype=str),
                           np.concatenate(onsets) if onsets else np.zeros(0))

    def _label(self, values: np.ndarray, stim: list[Any], index: np.ndarray, text: np.ndarray, onsets: np.ndarray) -> xr.DataArray:
        lab, el, lg = self.labels, self.electrodes, self.lags
        attrs = self.base_attrs()
        attrs.update(long_name="in silico ECoG high-gamma power", description=DATA_DESCRIPTION, modality="ecog",
                     sampling_frequency_hz=32.0, layer=LAYER, context_tokens=CONTEXT_LENGTH, subject_id=lab.subject_id)
        coords: dict[str, Any] = {
            "stimulus": ("word", np.asarray(stim)),
            "word_index": ("word", index, {"long_name": "position of the word in its story"}),
            "text": ("word", text, {"long_name": "the word"}),
            "onset": ("word", onsets, {"units": "s", "long_name": "word onset in its story"}),
            "electrode": ("electrode", lab.ch_names[el], {"long_name": "ECoG electrode"}),
            "x": ("electrode", lab.ch_coords[el, 0], {"long_name": "MNI x (MNE units, m)"}),
            "y": ("electrode", lab.ch_coords[el, 1], {"long_name": "MNI y (MNE units, m)"}),
            "z": ("electrode", lab.ch_coords[el, 2], {"long_name": "MNI z (MNE units, m)"}),
            "lag": ("lag", lab.lags[lg], {"units": "s", "long_name": "time relative to the word onset"}),
        }
        if lab.correlation is not None:
            coords["correlation"] = (("electrode", "lag"), lab.correlation[np.ix_(el, lg)],
                                     {"long_name": "encoding accuracy (Pearson r, held-out words)"})
        return xr.DataArray(values, dims=("word", "electrode", "lag"), coords=coords, attrs=attrs, name="ecog")

    # ---- metadata and life cycle ----------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (``ecog``, ``encoding_model``)."""
        return read_labels(self.store, str(self.subject))[0]

    def _release(self) -> None:
        self._coef = self._intercept = self._x_mean = self._x_scale = self._y_mean = self._y_scale = None  # type: ignore[assignment]
        self.backbone = self.feature_extractor = None

