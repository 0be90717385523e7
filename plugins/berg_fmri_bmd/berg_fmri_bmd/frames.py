"""Frame sampling and S3D's input transform, as BERG 2.0 prepares videos.

Both modes take ``np.linspace(0, T - 1, 14, dtype=int)`` of a clip's ``T``
frames and apply torchvision's own ``S3D_Weights.KINETICS400_V1.transforms()``
(resize to 256 x 256 without keeping the aspect, bilinear with
``antialias=False`` on the uint8 frames, centre-crop 224 x 224, scale to
[0, 1], normalise with the Kinetics mean and std, then channels before frames).
They differ only for clips shorter than 14 frames:

* ``"train"`` (the encoding models' fitting time, BERG's trainer @495752bd):
  the clip is padded to 14 frames by repeating its last frame;
* ``"berg-2.0"`` (BERG 2.0's inference code): such a clip is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from berg_core.plugin import StimulusError, to_device

from .layout import N_FRAMES

__all__ = ["KINETICS_MEAN", "KINETICS_STD", "frame_indices", "s3d_transform", "video_input"]

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
PREPROCESSING = ("train", "berg-2.0")


def frame_indices(n_frames: int, preprocessing: str = "train", what: str = "a clip") -> np.ndarray:
    """Indices of the 14 frames S3D sees, out of a clip's ``n_frames``.

    Raises
    ------
    StimulusError
        The clip has no frames, or (``"berg-2.0"``) fewer than 14.
    """
    if n_frames < 1:
        raise StimulusError(f"{what} has no frames; a video needs at least one (14 or more recommended)")
    if n_frames < N_FRAMES:
        if preprocessing == "berg-2.0":
            raise StimulusError(
                f"{what} has {n_frames} frames; BERG 2.0's preprocessing needs at least {N_FRAMES} "
                "(preprocessing='train' pads a short clip by repeating its last frame, as the model was trained)"
            )
        # the trainer pads to 14 by repeating the last frame; sampling 14 of 14 then keeps them all
        return np.minimum(np.arange(N_FRAMES), n_frames - 1)
    return np.linspace(0, n_frames - 1, N_FRAMES, dtype=int)


def s3d_transform(frames: torch.Tensor) -> torch.Tensor:
    """torchvision's S3D preset on ``(T, 3, H, W)`` or ``(B, T, 3, H, W)`` frames -> ``(..., 3, T, 224, 224)``."""
    from torchvision.models.video import S3D_Weights

    return S3D_Weights.KINETICS400_V1.transforms()(frames)  # type: ignore[no-any-return]


def _check_clip(clip: torch.Tensor, what: str) -> None:
    if not isinstance(clip, torch.Tensor) or clip.ndim != 4 or clip.shape[1] != 3:
        shape = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
        raise StimulusError(f"{what} should be a (frames, 3, height, width) RGB tensor, got {shape}")
    if clip.dtype != torch.uint8:
        raise StimulusError(f"{what} should hold uint8 frames (0-255), got {clip.dtype}")
    if min(clip.shape[-2:]) < 1:
        raise StimulusError(f"{what} has empty frames of {tuple(clip.shape[-2:])} pixels")


def video_input(clips: Sequence[torch.Tensor] | torch.Tensor, preprocessing: str | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(B, 3, 14, 224, 224)`` S3D input from uint8 clips ``(T, 3, H, W)`` (a list, or one ``(B, T, 3, H, W)`` tensor).

    Parameters
    ----------
    clips
        The batch's clips; their lengths and frame sizes may differ.
    preprocessing
        ``"train"`` (default) or ``"berg-2.0"`` (see the module docstring).
    device
        Where the result goes.
    """
    mode = preprocessing or "train"
    if isinstance(clips, torch.Tensor) and clips.ndim == 5:
        clips = list(clips)
    out = []
    for i, clip in enumerate(clips):
        what = f"video {i} of the batch"
        _check_clip(clip, what)
        idx = torch.from_numpy(frame_indices(int(clip.shape[0]), mode, what))
        # contiguous, as BERG 2.0 hands torch.from_numpy(videos).contiguous() to the transform
        out.append(s3d_transform(clip[idx].contiguous()))
    if not out:
        raise StimulusError("no videos to encode")
    return to_device(torch.stack(out), device)
