"""fMRI pictures: fsaverage surface views and fwRF slice mosaics, reliability masks, option checks.

What a picture shows is checked against an independent construction from the
result's own coordinates (fsaverage5 = the first 10,242 fsaverage vertices;
the fwRF volume from the voxels' i, j, k and the stored affine).
"""

from __future__ import annotations

import numpy as np
import pytest

from berg_core import InvalidParameterError

from .pictures import assert_picture, image_stats

FSAVERAGE = "fmri-nsd_fsaverage-vit_b_32"
FWRF = "fmri-nsd-fwrf"
N5 = 10_242


def _expected_surface(da, hemi, threshold=None):
    """fsaverage5 map of one hemisphere: mean over stimuli, NaN where the result has no (reliable) vertex."""
    values = np.asarray(da.values, dtype=np.float64).mean(axis=0)
    index = np.asarray(da["fsaverage_index"].values)
    keep = (np.asarray(da["hemisphere"].values) == hemi) & (index < N5)
    if threshold is not None:
        keep &= np.asarray(da["ncsnr"].values) >= threshold
    out = np.full(N5, np.nan)
    out[index[keep]] = values[keep]
    return out


def test_fsaverage5_maps_hold_the_result_at_the_first_vertices(results):
    from berg_fmri_nsd.plots import fsaverage5_maps

    da = results[FSAVERAGE]
    maps, what = fsaverage5_maps(da)
    assert what == "mean of 3 stimuli"
    for hemi in ("lh", "rh"):
        np.testing.assert_allclose(maps[hemi], _expected_surface(da, hemi), rtol=1e-5, atol=1e-7, equal_nan=True)
    masked, _ = fsaverage5_maps(da, reliability=0.6)
    for hemi in ("lh", "rh"):
        expected = _expected_surface(da, hemi, threshold=0.6)
        np.testing.assert_allclose(masked[hemi], expected, rtol=1e-5, atol=1e-7, equal_nan=True)
        assert 0 < np.isnan(expected).sum() < N5  # the mask hides some vertices, not all


def test_fsaverage_roi_results_leave_other_vertices_blank(results):
    from berg_fmri_nsd.plots import fsaverage5_maps

    da = results[FSAVERAGE]
    part = da.isel(vertex=np.flatnonzero(np.asarray(da["fsaverage_index"].values) % 3 == 0))
    maps, _ = fsaverage5_maps(part, stimulus=2)
    lh = maps["lh"]
    assert np.isnan(lh[1::3]).all() and np.isfinite(lh[::3]).all()
    one = da.isel(stimulus=[2])
    np.testing.assert_allclose(lh[::3], _expected_surface(one, "lh")[::3], rtol=1e-5, atol=1e-7)


def test_fsaverage_picture_views_and_mask(results, tmp_path):
    da = results[FSAVERAGE]
    fig = da.berg.plot(tmp_path / "all.png")
    assert_picture(tmp_path / "all.png")
    panels = [ax.get_title() for ax in fig.axes if ax.name == "3d"]
    assert panels == ["left lateral", "left medial", "left ventral", "right lateral", "right medial", "right ventral"]
    fig = da.berg.plot(tmp_path / "masked.png", reliability=1.0, views=["lateral"])
    assert [ax.get_title() for ax in fig.axes if ax.name == "3d"] == ["left lateral", "right lateral"]
    assert_picture(tmp_path / "masked.png")
    assert image_stats(tmp_path / "masked.png") != image_stats(tmp_path / "all.png")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"views": ["dorsal"]}, r"unknown view 'dorsal' for fsaverage plots\. Valid views: \['lateral', 'medial', 'ventral'\]"),
        ({"reliability": 50.0}, r"no unit reaches reliability=50.0; this result's ncsnr ranges .* to 1.2"),
        ({"reliability": "high"}, "threshold must be a number"),
        ({"n_slices": 4}, r"unknown plot option\(s\) \['n_slices'\]"),
    ],
)
def test_bad_fsaverage_options_are_refused(results, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        results[FSAVERAGE].berg.plot(**options)


def _expected_volume(da, threshold=None):
    shape = tuple(int(n) for n in da.attrs["volume_shape"])
    keep = np.ones(da.sizes["voxel"], dtype=bool) if threshold is None else np.asarray(da["ncsnr"].values) >= threshold
    vol = np.full(shape, np.nan)
    ijk = tuple(np.asarray(da[a].values)[keep] for a in "ijk")
    vol[ijk] = np.asarray(da.values, dtype=np.float64).mean(axis=0)[keep]
    roi = np.zeros(shape, dtype=bool)
    roi[tuple(np.asarray(da[a].values) for a in "ijk")] = True
    return vol, roi


def test_fwrf_volume_follows_the_stored_affine(results):
    from berg_fmri_nsd.plots import fwrf_slices

    da = results[FWRF]
    affine = np.asarray(da.attrs["affine"], dtype=float).reshape(4, 4)
    assert (np.diag(affine)[:3] > 0).all()  # the synthetic store's space is already RAS+
    values, roi, ras_affine, _ = fwrf_slices(da, reliability=0.5)
    vol, mask = _expected_volume(da, threshold=0.5)
    np.testing.assert_allclose(values, vol, rtol=1e-5, atol=1e-7, equal_nan=True)
    assert (roi == mask).all()
    np.testing.assert_allclose(ras_affine, affine)

    # the same voxels stored with the x axis running right-to-left (LAS): drawn flipped back to RAS+
    flipped_affine = affine.copy()
    flipped_affine[0, 0] = -affine[0, 0]
    flipped_affine[0, 3] = affine[0, 3] + affine[0, 0] * (vol.shape[0] - 1)
    las = da.assign_attrs(affine=[float(v) for v in flipped_affine.ravel()])
    values, roi, ras_affine, _ = fwrf_slices(las)
    full, mask = _expected_volume(da)
    np.testing.assert_allclose(values, full[::-1], rtol=1e-5, atol=1e-7, equal_nan=True)
    assert (roi == mask[::-1]).all()
    corner = np.array([vol.shape[0] - 1, 0, 0, 1.0])
    np.testing.assert_allclose(ras_affine @ [0, 0, 0, 1.0], flipped_affine @ corner)  # same place in the world


def test_fwrf_mosaic(results, tmp_path):
    da = results[FWRF]
    fig = da.berg.plot(tmp_path / "v1.png")
    assert_picture(tmp_path / "v1.png", min_colours=30)
    slices = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("z = ")]
    assert len(slices) == 8  # every occupied axial slice of the 8-slice volume, fewer than the default 12
    affine = np.asarray(da.attrs["affine"], dtype=float).reshape(4, 4)
    assert slices[0] == f"z = {affine[2, 3]:.1f} mm"
    fig = da.berg.plot(tmp_path / "three.png", n_slices=3, stimulus=0, reliability=0.3)
    assert len([ax for ax in fig.axes if ax.get_title().startswith("z = ")]) == 3
    assert "ncsnr ≥ 0.3" in fig.get_suptitle() and "V1" in fig.get_suptitle()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_slices": 0}, "n_slices must be an integer from 1 to 48"),
        ({"n_slices": 2.5}, "n_slices must be an integer from 1 to 48"),
        ({"views": ["lateral"]}, r"unknown plot option\(s\) \['views'\]"),
        ({"title": 3}, "title must be text"),
    ],
)
def test_bad_fwrf_options_are_refused(results, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        results[FWRF].berg.plot(**options)


def test_pictures_only_in_formats_matplotlib_writes(results, tmp_path):
    with pytest.raises(InvalidParameterError, match=r"cannot save a picture as .*\.xyz"):
        results[FWRF].berg.plot(tmp_path / "v1.xyz")
    fig = results[FWRF].berg.plot(tmp_path / "v1.svg", title="my V1")
    assert (tmp_path / "v1.svg").read_text().lstrip().startswith("<?xml") and fig.get_suptitle() == "my V1"


def test_synthetic_results_say_so_in_the_picture(results):
    da = results[FWRF].assign_attrs(synthetic_weights="seeded random weights")
    texts = [t.get_text() for t in da.berg.plot().texts]
    assert any(t.startswith("SYNTHETIC WEIGHTS: seeded random weights") for t in texts)
    # results of a synthetic store carry the note themselves; without it, no banner
    plain = results[FWRF].copy()
    plain.attrs.pop("synthetic_weights", None)
    assert not any("SYNTHETIC" in t.get_text() for t in plain.berg.plot().texts)
