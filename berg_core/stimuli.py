"""The one place where user stimuli are checked and normalised.

Accepted (anything else raises :class:`~berg_core.StimulusError` saying what
was given and what is accepted):

* uint8 arrays or tensors ``(N, 3, H, W)``, any size and aspect;
* float arrays ``(N, 3, H, W)`` with values in [0, 1];
* other integer arrays with values in 0-255 (converted to uint8, never rescaled:
  BERG 2.0 silently produced near-zero features for int64 images);
* a PIL image or a list of PIL images;
* an image file path, a list (or iterator, e.g. ``Path.glob``) of paths, a
  folder of images, or a glob pattern (``"images/**/*.jpg"``);
* an on-disk array ``(N, 3, H, W)`` such as a Zarr or HDF5 array, read one
  batch at a time (its values are checked as each batch is read).

Images are kept as they are given (no resizing here): each model decides its
own crop and resize in its preprocessing hook. Files are decoded lazily, one
batch at a time, so a folder of 100,000 images costs no memory up front.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StimulusError

__all__ = ["ACCEPTED", "IMAGE_EXTENSIONS", "Stimuli", "as_stimuli"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
ACCEPTED = (
    "a uint8 array (N, 3, H, W), a float array (N, 3, H, W) with values in [0, 1], an integer array with "
    "values in 0-255, a PIL image or list of PIL images, image file path(s), a folder of images or a glob pattern, "
    "or an on-disk (N, 3, H, W) array (Zarr, HDF5)"
)


def _torch() -> Any:
    import torch

    return torch


@dataclass
class Stimuli:
    """Validated stimuli: ``len(self)`` images and their ids.

    Exactly one of ``array`` (an ``(N, 3, H, W)`` uint8 or float32 NumPy array),
    ``pil`` (RGB PIL images) or ``paths`` (image files) holds the images.
    """

    ids: list[Any]
    array: np.ndarray | None = None
    pil: list[Any] | None = None
    paths: list[Path] | None = None
    kind: str = field(default="array")
    #: an on-disk array (Zarr, HDF5...) read one batch at a time, and this batch's rows of it
    lazy: Any = field(default=None, repr=False)
    lazy_rows: tuple[int, int] = (0, 0)
    _decoded: list[Any] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: slice) -> Stimuli:
        if not isinstance(index, slice):
            raise TypeError("Stimuli are indexed by slices")
        rows = range(*self.lazy_rows)[index]
        return Stimuli(
            ids=self.ids[index],
            array=None if self.array is None else self.array[index],
            pil=None if self.pil is None else self.pil[index],
            paths=None if self.paths is None else self.paths[index],
            kind=self.kind,
            lazy=self.lazy,
            lazy_rows=(rows.start, rows.stop) if self.lazy is not None else (0, 0),
        )

    def batches(self, batch_size: int) -> Iterator[Stimuli]:
        """Consecutive batches of at most ``batch_size`` stimuli."""
        for start in range(0, len(self), batch_size):
            yield self[start : start + batch_size]

    def decoded(self) -> Stimuli:
        """This batch with its images decoded now (used to decode ahead in a background thread)."""
        if self._decoded is None:
            self._decoded = self.tensors()
        return self

    def tensors(self) -> list[Any]:
        """The images as ``(3, H, W)`` torch tensors: uint8, or float32 in [0, 1]."""
        if self._decoded is not None:
            return self._decoded
        torch = _torch()
        if self.lazy is not None:
            start, stop = self.lazy_rows
            block = _check_array(np.asarray(self.lazy[start:stop]), f"stimulus rows {start}-{stop - 1} of the array")
            return list(torch.from_numpy(np.ascontiguousarray(block)).unbind(0))
        if self.array is not None:
            return list(torch.from_numpy(np.ascontiguousarray(self.array)).unbind(0))
        images = self.pil if self.pil is not None else [_open_image(p) for p in self.paths or []]
        return [torch.from_numpy(np.asarray(_pil_to_rgb(im), dtype=np.uint8).transpose(2, 0, 1).copy()) for im in images]

    def stacked(self) -> Any | None:
        """The batch as one ``(B, 3, H, W)`` tensor when all images share a size, else ``None``."""
        torch = _torch()
        if self.array is not None and self._decoded is None:
            return torch.from_numpy(np.ascontiguousarray(self.array))
        if self.lazy is not None and self._decoded is None:
            self.decoded()
        ts = self.tensors()
        if len({tuple(t.shape) for t in ts}) == 1:
            return torch.stack(ts)
        return None


def _pil_to_rgb(im: Any) -> Any:
    return im if im.mode == "RGB" else im.convert("RGB")


def _open_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return _pil_to_rgb(im)
    except FileNotFoundError:
        raise StimulusError(f"image file {str(path)!r} does not exist (it may have been moved after encode started)") from None
    except PermissionError:
        raise StimulusError(f"image file {str(path)!r} cannot be read: permission denied") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise StimulusError(f"{str(path)!r} is not a readable image file ({exc}); expected {', '.join(IMAGE_EXTENSIONS)}") from None


def _is_pil(obj: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(obj, Image.Image)


def _describe(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"a NumPy array of shape {obj.shape} and dtype {obj.dtype}"
    mod = type(obj).__module__
    if mod.startswith("torch"):
        return f"a torch tensor of shape {tuple(obj.shape)} and dtype {obj.dtype}"
    return f"{type(obj).__name__} {obj!r}"[:200]


def _check_array(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim != 4:
        hint = " (for one image use x[None])" if arr.ndim == 3 else ""
        raise StimulusError(f"{what} must have 4 dimensions (N, 3, H, W), got shape {arr.shape}{hint}")
    n, c, h, w = arr.shape
    if n == 0:
        raise StimulusError(f"{what} holds no images (shape {arr.shape}); expected at least one image")
    if c != 3:
        hint = " (channels-last? use x.transpose(0, 3, 1, 2))" if arr.shape[-1] == 3 else ""
        raise StimulusError(f"{what} must have 3 colour channels on axis 1 (N, 3, H, W), got shape {arr.shape}{hint}")
    if h == 0 or w == 0:
        raise StimulusError(f"{what} has empty images (shape {arr.shape}); expected H and W of at least 1 pixel")
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        raise StimulusError(f"{what} is boolean; expected uint8 values 0-255 or floats in [0, 1]")
    if kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise StimulusError(
                f"{what} has integer dtype {arr.dtype} with values in [{lo}, {hi}]; integer images must lie in 0-255"
            )
        return arr.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(arr).all():
            raise StimulusError(f"{what} contains NaN or infinite values; expected floats in [0, 1]")
        lo_f, hi_f = float(arr.min()), float(arr.max())
        if lo_f < 0.0 or hi_f > 1.0:
            raise StimulusError(
                f"{what} has float values in [{lo_f:g}, {hi_f:g}]; float images must lie in [0, 1] "
                "(divide uint8 data by 255, or pass it as uint8)"
            )
        return arr.astype(np.float32, copy=False)
    raise StimulusError(f"{what} has dtype {arr.dtype}; expected uint8, another integer type in 0-255, or float in [0, 1]")


def _expand_path(p: str | os.PathLike[str]) -> list[Path]:
    path = Path(p).expanduser()
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise StimulusError(f"folder {str(path)!r} holds no image files; expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
        return files
    if not path.exists():
        raise StimulusError(f"stimulus path {str(p)!r} does not exist; expected an image file or a folder of images")
    if not os.access(path, os.R_OK):
        raise StimulusError(f"stimulus path {str(p)!r} cannot be read: permission denied")
    return [path]


def _is_glob(p: str | os.PathLike[str]) -> bool:
    text = str(p)
    return any(ch in text for ch in "*?[") and not Path(text).exists()


def _expand_glob(pattern: str) -> list[Path]:
    import glob

    files = sorted(
        Path(f) for f in glob.glob(os.path.expanduser(pattern), recursive=True)
        if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise StimulusError(f"the pattern {pattern!r} matches no image files (ending in {', '.join(IMAGE_EXTENSIONS)})")
    return files


def _is_lazy_array(obj: Any) -> bool:
    """Zarr, HDF5 and similar arrays: shape, dtype and slicing, read on demand."""
    return (
        not isinstance(obj, np.ndarray)
        and hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "__getitem__")
        and not isinstance(obj, (str, bytes, list, tuple, dict))
    )


def _check_lazy_shape(arr: Any) -> None:
    """Check rank, channels and dtype up front; values are checked as each batch is read."""
    shape = tuple(int(d) for d in arr.shape)
    probe = np.empty((0, *shape[1:]) if len(shape) == 4 else (0,), dtype=np.dtype(arr.dtype))
    if len(shape) != 4:
        raise StimulusError(f"the stimulus array must have 4 dimensions (N, 3, H, W), got shape {shape}")
    if shape[0] == 0:
        raise StimulusError(f"the stimulus array holds no images (shape {shape}); expected at least one image")
    if shape[1] != 3:
        raise StimulusError(f"the stimulus array must have 3 colour channels on axis 1 (N, 3, H, W), got shape {shape}")
    if probe.dtype.kind not in "uif" or probe.dtype.kind == "b":
        raise StimulusError(f"the stimulus array has dtype {probe.dtype}; expected uint8, another integer type in 0-255, or float in [0, 1]")


def _ids_for(paths: Sequence[Path]) -> list[str]:
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]  # same file name in two folders: keep them apart


def as_stimuli(stimulus: Any) -> Stimuli:
    """Validate ``stimulus`` and return it as :class:`Stimuli`.

    Raises
    ------
    StimulusError
        With what was given and what is accepted.
    """
    if isinstance(stimulus, Stimuli):
        return stimulus
    if type(stimulus).__module__.startswith("torch") and hasattr(stimulus, "detach"):
        stimulus = stimulus.detach().cpu().numpy()
    if isinstance(stimulus, np.ndarray):
        arr = _check_array(stimulus, "the stimulus array")
        return Stimuli(ids=list(range(arr.shape[0])), array=arr, kind="array")
    if _is_pil(stimulus):
        return Stimuli(ids=[0], pil=[_pil_to_rgb(stimulus)], kind="pil")
    if isinstance(stimulus, (str, os.PathLike)):
        paths = _expand_glob(str(stimulus)) if _is_glob(stimulus) else _expand_path(stimulus)
        return Stimuli(ids=_ids_for(paths), paths=paths, kind="paths")
    if _is_lazy_array(stimulus):
        _check_lazy_shape(stimulus)
        n = int(stimulus.shape[0])
        return Stimuli(ids=list(range(n)), kind="lazy", lazy=stimulus, lazy_rows=(0, n))
    if isinstance(stimulus, Iterator):
        # generators of file paths are common (os.scandir, Path.glob): paths cost a few bytes each
        stimulus = list(stimulus)
        if not stimulus:
            raise StimulusError(f"the stimulus iterator yielded nothing; expected {ACCEPTED}")
    if isinstance(stimulus, (list, tuple)):
        if len(stimulus) == 0:
            raise StimulusError(f"the stimulus list is empty; expected {ACCEPTED}")
        first = stimulus[0]
        if _is_pil(first):
            for i, item in enumerate(stimulus):
                if not _is_pil(item):
                    raise StimulusError(f"stimulus list mixes PIL images with other objects: item {i} is {_describe(item)}")
            return Stimuli(ids=list(range(len(stimulus))), pil=[_pil_to_rgb(im) for im in stimulus], kind="pil")
        if isinstance(first, (str, os.PathLike)):
            files: list[Path] = []
            for i, item in enumerate(stimulus):
                if not isinstance(item, (str, os.PathLike)):
                    raise StimulusError(f"stimulus list mixes file paths with other objects: item {i} is {_describe(item)}")
                expanded = _expand_path(item)
                if len(expanded) != 1 or Path(item).is_dir():
                    raise StimulusError(f"item {i} of the stimulus list is a folder ({str(item)!r}); list image files, or pass the folder alone")
                files.extend(expanded)
            return Stimuli(ids=_ids_for(files), paths=files, kind="paths")
        raise StimulusError(f"stimulus list items must be PIL images or file paths; item 0 is {_describe(first)}")
    raise StimulusError(f"unsupported stimulus: got {_describe(stimulus)}; expected {ACCEPTED}")
