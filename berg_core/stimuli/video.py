"""Videos as stimuli (cards with ``stimuli: video``): clips of RGB frames.

Accepted (anything else raises :class:`~berg_core.StimulusError`):

* a uint8 array or tensor ``(N, T, 3, H, W)``: N clips of T frames (no copy is made; each batch is
  converted when it is read);
* a list of uint8 ``(T, 3, H, W)`` arrays or tensors, of different lengths and sizes;
* an on-disk uint8 array ``(N, T, 3, H, W)`` (Zarr, HDF5), read one batch at a time;
* a video file path, a list of paths, a folder of videos (``recursive=True`` for its subfolders)
  or a glob pattern. Files are decoded with PyAV (``pip install av``; imported only when a file
  is read) one batch at a time; each is opened when the stimuli are accepted, so an unreadable
  file is refused before anything is encoded. Frames are decoded as RGB uint8.

Videos are not resized or resampled here: each model decides its frame sampling and size in its
preprocessing, with :meth:`VideoStimuli.frame_rates` (frames per second of each file, ``None``
for arrays unless given as ``fps=``). Ids are 0..N-1 for arrays and file names for files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from berg_core.errors import BERGError, StimulusError
from berg_core.stimuli.collection import ItemCollection, describe

__all__ = [
    "ACCEPTED_VIDEO",
    "MAX_FRAMES_ENV",
    "VIDEO_EXTENSIONS",
    "VideoStimuli",
    "as_video",
    "max_video_frames",
    "read_video",
]

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ogv", ".wmv", ".flv")
ACCEPTED_VIDEO = (
    "a uint8 array (N, T, 3, H, W), a list of uint8 (T, 3, H, W) arrays, video file path(s), a folder of videos, "
    "a glob pattern, or an on-disk uint8 (N, T, 3, H, W) array (Zarr, HDF5)"
)
MAX_FRAMES_ENV = "BERG_MAX_VIDEO_FRAMES"
#: frames decoded from one file at most: a long film read by mistake must not fill memory
DEFAULT_MAX_FRAMES = 10_000


def max_video_frames() -> int:
    """The most frames berg decodes from one video file: ``BERG_MAX_VIDEO_FRAMES`` or 10,000."""
    text = os.environ.get(MAX_FRAMES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_FRAMES
    if not text.isdigit() or int(text) <= 0:
        raise StimulusError(f"{MAX_FRAMES_ENV} must be a positive whole number of frames, got {text[:40]!r}")
    return int(text)


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise StimulusError(
            "reading video files needs PyAV, which is not installed: pip install av "
            "(or pass the clips as uint8 arrays (N, T, 3, H, W))"
        ) from None
    return av


@dataclass(frozen=True)
class _Source:
    """Where one clip comes from: a file, rows of an array (in memory or on disk), and its frame rate."""

    path: Path | None = None
    array: Any = None
    row: int | None = None
    fps: float | None = None


def _probe(path: Path) -> float | None:
    """Open ``path`` and check it holds a video stream of a sane frame size; its frame rate (or ``None``)."""
    from berg_core.stimuli.files import max_image_pixels

    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise StimulusError(f"{str(path)!r} holds no video stream (audio only?); expected a video file")
            stream = container.streams.video[0]
            w, h = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            rate = stream.average_rate or stream.guessed_rate
    except BERGError:
        raise
    except Exception as exc:  # PyAV raises FFmpeg's many error classes: all mean "not a video we can read"
        raise StimulusError(f"{str(path)!r} is not a readable video file ({type(exc).__name__}: {str(exc)[:200]})") from None
    limit = max_image_pixels()
    if w * h > limit:
        raise StimulusError(f"video file {str(path)!r} has frames of {w} x {h} pixels, more than the limit of {limit:,}")
    return float(rate) if rate else None


def read_video(path: str | os.PathLike[str]) -> tuple[np.ndarray, float | None]:
    """Decode every frame of a video file: ``(T, 3, H, W)`` uint8 RGB, and its frame rate (or ``None``).

    Raises
    ------
    StimulusError
        PyAV is missing, the file is not a readable video, has no frames, more than
        :func:`max_video_frames`, or frames of changing size.
    """
    av = _av()
    limit = max_video_frames()
    frames: list[np.ndarray] = []
    p = Path(path)
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise StimulusError(f"{str(p)!r} holds no video stream (audio only?); expected a video file")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            for frame in container.decode(stream):
                if len(frames) >= limit:
                    raise StimulusError(
                        f"video file {str(p)!r} has more than {limit:,} frames; raise {MAX_FRAMES_ENV} if it is genuine"
                    )
                frames.append(frame.to_ndarray(format="rgb24"))
    except BERGError:
        raise
    except FileNotFoundError:
        raise StimulusError(f"video file {str(p)!r} does not exist (it may have been moved after encode started)") from None
    except Exception as exc:  # FFmpeg's errors for damaged or truncated files
        raise StimulusError(f"{str(p)!r} is not a readable video file ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not frames:
        raise StimulusError(f"video file {str(p)!r} holds no frames")
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        raise StimulusError(f"video file {str(p)!r} changes frame size mid-stream ({sorted(sizes)[:3]}); re-encode it")
    clip = np.stack(frames).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(clip), float(rate) if rate else None


def _torch() -> Any:
    import torch

    return torch


def _check_clip_shape(shape: tuple[int, ...], what: str, batched: bool) -> None:
    want = "(N, T, 3, H, W)" if batched else "(T, 3, H, W)"
    rank = 5 if batched else 4
    if len(shape) != rank:
        one = " (one clip? use x[None])" if batched and len(shape) == 4 else ""
        raise StimulusError(f"{what} must have {rank} dimensions {want}, got shape {shape}{one}")
    if shape[-3] != 3:
        hint = " (channels-last? move the channel axis: x.permute(..., 3, 1, 2) / np.moveaxis(x, -1, -3))" if shape[-1] == 3 else ""
        raise StimulusError(f"{what} must have 3 colour channels before H and W {want}, got shape {shape}{hint}")
    if any(d == 0 for d in shape):
        raise StimulusError(f"{what} has an empty axis (shape {shape}); expected at least one clip, frame and pixel")


def _check_dtype(dtype: Any, what: str) -> None:
    if np.dtype(dtype) != np.uint8:
        hint = " (floats in [0, 1]: (x * 255).round().astype(np.uint8))" if np.dtype(dtype).kind == "f" else ""
        raise StimulusError(f"{what} has dtype {dtype}; video frames must be uint8 RGB{hint}")


def _as_numpy(obj: Any, what: str) -> Any:
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):
        if str(obj.dtype) != "torch.uint8":
            raise StimulusError(f"{what} has dtype {obj.dtype}; video frames must be uint8 RGB")
        from berg_core.stimuli.arrays import torch_to_numpy

        return torch_to_numpy(obj, what)
    return obj


def _is_lazy_array(obj: Any) -> bool:
    from berg_core.stimuli.inputs import _is_lazy_array as lazy

    return bool(lazy(obj))


@dataclass
class VideoStimuli(ItemCollection):
    """Validated video clips; ``clips()`` gives one uint8 ``(T, 3, H, W)`` tensor per stimulus."""

    kind: ClassVar[str] = "video"
    unit: ClassVar[str] = "clip"

    def _decode(self) -> list[Any]:
        torch = _torch()
        out = []
        for i, src in zip(self.ids, self.items, strict=True):
            if src.path is not None:
                clip, _ = read_video(src.path)
            elif src.row is not None:
                clip = _read_row(src.array, src.row, f"clip {i!r} (row {src.row}) of the video array")
            else:
                clip = np.ascontiguousarray(src.array)
            out.append(torch.from_numpy(clip))
        return out

    def clips(self) -> list[Any]:
        """The clips of this batch as uint8 ``(T, 3, H, W)`` torch tensors, RGB."""
        return self.contents()

    def stacked(self) -> Any | None:
        """The batch as one ``(B, T, 3, H, W)`` tensor when every clip has the same shape, else ``None``."""
        clips = self.clips()
        if len({tuple(c.shape) for c in clips}) == 1:
            return _torch().stack(clips)
        return None

    def frame_rates(self) -> list[float | None]:
        """Frames per second of each clip: from the file, ``fps=`` for arrays, else ``None``."""
        return [src.fps for src in self.items]

    def fingerprint_parts(self) -> list[Any]:
        rates = np.array([np.nan if r is None else r for r in self.frame_rates()], dtype=np.float64)
        return [*self.clips(), rates]


def _read_row(arr: Any, row: int, what: str) -> np.ndarray:
    from berg_core.io.zarr_chunks import missing_chunks

    try:
        missing = missing_chunks(arr, [row])
        if missing:
            raise StimulusError(f"{what}: {len(missing)} chunk(s) are missing from the Zarr store ({missing[0]} ...)")
        clip = np.asarray(arr[row])
    except BERGError:
        raise
    except Exception as exc:  # whatever the array library raises for a damaged read
        raise StimulusError(f"reading {what} failed ({type(exc).__name__}: {str(exc)[:300]})") from None
    if clip.shape != tuple(int(d) for d in arr.shape[1:]) or clip.dtype != np.uint8:
        raise StimulusError(f"reading {what} gave shape {clip.shape} and dtype {clip.dtype}, not {tuple(arr.shape[1:])} uint8")
    return np.ascontiguousarray(clip)


def _paths(stimulus: Any, recursive: bool) -> tuple[list[Path], Path | None, bool]:
    """The video files ``stimulus`` names, the folder ids are relative to, and whether berg chose the order."""
    from berg_core.stimuli.files import expand_folder, expand_glob, image_file

    text = str(stimulus)
    path = Path(text).expanduser()
    if path.is_dir():
        return expand_folder(path, recursive, VIDEO_EXTENSIONS, "video"), path, True
    if any(ch in text for ch in "*?[") and not path.exists():
        return expand_glob(text, VIDEO_EXTENSIONS, "video"), None, True
    if not path.exists():
        raise StimulusError(f"stimulus path {text!r} does not exist; expected a video file or a folder of videos")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise StimulusError(f"{text!r} is not a video file; expected a file ending in {', '.join(VIDEO_EXTENSIONS)}")
    return [image_file(path, "video")], None, False


def _ids_for(paths: list[Path], root: Path | None) -> list[str]:
    from berg_core.stimuli.inputs import _ids_for as ids_for

    return ids_for(paths, root)


def _check_fps(fps: Any, n: int) -> list[float | None]:
    if fps is None:
        return [None] * n
    values = [fps] * n if isinstance(fps, (int, float)) and not isinstance(fps, bool) else list(fps)
    if len(values) != n:
        raise StimulusError(f"fps has {len(values)} values for {n} clips; expected one number, or one per clip")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
            raise StimulusError(f"fps must be positive numbers of frames per second, got {v!r}")
    return [float(v) for v in values]


def as_video(stimulus: Any, stimulus_ids: Any = None, recursive: bool = False, fps: Any = None) -> VideoStimuli:
    """Validate ``stimulus`` as video clips (see the module's accepted forms).

    Parameters
    ----------
    stimulus
        Clips in any accepted form.
    stimulus_ids
        One id per clip, distinct, all strings or all integers; not for a folder or glob pattern.
    recursive
        Read a folder's subfolders too (ids are then relative paths).
    fps
        Frames per second of array clips (one number, or one per clip); files give their own.

    Raises
    ------
    StimulusError
        With what was given and what is accepted.
    """
    if isinstance(stimulus, VideoStimuli):
        out = stimulus
    else:
        out, chosen = _from(stimulus, recursive)
        if fps is not None:
            if any(src.path is not None for src in out.items):
                raise StimulusError("fps= is for clips given as arrays; video files give their own frame rate")
            rates = _check_fps(fps, len(out))
            out.items = [_Source(array=s.array, row=s.row, fps=r) for s, r in zip(out.items, rates, strict=True)]
        if stimulus_ids is not None and chosen:
            raise StimulusError(
                "stimulus_ids cannot name the clips of a folder or glob pattern: its order is berg's (sorted paths); "
                "pass a list of the files in the order of your ids, or use the default ids (file names)"
            )
    return out if stimulus_ids is None else out.with_ids(stimulus_ids)


def _from(stimulus: Any, recursive: bool) -> tuple[VideoStimuli, bool]:
    if not isinstance(recursive, bool):
        raise StimulusError(f"recursive must be True or False, got {describe(recursive)}")
    stimulus = _as_numpy(stimulus, "the video tensor")
    if isinstance(stimulus, np.ndarray):
        _check_clip_shape(tuple(stimulus.shape), "the video array", batched=True)
        _check_dtype(stimulus.dtype, "the video array")
        return VideoStimuli(ids=list(range(len(stimulus))), items=[_Source(array=c) for c in stimulus]), False
    if isinstance(stimulus, (str, os.PathLike)):
        paths, root, chosen = _paths(stimulus, recursive)
        return VideoStimuli(ids=_ids_for(paths, root), items=[_Source(path=p, fps=_probe(p)) for p in paths]), chosen
    if _is_lazy_array(stimulus):
        try:
            shape = tuple(int(d) for d in stimulus.shape)
            dtype = stimulus.dtype
        except Exception as exc:  # any array library's own failure
            raise StimulusError(f"the video array cannot be inspected ({type(exc).__name__}: {exc})") from None
        _check_clip_shape(shape, "the on-disk video array", batched=True)
        _check_dtype(dtype, "the on-disk video array")
        return VideoStimuli(ids=list(range(shape[0])), items=[_Source(array=stimulus, row=i) for i in range(shape[0])]), False
    if not isinstance(stimulus, (list, tuple)) and hasattr(stimulus, "__iter__") and hasattr(stimulus, "__next__"):
        stimulus = list(stimulus)  # an iterator of paths (Path.glob)
    if isinstance(stimulus, (list, tuple)):
        return _from_list(list(stimulus)), False
    raise StimulusError(f"unsupported stimulus for a video model: got {describe(stimulus)}; expected {ACCEPTED_VIDEO}")


def _from_list(items: list[Any]) -> VideoStimuli:
    if not items:
        raise StimulusError(f"the list of clips is empty; expected {ACCEPTED_VIDEO}")
    if isinstance(items[0], (str, os.PathLike)):
        paths: list[Path] = []
        for i, item in enumerate(items):
            if not isinstance(item, (str, os.PathLike)):
                raise StimulusError(f"the list of video files mixes paths with other objects: item {i} is {describe(item)}")
            if Path(item).is_dir():
                raise StimulusError(f"item {i} of the list is a folder ({str(item)!r}); list video files, or pass the folder alone")
            paths.extend(_paths(item, False)[0])
        return VideoStimuli(ids=_ids_for(paths, None), items=[_Source(path=p, fps=_probe(p)) for p in paths])
    sources = []
    for i, item in enumerate(items):
        what = f"clip {i} of the list"
        arr = _as_numpy(item, what)
        if not isinstance(arr, np.ndarray):
            raise StimulusError(f"{what} is {describe(item)}; expected a uint8 array (T, 3, H, W) or a video file path")
        _check_clip_shape(tuple(arr.shape), what, batched=False)
        _check_dtype(arr.dtype, what)
        sources.append(_Source(array=arr))
    return VideoStimuli(ids=list(range(len(sources))), items=sources)
