"""The loaded fmri-lebel2023-opt_1_3b model.

Per story (BERG 2.0 ``FMRIOpt13BEncodingModel`` @ef2b8bc5, the trainer's functions): OPT-1.3B word vectors
(:mod:`.features`: ``hidden_states[18]`` at each word's last token, dynamic context of 512 then 256 words),
Lanczos resampling to the story's TR grid, z-scoring over its TRs, FIR delays of 1-4 TRs, and the ridge
``delayed @ W[:, voxels]`` (no intercept, no output scaling) -> ``(n_TRs, n_voxels)`` float32, one row per TR.
The temporal steps run in float64 (:mod:`.temporal`); the ridge product in float32, as BERG 2.0's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from berg_core.plugin import EncodingModel, RegressionHeads, StimulusError

from .features import word_vectors
from .layout import CONTEXT_MAX_WORDS, CONTEXT_MIN_WORDS, DELAYS, LANCZOS_WINDOW, LAYER, TR
from .metadata import RELIABILITY, labels_from_metadata, load_metadata
from .readout import read_ridge_columns, weight_file
from .selection import resolve_selection
from .temporal import delayed, lanczos_matrix, tr_times, zscore

if TYPE_CHECKING:
    from berg_core.plugin import LoadRequest

__all__ = ["LebelModel"]

DATA_DESCRIPTION = (
    "in silico BOLD response (z-scored units of LeBel et al.'s preprocessed fMRI) of each selected voxel for "
    "every 2-s TR of a story, from its words and their onsets"
)


class LebelModel(EncodingModel):
    """Stories of timed words -> fMRI per TR, for one LeBel 2023 subject ("UTS01".."UTS08")."""

    default_batch_size = 1
    _shared_on_copy = (*EncodingModel._shared_on_copy, "backbone")

    def __init__(self, request: LoadRequest) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device, None)
        subject = str(request.subject)
        weight_file(self.store, subject)  # a subject the store lacks: name the weight file looked for first
        meta, source = load_metadata(self.store, subject)
        labels = labels_from_metadata(meta, source)
        self.voxels, self.selection_description = resolve_selection(request.selection, labels)
        self.backbone: Any = request.backbone()
        self.backbone.check_layer(LAYER)
        width = int(self.backbone.n_features)
        coef, self.weights_source = read_ridge_columns(self.store, subject, width, self.voxels, labels.n_voxels, source)
        # no intercept: zero biases; outputs computed in aligned blocks, so a selected voxel is bit-identical to
        # the same voxel of the whole-brain output; coef (voxels, features) is used as it is, not copied
        self._heads: RegressionHeads | None = RegressionHeads.from_numpy(
            [coef], [np.zeros(coef.shape[0], np.float32)], self.device)
        self.labels = labels
        self._voxel_coords = self._make_voxel_coords()

    # ---- features ---------------------------------------------------------------------------
    def preprocess(self, stimuli: Any) -> Any:
        """The batch's stories (``TimedWordStimuli.stories()``)."""
        if not hasattr(stimuli, "stories"):
            raise StimulusError(f"{self.model_id} takes stories of timed words, not {type(stimuli).__name__}")
        return list(stimuli.stories())

    def word_vectors(self, words: list[str] | tuple[str, ...], min_words: int = CONTEXT_MIN_WORDS,
                     max_words: int = CONTEXT_MAX_WORDS) -> np.ndarray:
        """``(n_words, width)`` float32 OPT vectors of a story's words (see :func:`.features.word_vectors`)."""
        return word_vectors(self.backbone, list(words), LAYER, min_words, max_words)

    def tr_features(self, vectors: np.ndarray, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(delayed features (n_TRs, 4 * width) float64, TR times (n_TRs,))`` of a story's word vectors."""
        times = tr_times(onsets, TR, len(DELAYS))
        resampled = lanczos_matrix(times, onsets, TR, LANCZOS_WINDOW) @ vectors.astype(np.float64)
        return delayed(zscore(resampled), DELAYS), times

    def story_response(self, words: list[str] | tuple[str, ...], onsets: np.ndarray, min_words: int = CONTEXT_MIN_WORDS,
                       max_words: int = CONTEXT_MAX_WORDS) -> tuple[np.ndarray, np.ndarray]:
        """``(responses (n_TRs, n_voxels) float32, TR times)`` of one story."""
        if len(words) == 0:
            raise StimulusError(f"{self.model_id}: a story needs at least one word (BERG 2.0 refuses an empty one)")
        feats, times = self.tr_features(self.word_vectors(words, min_words, max_words), np.asarray(onsets, np.float64))
        assert self._heads is not None
        x = torch.from_numpy(feats.astype(np.float32)).to(self.device)
        return self._heads(x).cpu().numpy(), times

    # ---- encoding ---------------------------------------------------------------------------
    def encode_batch(self, batch: Any, stimulus_ids: list[Any]) -> xr.DataArray:
        """One row per TR of every story of the batch, rows grouped by story in order."""
        self.check_open()
        parts, stim, times, index = [], [], [], []
        for sid, story in zip(stimulus_ids, batch, strict=True):
            values, t = self.story_response(list(story.words), story.onsets)
            parts.append(values)
            stim += [sid] * len(t)
            times.append(t)
            index.append(np.arange(len(t)))
        values = np.concatenate(parts) if parts else np.zeros((0, self.voxels.size), np.float32)
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))  # noqa: E731
        return self._label(values, stim, cat(times, np.float64), cat(index, np.int64))

    def _make_voxel_coords(self) -> dict[str, Any]:
        lab, vox = self.labels, self.voxels
        coords: dict[str, Any] = {
            "voxel": ("voxel", vox, {"long_name": "voxel index in the subject's cortical mask (BERG 2.0's order)"}),
            "roi": ("voxel", lab.membership(vox), {"long_name": "ROIs holding the voxel (comma-separated)"}),
        }
        for name, (key, text) in RELIABILITY.items():
            if name in lab.reliability:
                coords[name] = ("voxel", lab.reliability[name][vox], {"long_name": text, "source": f"encoding_model/{key}"})
        if lab.positions is not None:
            for axis, col in zip(("voxel_x", "voxel_y", "voxel_z"), lab.positions[vox].T, strict=True):
                coords[axis] = ("voxel", col, {"long_name": f"{axis[-1]} index of the voxel in the functional volume"})
        return coords

    def _label(self, values: np.ndarray, stim: list[Any], times: np.ndarray, index: np.ndarray) -> xr.DataArray:
        lab = self.labels
        attrs = self.base_attrs()
        attrs.update(long_name="in silico fMRI response", description=DATA_DESCRIPTION, modality="fmri", tr_s=TR,
                     layer=LAYER, delays_tr=list(DELAYS), lanczos_window=LANCZOS_WINDOW,
                     context_words=[CONTEXT_MIN_WORDS, CONTEXT_MAX_WORDS], n_voxels_subject=lab.n_voxels)
        if lab.subject_id:
            attrs["subject_id"] = lab.subject_id
        if lab.affine is not None:
            attrs["affine"] = lab.affine.tolist()
        if lab.volume_shape is not None:
            attrs["volume_shape"] = list(lab.volume_shape)
        coords = dict(self._voxel_coords)
        coords["stimulus"] = ("tr", np.asarray(stim))
        coords["time"] = ("tr", times, {"units": "s", "long_name": "TR time in the story's clock (first word's onset + k TR)"})
        coords["tr_index"] = ("tr", index, {"long_name": "position of the TR in its story"})
        return xr.DataArray(values, dims=("tr", "voxel"), coords=coords, attrs=attrs, name="fmri")

    # ---- metadata and life cycle ----------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """BERG 2.0's metadata dict of this subject (``fmri``, ``roi``, ``encoding_model``)."""
        return load_metadata(self.store, str(self.subject))[0]

    def _release(self) -> None:
        self._heads = None
        self.backbone = None
