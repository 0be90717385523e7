"""Frame sampling and the S3D transform against an independent float64 NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from berg_fmri_bmd.frames import frame_indices, s3d_transform, video_input

from berg_core import StimulusError

from .bmd_reference import reference_indices, reference_transform


@pytest.mark.parametrize("n_frames", [14, 15, 20, 27, 40, 45, 90, 91, 300])
def test_frame_indices_are_upstream_linspace(n_frames: int) -> None:
    got = frame_indices(n_frames, "berg-2.0")
    np.testing.assert_array_equal(got, reference_indices(n_frames))
    np.testing.assert_array_equal(got, np.linspace(0, n_frames - 1, 14, dtype=int))
    np.testing.assert_array_equal(frame_indices(n_frames, "train"), got)


@pytest.mark.parametrize("n_frames", [1, 5, 13])
def test_short_clip_is_padded_in_train_mode(n_frames: int) -> None:
    got = frame_indices(n_frames, "train")
    np.testing.assert_array_equal(got, reference_indices(n_frames, "train"))
    assert got[-1] == n_frames - 1 and got.size == 14


def test_short_clip_is_refused_by_berg2() -> None:
    with pytest.raises(StimulusError, match=r"9 frames.*at least 14.*preprocessing='train'"):
        frame_indices(9, "berg-2.0")
    with pytest.raises(StimulusError, match="no frames"):
        frame_indices(0, "train")


def test_transform_matches_float64_reference() -> None:
    # 128 x 160 -> 256 x 256: bilinear weights are multiples of 1/8, so the uint8 rounding is exact in both
    clips = np.random.default_rng(0).integers(0, 256, size=(2, 17, 3, 128, 160), dtype=np.uint8)
    x = video_input(torch.from_numpy(clips), "train")
    assert x.shape == (2, 3, 14, 224, 224) and x.dtype == torch.float32
    for got, clip in zip(x.numpy(), clips, strict=True):
        np.testing.assert_allclose(got, reference_transform(clip), rtol=0, atol=2e-6)


def test_transform_is_upstreams_batch_transform() -> None:
    """BERG 2.0: the preset on ``torch.from_numpy(stimulus[:, indices]).contiguous()`` for the whole batch."""
    from torchvision.models.video import S3D_Weights

    clips = np.random.default_rng(1).integers(0, 256, size=(2, 30, 3, 90, 120), dtype=np.uint8)
    idx = np.linspace(0, 29, 14, dtype=int)
    upstream = S3D_Weights.KINETICS400_V1.transforms()(torch.from_numpy(clips[:, idx]).contiguous())
    assert torch.equal(video_input(torch.from_numpy(clips), "berg-2.0"), upstream)
    assert torch.equal(s3d_transform(torch.from_numpy(clips[0, idx])), upstream[0])


def test_clips_of_different_lengths_and_sizes_in_one_batch() -> None:
    rng = np.random.default_rng(2)
    a = torch.from_numpy(rng.integers(0, 256, size=(20, 3, 64, 96), dtype=np.uint8))
    b = torch.from_numpy(rng.integers(0, 256, size=(40, 3, 300, 200), dtype=np.uint8))
    x = video_input([a, b], "train")
    assert x.shape == (2, 3, 14, 224, 224)
    assert torch.equal(x[1], video_input([b], "train")[0])


@pytest.mark.parametrize(
    ("clip", "match"),
    [
        (torch.zeros(14, 3, 32, 32), "uint8"),
        (torch.zeros(14, 1, 32, 32, dtype=torch.uint8), r"\(frames, 3, height, width\)"),
        (torch.zeros(3, 32, 32, dtype=torch.uint8), r"\(frames, 3, height, width\)"),
    ],
)
def test_bad_clips_are_refused(clip: torch.Tensor, match: str) -> None:
    with pytest.raises(StimulusError, match=match):
        video_input([clip], "train")
