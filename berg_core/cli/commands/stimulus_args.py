"""Stimuli named on the command line, read by the models' stimulus kind.

Images: image files, folders, globs, Zarr arrays and HDF5 datasets. Video: video files, folders
of videos, globs, or uint8 ``(N, T, 3, H, W)`` Zarr / HDF5 arrays. Sentences: one ``.txt`` file,
one sentence per line. Timed words: ``.tsv`` files (or folders of them), one story each.

The Python API takes opened arrays (``zarr.open_array(...)``); on the command line the user can
only give text, so the array forms are recognised here: a folder that is a Zarr array (its
``zarr.json`` / ``.zarray`` says so) and ``FILE.h5:DATASET``. Everything else goes to the
kind's reader (:func:`berg_core.stimuli.kinds.as_kind_stimuli`) unchanged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from berg_core.errors import StimulusError

__all__ = ["STIMULUS_HELP", "open_stimulus_args", "read_stimulus_args"]

#: what ``berg encode`` reads for each kind, for its help and its errors
STIMULUS_HELP = {
    "images": "an image folder, image files, a quoted glob pattern, a .zarr array or FILE.h5:DATASET",
    "video": "a folder of videos, video files, a quoted glob pattern, or a uint8 (N, T, 3, H, W) .zarr array or FILE.h5:DATASET",
    "sentences": "one .txt file, one sentence per line",
    "timed_words": "one or more .tsv files (or folders of them) with columns word and onset (seconds), one story each",
}

_HDF5 = re.compile(r"^(?P<file>.+\.(?:h5|hdf5|hdf|he5)):(?P<dataset>[^:]+)$", re.IGNORECASE)
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


def _zarr_node_type(path: Path) -> str | None:
    """``"array"``, ``"group"`` or None when ``path`` is no Zarr node (v3 ``zarr.json``, v2 ``.zarray``)."""
    if (path / ".zarray").is_file():
        return "array"
    if (path / ".zgroup").is_file():
        return "group"
    meta = path / "zarr.json"
    if not meta.is_file():
        return None
    try:
        node = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StimulusError(f"{path}/zarr.json cannot be read as Zarr metadata") from None
    kind = node.get("node_type") if isinstance(node, dict) else None
    return kind if kind in ("array", "group") else None


def _open_zarr(path: Path) -> Any:
    import zarr

    kind = _zarr_node_type(path)
    if kind == "group":
        import zarr.errors

        try:
            names = sorted(zarr.open_group(str(path), mode="r").array_keys())
        except (OSError, ValueError, zarr.errors.BaseZarrError):
            names = []
        hint = f"; it holds the arrays {names[:10]}: give one as {path}/NAME" if names else ""
        raise StimulusError(f"{path} is a Zarr group, not an array of images (N, 3, H, W) or clips (N, T, 3, H, W){hint}")
    try:
        return zarr.open_array(str(path), mode="r")
    except Exception as exc:  # zarr raises many kinds for damaged metadata; all mean the same to the user
        raise StimulusError(f"{path} cannot be opened as a Zarr array: {type(exc).__name__}: {exc}") from None


def _open_hdf5(file: str, dataset: str) -> Any:
    try:
        import h5py
    except ImportError:
        raise StimulusError(f"reading {file}:{dataset} needs h5py (pip install h5py)") from None
    if not Path(file).is_file():
        raise StimulusError(f"HDF5 file {file!r} does not exist")
    try:
        handle = h5py.File(file, "r")
    except OSError as exc:
        raise StimulusError(f"{file} cannot be opened as HDF5: {exc}") from None
    node = handle.get(dataset)
    if node is None or not isinstance(node, h5py.Dataset):
        names: list[str] = []
        handle.visit(lambda n: names.append(n) if isinstance(handle[n], h5py.Dataset) else None)
        raise StimulusError(f"{file} has no dataset {dataset!r}; its datasets: {names[:20]}")
    return node


def _one(text: str) -> Any:
    m = _HDF5.match(text)
    if m and not Path(text).exists():
        return _open_hdf5(m["file"], m["dataset"])
    path = Path(text).expanduser()
    if path.suffix.lower() in _HDF5_SUFFIXES and path.is_file():
        raise StimulusError(f"{text} is an HDF5 file: name the dataset of images as {text}:DATASET")
    if path.is_dir() and _zarr_node_type(path) is not None:
        return _open_zarr(path)
    if path.suffix.lower() == ".zarr" and not path.exists():
        raise StimulusError(f"Zarr array {text!r} does not exist")
    return text


def open_stimulus_args(items: list[str]) -> Any:
    """What ``berg encode`` passes to ``encode`` for its positional stimuli.

    Raises
    ------
    StimulusError
        An array form that cannot be opened, or an array mixed with other stimuli.
    """
    opened = [_one(t) for t in items]
    arrays = [t for t, o in zip(items, opened, strict=True) if not isinstance(o, str)]
    if arrays and len(items) > 1:
        raise StimulusError(f"give a stimulus array alone, not with other stimuli: {arrays[0]!r} and {len(items) - 1} more")
    return opened[0] if len(opened) == 1 else opened


def read_stimulus_args(kind: str, items: list[str], recursive: bool = False, onsets: str = "required") -> Any:
    """The validated stimuli of ``kind`` that ``berg encode``'s positional arguments name.

    ``onsets="optional"`` (every model's card says ``word_onsets: optional``): word files may lack the onset column.

    Raises
    ------
    StimulusError
        Arguments that are not what the kind reads from the command line (see :data:`STIMULUS_HELP`).
    """
    from berg_core.stimuli.kinds import as_kind_stimuli

    if kind in ("images", "video"):
        return as_kind_stimuli(kind, open_stimulus_args(items), recursive=recursive)
    if recursive:
        raise StimulusError(f"--recursive reads subfolders of image or video folders; {kind} models read {STIMULUS_HELP[kind]}")
    if kind == "sentences":
        if len(items) != 1 or Path(items[0]).suffix.lower() != ".txt":
            given = ", ".join(repr(t) for t in items[:3]) + (" ..." if len(items) > 3 else "")
            raise StimulusError(f"a sentences model reads {STIMULUS_HELP[kind]}; got {given}")
        return as_kind_stimuli(kind, Path(items[0]))  # a path, whatever its name: never read as a sentence
    return as_kind_stimuli(kind, [Path(t) for t in items], onsets=onsets)
