"""A picture of fmri-bmd-s3d results: axial slices of the MNI volume (``berg_plot_result``).

The mean response over stimuli (or one stimulus) is put back into the volume
with the result's voxel indices, reoriented to RAS+ with its affine (left on
the left, anterior up); voxels hidden by the ``reliability`` threshold (on the
test noise ceiling) are grey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from berg_core.plugin import (
    InvalidParameterError,
    check_int,
    check_plot_options,
    check_result,
    finish_plot,
    new_figure,
    pick_stimuli,
    reliable_units,
    symmetric_limit,
)

from .layout import MODEL_ID

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOT_OPTIONS", "plot_result", "volume_slices"]

PLOT_OPTIONS = {"n_slices": "number of axial slices in the mosaic, 1 to 48 (default 12)"}
CMAP = "RdBu_r"


def volume_slices(result: Any, stimulus: Any = None, reliability: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``(values, voxels, affine, what)``: RAS+ volumes of the values drawn and of every result voxel."""
    import nibabel as nib

    from .volume_export import affine_of, result_mask, to_volume

    da = check_result(result, ("stimulus", "voxel"), MODEL_ID, ("i", "j", "k"), ("affine", "volume_shape"))
    affine = affine_of(da)
    voxels = result_mask(da)
    da, what = pick_stimuli(reliable_units(da, reliability), stimulus)
    values = to_volume(da).mean(axis=3)
    img = nib.as_closest_canonical(nib.Nifti1Image(values, affine))
    vox_img = nib.as_closest_canonical(nib.Nifti1Image(voxels.astype(np.uint8), affine))
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(vox_img.dataobj) > 0, img.affine, what


def plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Figure | None:
    """A mosaic of axial slices; ``None`` for other models' results.

    Options: ``stimulus``, ``reliability``, ``n_slices``, ``title``, ``dpi``.
    """
    if getattr(result, "attrs", {}).get("model_id") != MODEL_ID:
        return None
    from matplotlib.colors import ListedColormap

    opts = check_plot_options(options, PLOT_OPTIONS, MODEL_ID)
    n_slices = 12 if opts.get("n_slices") is None else check_int(opts["n_slices"], "n_slices", low=1, high=48)
    values, voxels, affine, what = volume_slices(result, opts.get("stimulus"), opts.get("reliability"))
    if not voxels.any():
        raise InvalidParameterError("this result holds no voxel; there is nothing to draw")
    occupied = np.flatnonzero(voxels.any(axis=(0, 1)))
    picks = occupied[np.unique(np.linspace(0, occupied.size - 1, min(n_slices, occupied.size)).round().astype(int))]
    limit = symmetric_limit(values, 99.0)
    cols = min(6, picks.size)
    rows = int(np.ceil(picks.size / cols))
    fig = new_figure(2.2 * cols + 1.2, 2.5 * rows + 1.0)
    fig.set_layout_engine("constrained")
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1] * cols + [0.08])
    image = None
    for n, k in enumerate(picks):
        ax = fig.add_subplot(grid[n // cols, n % cols])
        ax.imshow(voxels[:, :, k].T, origin="lower", cmap=ListedColormap(["white", "0.8"]), vmin=0, vmax=1,
                  interpolation="nearest")
        image = ax.imshow(values[:, :, k].T, origin="lower", cmap=CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
        z = float((affine @ np.array([0.0, 0.0, float(k), 1.0]))[2])
        ax.set_title(f"z = {z:.1f} mm", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if n == 0:
            ax.set_xlabel("L ← → R", fontsize=8)
            ax.set_ylabel("P ← → A", fontsize=8)
    assert image is not None
    fig.colorbar(image, cax=fig.add_subplot(grid[:, cols]), label=str(result.attrs.get("units", "")))
    extra = "" if opts.get("reliability") is None else f", noise ceiling ≥ {opts['reliability']} (grey: below)"
    return finish_plot(fig, result, f"MNI volume · {what}{extra}", path, opts)
