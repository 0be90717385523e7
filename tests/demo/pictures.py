"""Checks that a picture file is a real drawing: not blank, in colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def image_stats(path: Path) -> tuple[float, int]:
    """Pixel standard deviation (grey levels) and number of distinct colours of a picture."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    colours = np.unique(rgb.reshape(-1, 3), axis=0).shape[0]
    return float(rgb.mean(axis=2).std()), int(colours)


def assert_picture(path: Path, min_colours: int = 50) -> None:
    """The file is a real picture: not blank, and in colour (a colour map was drawn)."""
    assert path.is_file() and path.stat().st_size > 5_000, path
    std, colours = image_stats(path)
    assert std > 10.0, f"{path.name}: nearly uniform image (grey std {std:.1f})"
    assert colours >= min_colours, f"{path.name}: only {colours} colours"
