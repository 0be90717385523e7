"""Procedural test images for ``berg demo``: gratings, shapes, a cartoon face and noise.

Drawn in NumPy at run time, so the demo ships no image files (and no licence
questions) and works offline. The same ``size`` and ``seed`` always give the
same pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEMO_IMAGE_IDS", "demo_images"]

#: Stimulus ids of the demo images, in order.
DEMO_IMAGE_IDS = (
    "grating-vertical",
    "grating-oblique-colour",
    "checkerboard",
    "rings",
    "shapes",
    "face",
    "pink-noise",
    "plaid",
)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1], ``y`` pointing down as in image rows."""
    c = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    return np.meshgrid(c, c, indexing="xy")


def _grey(values: np.ndarray) -> np.ndarray:
    """A (H, W) array in [0, 1] as an RGB (3, H, W) float image."""
    return np.repeat(values[None], 3, axis=0)


def _grating(x: np.ndarray, y: np.ndarray, angle_deg: float, cycles: float) -> np.ndarray:
    theta = np.deg2rad(angle_deg)
    return 0.5 + 0.5 * np.sin(np.pi * cycles * (x * np.cos(theta) + y * np.sin(theta)))


def _shapes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    img = np.full((3, *x.shape), 0.55)
    circle = (x + 0.45) ** 2 + (y + 0.4) ** 2 < 0.3**2
    square = (np.abs(x - 0.45) < 0.27) & (np.abs(y + 0.4) < 0.27)
    # an upward triangle: below its apex, inside both slanted edges
    triangle = (y < 0.75) & (y > 0.05) & (np.abs(x) < (y - 0.05) * 0.6)
    for mask, rgb in ((circle, (0.85, 0.15, 0.1)), (square, (0.1, 0.3, 0.85)), (triangle, (0.95, 0.8, 0.1))):
        img[:, mask] = np.asarray(rgb)[:, None]
    return img


def _face(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    img = np.full((3, *x.shape), 0.2)
    head = (x / 0.62) ** 2 + (y / 0.8) ** 2 < 1.0
    img[:, head] = np.array([0.93, 0.76, 0.62])[:, None]
    for ex in (-0.25, 0.25):
        eye = (x - ex) ** 2 + ((y + 0.2) / 0.7) ** 2 < 0.09**2
        img[:, eye] = 0.05
    # rows grow downwards, so corners with smaller y turn the mouth up
    mouth = (np.abs(x) < 0.3) & (np.abs(y - 0.42 + 1.2 * x**2) < 0.04)
    img[:, mouth] = np.array([0.6, 0.1, 0.12])[:, None]
    return img


def _pink_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """Colour noise with a 1/f amplitude spectrum, as natural images roughly have."""
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
    f[0, 0] = 1.0
    channels = []
    for _ in range(3):
        phase = np.exp(2j * np.pi * rng.random((size, size)))
        img = np.real(np.fft.ifft2(phase / f))
        channels.append((img - img.min()) / (np.ptp(img) or 1.0))
    return np.stack(channels)


def demo_images(size: int = 256, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The demo's stimuli.

    Parameters
    ----------
    size
        Height and width in pixels (at least 32).
    seed
        Seed of the noise image.

    Returns
    -------
    ids : list of str
        :data:`DEMO_IMAGE_IDS`.
    images : numpy.ndarray
        ``(8, 3, size, size)`` uint8.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
        from berg_core.errors import InvalidParameterError

        raise InvalidParameterError(f"size must be an integer of at least 32 pixels, got {size!r}")
    x, y = _grid(int(size))
    rng = np.random.default_rng(seed)
    oblique = _grating(x, y, 45.0, 10.0)
    images = [
        _grey(_grating(x, y, 0.0, 8.0)),
        np.stack([oblique, 1.0 - oblique, np.full_like(x, 0.3)]),
        _grey(((np.floor((x + 1) * 4) + np.floor((y + 1) * 4)) % 2).astype(float)),
        _grey(0.5 + 0.5 * np.cos(np.pi * 10.0 * np.hypot(x, y))),
        _shapes(x, y),
        _face(x, y),
        _pink_noise(int(size), rng),
        np.stack([_grating(x, y, 20.0, 6.0), 0.5 * (_grating(x, y, 110.0, 6.0) + 0.4), _grating(x, y, 110.0, 6.0)]),
    ]
    stacked = np.clip(np.stack(images), 0.0, 1.0)
    return list(DEMO_IMAGE_IDS), np.round(stacked * 255.0).astype(np.uint8)
