"""Image files as stimuli: finding them, opening them safely, and turning them into pixels.

Rules (the same as for arrays, see :mod:`berg_core.stimuli.arrays`):

* 8-bit images (any PIL mode) become RGB uint8; grey is repeated on the three channels.
* 16-bit images (16-bit PNG, PGM/PPM with a maximum above 255, 16-bit TIFF) become float32
  ``value / 65535``: a 16-bit copy of an 8-bit image gives the same picture, within rounding.
* 32-bit integer images (TIFF mode ``I``) follow the rule of integer arrays: values in 0-255 are
  taken as 8-bit, anything else is refused (their range is not recorded in the file).
* 32-bit float images (TIFF mode ``F``) follow the rule of float arrays: values must lie in [0, 1].
* Only regular files are opened (a FIFO, a device or a folder named ``x.png`` is refused, never
  read), and images of more than :func:`max_image_pixels` pixels are refused before they are
  decoded; set ``BERG_MAX_IMAGE_PIXELS`` to raise the limit.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from berg_core.errors import StimulusError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "expand_folder",
    "expand_glob",
    "image_file",
    "max_image_pixels",
    "open_image",
    "pil_to_tensor",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MAX_PIXELS_ENV = "BERG_MAX_IMAGE_PIXELS"
#: Pillow's own default (about 9,459 x 9,459 pixels): above it Pillow warns of a decompression bomb
DEFAULT_MAX_PIXELS = 89_478_485
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def _torch() -> Any:
    import torch

    return torch


def max_image_pixels() -> int:
    """The largest image (width x height) berg decodes: ``BERG_MAX_IMAGE_PIXELS`` or 89,478,485.

    Setting the variable above Pillow's own limit (``PIL.Image.MAX_IMAGE_PIXELS``) raises that one
    too, for this process; without it, a limit lowered in Pillow applies as well.
    """
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise StimulusError(f"{MAX_PIXELS_ENV} must be a positive whole number of pixels, got {text[:40]!r}")
    return value


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def image_file(path: Path, noun: str = "image") -> Path:
    """``path`` if it is a readable regular file; else a :class:`StimulusError` saying what it is."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise StimulusError(f"{noun} file {str(path)!r} does not exist (it may have been moved after encode started)") from None
    except OSError as exc:
        raise StimulusError(f"{noun} file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StimulusError(f"{str(path)!r} is {_kind_of(st.st_mode)}, not {'an' if noun[0] in 'aeiou' else 'a'} {noun} file; expected a regular file")
    return path


def _has_image_suffix(name: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> bool:
    return Path(name).suffix.lower() in extensions


def _walk(root: Path, recursive: bool, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> Iterator[tuple[Path, bool]]:
    """``(entry, is_subfolder)`` for the image files (and subfolders) below ``root``, symlink loops cut."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise StimulusError(f"folder {str(folder)!r} cannot be listed: {exc.strerror or exc}") from None
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks, as a user expects of a linked folder
            except OSError:
                is_dir = False
            if is_dir:
                yield path, True
                if recursive:
                    stack.append(path)
            elif _has_image_suffix(entry.name, extensions):
                yield path, False


def expand_folder(
    folder: Path, recursive: bool, extensions: tuple[str, ...] = IMAGE_EXTENSIONS, noun: str = "image"
) -> list[Path]:
    """The image files of ``folder`` (and, with ``recursive``, of its subfolders), sorted by relative path.

    Without ``recursive``, a folder whose subfolders hold images is refused: reading only the top
    level would silently leave part of the stimuli out.
    """
    files: list[Path] = []
    subfolders: list[Path] = []
    for path, is_dir in _walk(folder, recursive, extensions):
        (subfolders if is_dir else files).append(path)
    if not recursive:
        nested = [d for d in subfolders if any(not is_dir for _, is_dir in _walk(d, True, extensions))]
        if nested:
            names = ", ".join(repr(d.name) for d in sorted(nested)[:3]) + (" ..." if len(nested) > 3 else "")
            raise StimulusError(
                f"folder {str(folder)!r} has subfolders holding {noun}s ({names}); pass recursive=True "
                "(berg encode --recursive) to encode them too, with their relative paths as ids, "
                f"or pass the {noun} files you want"
            )
    if not files:
        where = " or its subfolders" if recursive else ""
        raise StimulusError(f"folder {str(folder)!r}{where} holds no {noun} files; expected files ending in {', '.join(extensions)}")
    for f in files:
        image_file(f, noun)
    return sorted(files, key=lambda f: f.relative_to(folder).as_posix())


def expand_glob(pattern: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS, noun: str = "image") -> list[Path]:
    """The image files a glob pattern matches; a folder or special file with an image name is refused."""
    import glob

    matches = [Path(f) for f in glob.glob(os.path.expanduser(pattern), recursive=True) if _has_image_suffix(f, extensions)]
    files = sorted(image_file(f, noun) for f in matches)
    if not files:
        raise StimulusError(f"the pattern {pattern!r} matches no {noun} files (ending in {', '.join(extensions)})")
    return files


def _check_size(size: tuple[int, int], path: Path, limit: int) -> None:
    w, h = size
    if w * h > limit:
        raise StimulusError(
            f"image file {str(path)!r} is {w} x {h} = {w * h:,} pixels, more than the limit of {limit:,} "
            f"(a decompression bomb or an absurd size); if it is genuine, raise the limit with {MAX_PIXELS_ENV}"
        )


def open_image(path: Path) -> Any:
    """Decode one image file into a ``(3, H, W)`` tensor (see the module's rules)."""
    from PIL import Image, UnidentifiedImageError

    limit = max_image_pixels()
    try:
        # O_NONBLOCK: opening a FIFO that slipped in after listing returns at once instead of waiting for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise StimulusError(f"image file {str(path)!r} does not exist (it may have been moved after encode started)") from None
    except PermissionError:
        raise StimulusError(f"image file {str(path)!r} cannot be read: permission denied") from None
    except OSError as exc:
        raise StimulusError(f"image file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise StimulusError(f"{str(path)!r} is {_kind_of(st.st_mode)}, not an image file; expected a regular file")
        if os.environ.get(MAX_PIXELS_ENV) and Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
            Image.MAX_IMAGE_PIXELS = limit  # the user raised berg's limit: Pillow's own must not refuse first
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(fh) as im:
                    _check_size(im.size, path, limit)
                    im.load()
                    return pil_to_tensor(im, f"image file {str(path)!r}")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise StimulusError(
                f"image file {str(path)!r} is larger than the limit of {limit:,} pixels (a decompression bomb or an "
                f"absurd size); if it is genuine, raise the limit with {MAX_PIXELS_ENV}"
            ) from None
        except StimulusError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise StimulusError(
                f"{str(path)!r} is not a readable image file ({exc}); expected {', '.join(IMAGE_EXTENSIONS)}"
            ) from None


def _sixteen_bit(im: Any) -> bool:
    if im.mode in _SIXTEEN_BIT_MODES:
        return True
    if im.mode != "I":
        return False
    if im.format in ("PPM", "PNG"):  # Pillow reads 16-bit PGM/PNG as mode I, scaled to 0-65535
        return True
    bits = getattr(im, "tag_v2", {}).get(258) if im.format == "TIFF" else None
    if not bits:
        return False
    return int(bits[0] if isinstance(bits, tuple) else bits) == 16


def pil_to_tensor(im: Any, what: str) -> Any:
    """A PIL image as a ``(3, H, W)`` torch tensor: uint8, or float32 in [0, 1] for 16-bit and float images."""
    from berg_core.stimuli.arrays import to_pixels

    torch = _torch()
    if im.mode in _SIXTEEN_BIT_MODES or im.mode in ("I", "F"):
        arr = np.asarray(im)
        if _sixteen_bit(im):
            pixels = arr.astype(np.float32) / np.float32(65535)
        else:
            pixels = to_pixels(arr[None, None], f"{what} (mode {im.mode}, {arr.dtype})", check=True)[0, 0]
        return torch.from_numpy(np.ascontiguousarray(np.broadcast_to(pixels, (3, *pixels.shape))))
    if im.mode != "RGB":
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as exc:
            raise StimulusError(f"{what} has PIL mode {im.mode!r}, which cannot be converted to RGB ({exc}); save it as RGB") from None
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy())
