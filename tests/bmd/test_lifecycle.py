"""Determinism, copies and pickles of fmri-bmd-s3d, and videos read from files."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch


def test_read_out_is_deterministic_and_copies_encode_identically(load: Any, features: torch.Tensor) -> None:
    with load(selection={"roi": "BMDgeneral"}) as model:
        a = model.encode_features(features, [0, 1])
        b = model.encode_features(features, [0, 1])
        twin = copy.deepcopy(model)
        assert twin.feature_extractor is model.feature_extractor  # the shared backbone is not copied
        c = twin.encode_features(features, [0, 1])
        restored = pickle.loads(pickle.dumps(model))
        d = restored.encode_features(features, [0, 1])
        twin.cleanup()
        restored.cleanup()
        e = model.encode_features(features, [0, 1])  # the original survives its copies' cleanup
    for other in (b, c, d, e):
        np.testing.assert_array_equal(a.values, other.values)
    assert d.attrs["selection"] == a.attrs["selection"]


def _write_mp4(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_videos_from_a_folder(session_berg: Any, load: Any, tmp_path: Path) -> None:
    from berg_core.stimuli.video import as_video, read_video

    rng = np.random.default_rng(4)
    for name, n in (("b_clip", 16), ("a_clip", 20)):
        _write_mp4(tmp_path / f"{name}.mp4", rng.integers(0, 256, size=(n, 64, 80, 3), dtype=np.uint8))
    decoded = [np.asarray(read_video(tmp_path / f"{name}.mp4")[0]) for name in ("a_clip", "b_clip")]
    with load(selection={"voxels": [0, 1, 2]}) as model:
        out = session_berg.encode(model, tmp_path, show_progress=False)
        # the files' frames reach S3D exactly as the same frames given as arrays
        assert torch.equal(model.preprocess(as_video(tmp_path)), model.preprocess(as_video(decoded)))
    assert list(out["stimulus"].values) == ["a_clip.mp4", "b_clip.mp4"]  # file names, sorted
    assert out.shape == (2, 3) and np.isfinite(out.values).all()
