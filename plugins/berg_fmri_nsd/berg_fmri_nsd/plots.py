"""Pictures of NSD results: fsaverage maps on the inflated surface, fwRF slice mosaics.

fsaverage results are drawn on nilearn's packaged fsaverage5 mesh (no
download): fsaverage5's 10,242 vertices per hemisphere are the first 10,242
of fsaverage's, so the map is the result at those vertices. Vertices the
result does not hold (outside the selection, or below the ``reliability``
threshold) are left blank, showing the sulcal depth underneath.

fwRF results are drawn as axial slices of the subject's native volume,
reoriented to RAS+ with the stored affine (left on the left, anterior up);
ROI voxels hidden by the ``reliability`` threshold are grey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from berg_core.plugin import (
    InvalidParameterError,
    check_int,
    check_plot_options,
    check_result,
    finish_plot,
    new_figure,
    pick_stimuli,
    reliable_units,
    select_names,
    symmetric_limit,
)

from .layout import FSAVERAGE_MODEL_ID, FSAVERAGE_MODEL_IDS, FWRF_MODEL_ID, HEMISPHERES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FSAVERAGE5_VERTICES",
    "FSAVERAGE_PLOT_OPTIONS",
    "FWRF_PLOT_OPTIONS",
    "SURFACE_VIEWS",
    "fsaverage5_maps",
    "fwrf_slices",
    "plot_fsaverage",
    "plot_fwrf",
    "plot_result",
]

#: Vertices per hemisphere of fsaverage5 (the first ones of fsaverage's 163,842).
FSAVERAGE5_VERTICES = 10_242
SURFACE_VIEWS = ("lateral", "medial", "ventral")
FSAVERAGE_PLOT_OPTIONS = {"views": f"surface views, a subset of {list(SURFACE_VIEWS)} (default: all three)"}
FWRF_PLOT_OPTIONS = {"n_slices": "number of axial slices in the mosaic, 1 to 48 (default 12)"}
CMAP = "RdBu_r"
_NILEARN_HEMI = {"lh": "left", "rh": "right"}


# ---- fsaverage --------------------------------------------------------------------------------
def fsaverage5_maps(
    result: xr.DataArray, stimulus: Any = None, reliability: Any = None
) -> tuple[dict[str, np.ndarray], str]:
    """The values to draw on fsaverage5, per hemisphere.

    Parameters
    ----------
    result
        A ``(stimulus, vertex)`` result of ``fmri-nsd_fsaverage-vit_b_32``.
    stimulus
        One stimulus id, or ``None`` for the mean over stimuli.
    reliability
        Hide vertices whose ``ncsnr`` is below this, or ``None``.

    Returns
    -------
    (dict, str)
        ``{"lh": (10242,) float32, "rh": ...}`` with NaN at vertices not drawn, and
        a phrase naming the stimuli.
    """
    from .surface_export import full_surface

    da = check_result(result, ("stimulus", "vertex"), FSAVERAGE_MODEL_ID, ("hemisphere", "fsaverage_index"))
    da, what = pick_stimuli(reliable_units(da, reliability), stimulus)
    # full_surface puts NaN at the vertices the result does not hold: they stay blank
    maps = {h: full_surface(da, h)[:, :FSAVERAGE5_VERTICES].mean(axis=0) for h in HEMISPHERES}
    return maps, what


def _views(requested: Any) -> list[str]:
    if requested is None:
        return list(SURFACE_VIEWS)
    return select_names(requested, SURFACE_VIEWS, what="views", owner="fsaverage plots", noun="view", repeats="merge")


def plot_fsaverage(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Figure:
    """Lateral, medial and ventral views of both hemispheres on the inflated fsaverage5 surface.

    Parameters
    ----------
    result
        A ``(stimulus, vertex)`` result of ``fmri-nsd_fsaverage-vit_b_32``.
    path
        Image file to write, or ``None``.
    options
        ``stimulus``, ``reliability``, ``views``, ``title``, ``dpi``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    opts = check_plot_options(options, FSAVERAGE_PLOT_OPTIONS, FSAVERAGE_MODEL_ID)
    views = _views(opts.get("views"))
    maps, what = fsaverage5_maps(result, opts.get("stimulus"), opts.get("reliability"))
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from nilearn import datasets, plotting

    mesh = datasets.fetch_surf_fsaverage("fsaverage5")  # packaged with nilearn: no download
    limit = symmetric_limit(np.concatenate(list(maps.values())), percentile=98.0)
    fig = new_figure(3.6 * len(views) + 1.0, 6.4)
    fig.subplots_adjust(left=0.03, right=0.88, bottom=0.05, top=0.88, wspace=0.0, hspace=0.0)
    for row, hemi in enumerate(HEMISPHERES):
        side = _NILEARN_HEMI[hemi]
        for col, view in enumerate(views):
            ax = fig.add_subplot(2, len(views), row * len(views) + col + 1, projection="3d")
            plotting.plot_surf_stat_map(
                mesh[f"infl_{side}"], maps[hemi], hemi=side, view=view, bg_map=mesh[f"sulc_{side}"], axes=ax,
                figure=fig, colorbar=False, cmap=CMAP, vmax=limit, symmetric_cbar=True, engine="matplotlib",
            )
            ax.set_box_aspect(None, zoom=1.5)  # the default leaves most of each panel empty
            ax.set_title(f"{side} {view}", fontsize=10)
    if not any(np.isfinite(m).any() for m in maps.values()):
        fig.text(0.45, 0.5, "no drawn vertex is on the fsaverage5 mesh", ha="center", fontsize=11)
    bar = fig.add_axes((0.9, 0.2, 0.015, 0.55))
    fig.colorbar(ScalarMappable(Normalize(-limit, limit), CMAP), cax=bar, label=str(result.attrs.get("units", "")))
    extra = "" if opts.get("reliability") is None else f", ncsnr ≥ {opts['reliability']}"
    return finish_plot(fig, result, f"{what}{extra}", path, opts)


# ---- fwRF -------------------------------------------------------------------------------------
def fwrf_slices(
    result: xr.DataArray, stimulus: Any = None, reliability: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The fwRF voxel map as a RAS+ volume, ready for axial slicing.

    Returns
    -------
    values : numpy.ndarray
        ``(I, J, K)`` float32, RAS+ oriented: the mean (or chosen stimulus) response,
        NaN outside the drawn voxels.
    roi : numpy.ndarray
        ``(I, J, K)`` bool, every voxel of the result (also those hidden by ``reliability``).
    affine : numpy.ndarray
        ``(4, 4)`` voxel-to-world affine of the RAS+ volume.
    what : str
        A phrase naming the stimuli.
    """
    import nibabel as nib

    from .volume_export import affine_of, roi_mask, to_volume

    da = check_result(result, ("stimulus", "voxel"), FWRF_MODEL_ID, ("i", "j", "k"), ("affine", "volume_shape"))
    affine = affine_of(da)
    roi = roi_mask(da)
    da, what = pick_stimuli(reliable_units(da, reliability), stimulus)
    values = to_volume(da).mean(axis=3)
    # nibabel reorders (flips/permutes) the axes to RAS+, carrying the affine along
    img = nib.as_closest_canonical(nib.Nifti1Image(values, affine))
    roi_img = nib.as_closest_canonical(nib.Nifti1Image(roi.astype(np.uint8), affine))
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(roi_img.dataobj) > 0, img.affine, what


def plot_fwrf(result: xr.DataArray, path: str | None, options: dict[str, Any]) -> Figure:
    """A mosaic of axial slices through the fwRF voxels, in the subject's native space.

    Parameters
    ----------
    result
        A ``(stimulus, voxel)`` result of ``fmri-nsd-fwrf``.
    path
        Image file to write, or ``None``.
    options
        ``stimulus``, ``reliability``, ``n_slices``, ``title``, ``dpi``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    opts = check_plot_options(options, FWRF_PLOT_OPTIONS, FWRF_MODEL_ID)
    n_slices = 12 if opts.get("n_slices") is None else check_int(opts["n_slices"], "n_slices", low=1, high=48)
    values, roi, affine, what = fwrf_slices(result, opts.get("stimulus"), opts.get("reliability"))
    from matplotlib.colors import ListedColormap

    if not roi.any():
        raise InvalidParameterError("this fwRF result holds no voxel; there is nothing to draw")
    occupied = np.flatnonzero(roi.any(axis=(0, 1)))
    picks = occupied[np.unique(np.linspace(0, occupied.size - 1, min(n_slices, occupied.size)).round().astype(int))]
    # crop every panel to the voxels' in-plane extent, with a margin, so small ROIs stay visible
    i_idx, j_idx = np.flatnonzero(roi.any(axis=(1, 2))), np.flatnonzero(roi.any(axis=(0, 2)))
    i0, i1 = max(i_idx[0] - 2, 0), min(i_idx[-1] + 3, roi.shape[0])
    j0, j1 = max(j_idx[0] - 2, 0), min(j_idx[-1] + 3, roi.shape[1])
    limit = symmetric_limit(values)
    cols = min(6, picks.size)
    rows = int(np.ceil(picks.size / cols))
    fig = new_figure(2.2 * cols + 1.2, 2.3 * rows + 1.0)
    fig.set_layout_engine("constrained")
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1] * cols + [0.08])
    image = None
    for n, k in enumerate(picks):
        ax = fig.add_subplot(grid[n // cols, n % cols])
        # rows of the image are j (posterior to anterior, drawn upwards), columns are i (left to right)
        ax.imshow(roi[i0:i1, j0:j1, k].T, origin="lower", cmap=ListedColormap(["white", "0.8"]), vmin=0, vmax=1,
                  interpolation="nearest")
        image = ax.imshow(values[i0:i1, j0:j1, k].T, origin="lower", cmap=CMAP, vmin=-limit, vmax=limit,
                          interpolation="nearest")
        z = float((affine @ np.array([0.0, 0.0, float(k), 1.0]))[2])
        ax.set_title(f"z = {z:.1f} mm", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if n == 0:
            ax.set_xlabel("L ← → R", fontsize=8)
            ax.set_ylabel("P ← → A", fontsize=8)
    assert image is not None
    fig.colorbar(image, cax=fig.add_subplot(grid[:, cols]), label=str(result.attrs.get("units", "")))
    extra = "" if opts.get("reliability") is None else f", ncsnr ≥ {opts['reliability']} (grey: below)"
    rois = sorted({str(r) for r in np.ravel(result["roi"].values)}) if "roi" in result.coords else []
    return finish_plot(fig, result, f"{'+'.join(rois) or 'fwRF'} · {what}{extra}", path, opts)


# ---- dispatch ---------------------------------------------------------------------------------
def plot_result(result: Any, path: str | None, options: dict[str, Any]) -> Figure | None:
    """The ``berg_plot_result`` answer of this plugin; ``None`` for other models' results."""
    model_id = getattr(result, "attrs", {}).get("model_id")
    if model_id in FSAVERAGE_MODEL_IDS:
        return plot_fsaverage(result, path, options)
    if model_id == FWRF_MODEL_ID:
        return plot_fwrf(result, path, options)
    return None
