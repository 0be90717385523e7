"""The one place where user stimuli are checked and normalised.

Accepted (anything else raises :class:`~berg_core.StimulusError` saying what
was given and what is accepted):

* arrays or tensors ``(N, 3, H, W)`` of any size and aspect, or grey ``(N, H, W)`` /
  ``(N, 1, H, W)``: uint8; uint16 (16-bit, scaled by 1/65535); other integers with values
  in 0-255 (converted to uint8, never rescaled: BERG 2.0 silently produced near-zero
  features for int64 images); floats (float16/bfloat16/float32/float64) in [0, 1].
  Tensors may require grad or live on a GPU; nested tensors count as lists; sparse, meta,
  quantized and complex tensors are refused. Broadcast views are never copied whole;
* a list of arrays or tensors ``(3, H, W)`` or grey ``(H, W)``, of different sizes;
* a PIL image or a list of PIL images (16-bit and float modes as files);
* an image file path, a list (or iterator, e.g. ``Path.glob``) of paths, a folder of images
  (with ``recursive=True``, its subfolders too, ids being relative paths; a folder whose
  subfolders hold images is otherwise refused), or a glob pattern (``"images/**/*.jpg"``).
  File rules (16-bit, float, size limit, regular files only) are in
  :mod:`berg_core.stimuli.files`;
* an on-disk array such as a Zarr or HDF5 array, read one batch at a time (its values,
  row count and, for Zarr, the presence of its chunks are checked as each batch is read).

Ids are 0..N-1 for arrays, lists and PIL images, and file names (relative paths in recursive
folders) for files; ``stimulus_ids=`` names the stimuli of any form except folders and glob
patterns, whose order the user did not choose (list the files instead).

Images are kept as they are given (no resizing here): each model decides its
own crop and resize in its preprocessing hook. Files are decoded lazily, one
batch at a time, so a folder of 100,000 images costs no memory up front.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from berg_core.errors import StimulusError
from berg_core.stimuli.arrays import (
    as_rgb_view,
    check_lazy,
    check_shape,
    check_values,
    read_rows,
    to_pixels,
    torch_to_numpy,
)
from berg_core.stimuli.files import IMAGE_EXTENSIONS, expand_folder, expand_glob, image_file, open_image, pil_to_tensor

__all__ = ["ACCEPTED", "IMAGE_EXTENSIONS", "Stimuli", "as_stimuli"]

ACCEPTED = (
    "a uint8 array (N, 3, H, W) (or grey (N, H, W)), a uint16 array, a float array with values in [0, 1], an "
    "integer array with values in 0-255, a list of (3, H, W) arrays, a PIL image or list of PIL images, image "
    "file path(s), a folder of images or a glob pattern, or an on-disk (N, 3, H, W) array (Zarr, HDF5)"
)


def _torch() -> Any:
    import torch

    return torch


@dataclass
class Stimuli:
    """Validated stimuli: ``len(self)`` images and their ids.

    Exactly one of ``array`` (an ``(N, 3, H, W)`` array or view, converted batch by batch),
    ``items`` (checked ``(3, H, W)`` arrays of any sizes), ``pil`` (PIL images), ``paths``
    (image files) or ``lazy`` (an on-disk array) holds the images; ``form`` says which form
    the user gave (array, list, pil, paths, folder, glob, lazy).
    """

    #: the card ``stimuli:`` kind this collection serves (see :mod:`berg_core.stimuli.kinds`)
    kind: ClassVar[str] = "images"
    #: the progress bar's unit
    unit: ClassVar[str] = "img"

    ids: list[Any]
    array: np.ndarray | None = None
    pil: list[Any] | None = None
    paths: list[Path] | None = None
    form: str = field(default="array")
    #: an on-disk array (Zarr, HDF5...) read one batch at a time, and this batch's rows of it
    lazy: Any = field(default=None, repr=False)
    lazy_rows: tuple[int, int] = (0, 0)
    items: list[np.ndarray] | None = None
    _decoded: list[Any] | None = field(default=None, repr=False)
    #: an array batch's images as the one ``(B, 3, H, W)`` tensor they are views of (stacked without a copy)
    _block_tensor: Any = field(default=None, repr=False, compare=False)

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
            form=self.form,
            lazy=self.lazy,
            lazy_rows=(rows.start, rows.stop) if self.lazy is not None else (0, 0),
            items=None if self.items is None else self.items[index],
        )

    def batches(self, batch_size: int) -> Iterator[Stimuli]:
        """Consecutive batches of at most ``batch_size`` stimuli."""
        for start in range(0, len(self), batch_size):
            yield self[start : start + batch_size]

    def n_units(self) -> int:
        """Images in this batch (the progress bar's count)."""
        return len(self)

    def fingerprint_parts(self) -> list[Any]:
        """The decoded images (what a resumed result compares)."""
        return self.tensors()

    def decoded(self) -> Stimuli:
        """This batch with its images decoded now (used to decode ahead in a background thread)."""
        if self._decoded is None:
            self._decoded = self.tensors()
        return self

    def _block(self) -> np.ndarray | None:
        """This batch of an array or on-disk array as ``(B, 3, H, W)`` uint8 or float32, else ``None``."""
        if self.lazy is not None:
            start, stop = self.lazy_rows
            shape = check_lazy(self.lazy, "the stimulus array")
            return read_rows(self.lazy, start, stop, shape, "the array")
        if self.array is not None:
            # values were checked when the stimuli were accepted; only this batch is converted (and copied)
            return np.ascontiguousarray(to_pixels(as_rgb_view(self.array), "the stimulus array", check=False))
        return None

    def tensors(self) -> list[Any]:
        """The images as ``(3, H, W)`` torch tensors: uint8, or float32 in [0, 1]."""
        if self._decoded is not None:
            return self._decoded
        block = self._block_tensor if self._block_tensor is not None else self._read_block()
        if block is not None:
            return list(block.unbind(0))
        torch = _torch()
        if self.items is not None:
            return [torch.from_numpy(np.ascontiguousarray(to_pixels(im, "a stimulus", check=False))) for im in self.items]
        if self.pil is not None:
            return [pil_to_tensor(im, f"PIL image {i}") for i, im in zip(self.ids, self.pil, strict=True)]
        return [open_image(p) for p in self.paths or []]

    def _read_block(self) -> Any | None:
        """This array batch as one tensor, kept (its images are views of it); ``None`` for other forms."""
        block = self._block()
        if block is None:
            return None
        block = np.ascontiguousarray(block)
        if not block.flags.writeable or (self.array is not None and np.may_share_memory(block, self.array)):
            block = block.copy()  # a preparation writing into its input must never reach the user's array
        self._block_tensor = _torch().from_numpy(block)
        return self._block_tensor

    def stacked(self) -> Any | None:
        """The batch as one ``(B, 3, H, W)`` tensor when all images share a size and dtype, else ``None``.

        An array batch gives the one tensor its images were copied into (:meth:`tensors` are views
        of it), not a further copy.
        """
        if self._block_tensor is not None or (self._decoded is None and self._read_block() is not None):
            return self._block_tensor
        torch = _torch()
        ts = self.tensors()
        if len({(tuple(t.shape), t.dtype) for t in ts}) == 1:
            return torch.stack(ts)
        return None


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
    """``arr`` checked (shape, dtype, every value) without copying it."""
    check_shape(arr.shape, what)
    check_values(arr, what)
    return arr


def _check_item(item: Any, what: str) -> np.ndarray:
    """One ``(3, H, W)`` or grey ``(H, W)`` image of a list, checked, as an ``(3, H, W)`` array or view."""
    if type(item).__module__.startswith("torch") and hasattr(item, "detach"):
        item = torch_to_numpy(item, what)
    if not isinstance(item, np.ndarray):
        raise StimulusError(f"{what} is {_describe(item)}; expected an array (3, H, W) or (H, W)")
    if item.ndim not in (2, 3):
        raise StimulusError(f"{what} must be one image (3, H, W) or grey (H, W), got shape {item.shape}")
    one = item[None]  # (1, H, W) reads as one grey image, (1, C, H, W) as one image of C channels
    check_shape(one.shape, what)
    check_values(one, what)
    return as_rgb_view(one)[0]


def _is_glob(p: str | os.PathLike[str]) -> bool:
    text = str(p)
    return any(ch in text for ch in "*?[") and not Path(text).exists()


def _expand_path(p: str | os.PathLike[str], recursive: bool) -> tuple[list[Path], Path | None]:
    """The image files ``p`` names, and the folder their ids are relative to (``None`` for a file)."""
    path = Path(p).expanduser()
    if path.is_dir():
        return expand_folder(path, recursive), path
    if not path.exists():
        raise StimulusError(f"stimulus path {str(p)!r} does not exist; expected an image file or a folder of images")
    image_file(path)
    if not os.access(path, os.R_OK):
        raise StimulusError(f"stimulus path {str(p)!r} cannot be read: permission denied")
    return [path], None


def _is_lazy_array(obj: Any) -> bool:
    """Zarr, HDF5 and similar arrays: shape, dtype and slicing, read on demand."""
    return (
        not isinstance(obj, np.ndarray)
        and hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "__getitem__")
        and not isinstance(obj, (str, bytes, list, tuple, dict))
    )


def _ids_for(paths: Sequence[Path], root: Path | None = None) -> list[str]:
    if root is not None:
        return [p.relative_to(root).as_posix() for p in paths]
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]  # same file name in two folders: keep them apart


def _check_ids(ids: Any, n: int) -> list[Any]:
    """``stimulus_ids`` as a list of ``n`` distinct strings, or of ``n`` distinct integers."""
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise StimulusError(f"stimulus_ids must be a list of {n} distinct strings or integers, got {_describe(ids)}")
    out: list[Any] = []
    for i, v in enumerate(ids):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (str, int, np.integer)):
            raise StimulusError(f"stimulus_ids must be strings or integers; id {i} is {_describe(v)}")
        out.append(int(v) if isinstance(v, (int, np.integer)) else str(v))
        if len(out) > n:
            break
    if len(out) != n:
        given = f"more than {n}" if len(out) > n else str(len(out))
        raise StimulusError(f"stimulus_ids has {given} ids for {n} stimuli; expected one id per stimulus")
    if len({type(v) for v in out}) > 1:
        raise StimulusError("stimulus_ids mixes strings and integers; expected all strings or all integers")
    seen: dict[Any, int] = {}
    for i, v in enumerate(out):
        if v in seen:
            raise StimulusError(f"stimulus_ids must be distinct: id {v!r} is given for stimuli {seen[v]} and {i}")
        seen[v] = i
    return out


def as_stimuli(stimulus: Any, stimulus_ids: Sequence[Any] | None = None, recursive: bool = False) -> Stimuli:
    """Validate ``stimulus`` and return it as :class:`Stimuli`.

    Parameters
    ----------
    stimulus
        Any form listed in this module's docstring.
    stimulus_ids
        Ids for the stimuli, one per stimulus, distinct, all strings or all integers; not for a
        folder or glob pattern (list its files instead). Default: 0..N-1, or file names.
    recursive
        Read a folder's subfolders too (ids are then paths relative to the folder).

    Raises
    ------
    StimulusError
        With what was given and what is accepted.
    """
    st = _as_stimuli(stimulus, recursive)
    if stimulus_ids is None:
        return st
    if st.form in ("folder", "glob"):
        raise StimulusError(
            f"stimulus_ids cannot name the images of a {st.form}: its order is berg's (sorted paths), not yours; "
            "pass a list of the files in the order of your ids, or use the default ids (file names)"
        )
    st.ids = _check_ids(stimulus_ids, len(st))
    return st


def _as_stimuli(stimulus: Any, recursive: bool) -> Stimuli:
    if isinstance(stimulus, Stimuli):
        return Stimuli(**{k: getattr(stimulus, k) for k in ("ids", "array", "pil", "paths", "form", "lazy", "lazy_rows", "items")})
    if not isinstance(recursive, bool):
        raise StimulusError(f"recursive must be True or False, got {_describe(recursive)}")
    if type(stimulus).__module__.startswith("torch") and hasattr(stimulus, "detach"):
        stimulus = torch_to_numpy(stimulus, "the stimulus tensor")
    if isinstance(stimulus, np.ndarray):
        arr = as_rgb_view(_check_array(stimulus, "the stimulus array"))
        return Stimuli(ids=list(range(arr.shape[0])), array=arr, form="array")
    if _is_pil(stimulus):
        pil_to_tensor(stimulus, "the PIL image")  # refuses an unconvertible mode or out-of-range values now
        return Stimuli(ids=[0], pil=[stimulus], form="pil")
    if isinstance(stimulus, (str, os.PathLike)):
        if _is_glob(stimulus):
            return Stimuli(ids=_ids_for(paths := expand_glob(str(stimulus))), paths=paths, form="glob")
        paths, root = _expand_path(stimulus, recursive)
        return Stimuli(ids=_ids_for(paths, root), paths=paths, form="paths" if root is None else "folder")
    if _is_lazy_array(stimulus):
        n = check_lazy(stimulus, "the stimulus array")[0]
        return Stimuli(ids=list(range(n)), form="lazy", lazy=stimulus, lazy_rows=(0, n))
    if isinstance(stimulus, Iterator):
        # generators of file paths are common (os.scandir, Path.glob): paths cost a few bytes each
        stimulus = list(stimulus)
        if not stimulus:
            raise StimulusError(f"the stimulus iterator yielded nothing; expected {ACCEPTED}")
    if isinstance(stimulus, (list, tuple)):
        return _from_list(stimulus)
    raise StimulusError(f"unsupported stimulus: got {_describe(stimulus)}; expected {ACCEPTED}")


def _from_list(stimulus: Sequence[Any]) -> Stimuli:
    if len(stimulus) == 0:
        raise StimulusError(f"the stimulus list is empty; expected {ACCEPTED}")
    first = stimulus[0]
    if _is_pil(first):
        for i, item in enumerate(stimulus):
            if not _is_pil(item):
                raise StimulusError(f"stimulus list mixes PIL images with other objects: item {i} is {_describe(item)}")
            if item.mode not in ("RGB", "L"):
                pil_to_tensor(item, f"PIL image {i}")  # refuses an unconvertible mode or out-of-range values now
        return Stimuli(ids=list(range(len(stimulus))), pil=list(stimulus), form="pil")
    if isinstance(first, (str, os.PathLike)):
        files: list[Path] = []
        for i, item in enumerate(stimulus):
            if not isinstance(item, (str, os.PathLike)):
                raise StimulusError(f"stimulus list mixes file paths with other objects: item {i} is {_describe(item)}")
            if Path(item).is_dir():
                raise StimulusError(f"item {i} of the stimulus list is a folder ({str(item)!r}); list image files, or pass the folder alone")
            files.extend(_expand_path(item, False)[0])
        return Stimuli(ids=_ids_for(files), paths=files, form="paths")
    if isinstance(first, np.ndarray) or type(first).__module__.startswith("torch"):
        items = []
        for i, item in enumerate(stimulus):
            if _is_pil(item) or isinstance(item, (str, os.PathLike)):
                raise StimulusError(f"stimulus list mixes arrays with other objects: item {i} is {_describe(item)}")
            items.append(_check_item(item, f"item {i} of the stimulus list"))
        return Stimuli(ids=list(range(len(items))), items=items, form="list")
    raise StimulusError(f"stimulus list items must be arrays, PIL images or file paths; item 0 is {_describe(first)}")
