"""Stimuli named on the command line: image files, folders, globs, Zarr arrays and HDF5 datasets.

The Python API takes opened arrays (``zarr.open_array(...)``); on the command line the user can
only give text, so the array forms are recognised here: a folder that is a Zarr array (its
``zarr.json`` / ``.zarray`` says so) and ``FILE.h5:DATASET``. Everything else goes to
:func:`berg_core.stimuli.inputs.as_stimuli` unchanged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from berg_core.errors import StimulusError

__all__ = ["open_stimulus_args"]

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
        raise StimulusError(f"{path} is a Zarr group, not an array of images (N, 3, H, W){hint}")
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
