"""NIfTI and volume exports (and what they need), and the slice / ROI pictures."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError

from .reference import MODEL_ID, load_pickled, metadata_path


@pytest.fixture(scope="module")
def v1(load, features):
    with load(selection={"roi": ["V1", "lFFA"]}) as model:
        return model.encode_features(features, ["a", "b", "c"])


def test_nifti_without_an_affine_says_what_is_missing(v1, tmp_path, plugin_manager):
    with pytest.raises(InvalidParameterError, match=r"affine.*fmri/affine.*affine=<4 x 4 array>"):
        v1.berg.to_nifti(tmp_path / "x.nii.gz", plugin_manager=plugin_manager)
    assert not (tmp_path / "x.nii.gz").exists()


def test_nifti_with_a_given_affine(v1, tmp_path, plugin_manager, store_root):
    import nibabel as nib

    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-70.0, -80.0, -60.0]
    out = v1.berg.to_nifti(tmp_path / "v1.nii.gz", plugin_manager=plugin_manager, affine=affine, volume_shape=(72, 88, 76))
    img = nib.load(out)
    assert img.shape == (72, 88, 76, 3)
    np.testing.assert_allclose(img.affine, affine)
    data = np.asarray(img.dataobj)
    coords = load_pickled(metadata_path(store_root, 1))["fmri"]["voxel_coords"][v1["voxel"].values]
    np.testing.assert_array_equal(data[coords[:, 0], coords[:, 1], coords[:, 2], :], v1.values.T)
    assert np.isnan(data).sum() == data.size - v1.size


def test_volume_export_and_its_shape(v1, plugin_manager):
    vol = v1.berg.export("volume", plugin_manager=plugin_manager)
    x, y, z = (v1[a].values for a in ("voxel_x", "voxel_y", "voxel_z"))
    assert vol.shape == (x.max() + 1, y.max() + 1, z.max() + 1, 3)
    np.testing.assert_array_equal(vol[x, y, z, 1], v1.values[1])
    with pytest.raises(InvalidParameterError, match="outside a volume"):
        v1.berg.export("volume", plugin_manager=plugin_manager, volume_shape=(2, 2, 2))


def test_geometry_from_the_metadata_when_it_has_one(tmp_path, plugin_manager, hub_weights, features):
    import nibabel as nib

    from berg_core import BERG

    from .conftest import write_store

    write_store(plugin_manager, tmp_path / "store", [1], n_components=2, geometry=True)
    berg = BERG(berg_dir=str(tmp_path / "store"), plugin_manager=plugin_manager)
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", selection={"roi": "V3"},
                                 backbone_weights=str(hub_weights)) as model:
        r = model.encode_features(features[:1], [0])
    assert r.attrs["volume_shape"] == [72, 88, 76] and len(r.attrs["affine"]) == 16
    img = nib.load(r.berg.to_nifti(tmp_path / "out" / "v3.nii", plugin_manager=plugin_manager))
    assert img.shape == (72, 88, 76, 1)
    np.testing.assert_allclose(img.affine, np.asarray(r.attrs["affine"]).reshape(4, 4))


@pytest.mark.parametrize(
    ("fmt", "path", "options", "words"),
    [
        ("gifti", "x", {}, r"formats: \['nifti', 'volume'\]"),
        ("nifti", None, {}, "give a path"),
        ("nifti", "x.png", {"affine": np.eye(4)}, r"\.nii or \.nii\.gz"),
        ("nifti", "x.nii", {"affine": np.eye(3)}, "4 x 4"),
        ("nifti", "x.nii", {"colour": 1}, "colour"),
        ("volume", "x.nii", {}, "writes no file"),
    ],
)
def test_bad_exports(v1, tmp_path, plugin_manager, fmt, path, options, words):
    with pytest.raises(InvalidParameterError, match=words):
        v1.berg.export(fmt, None if path is None else tmp_path / path, plugin_manager=plugin_manager, **options)


def test_plot_slices_and_roi_bars(v1, tmp_path, plugin_manager):
    from berg_fmri_things.plots import roi_means

    fig = v1.berg.plot(tmp_path / "p.png", plugin_manager=plugin_manager, stimulus="b", rois=["lFFA", "IT", "V1"])
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert len(fig.axes) >= 3
    means = roi_means(v1.sel(stimulus=["b"]), ["lFFA", "IT", "V1"])
    assert list(means) == ["lFFA", "IT", "V1"]  # the order asked for
    lffa = np.array(["lFFA" in str(m).split(",") for m in v1["rois"].values])
    assert means["lFFA"] == pytest.approx(float(v1.sel(stimulus="b").values[lffa].astype(np.float64).mean()), rel=1e-6)


def test_plot_options_are_checked(v1, tmp_path, plugin_manager):
    with pytest.raises(InvalidParameterError, match="slices"):
        v1.berg.plot(None, plugin_manager=plugin_manager, slices=[10_000])
    with pytest.raises(InvalidParameterError, match=r"lSTS.*\[.V1., .lFFA., .IT.\]"):
        v1.berg.plot(None, plugin_manager=plugin_manager, rois=["lSTS"])
    with pytest.raises(InvalidParameterError, match="colour"):
        v1.berg.plot(None, plugin_manager=plugin_manager, colour="red")
    fig = v1.berg.plot(None, plugin_manager=plugin_manager, reliability=10.0, slices=int(v1["voxel_z"].values[0]))
    assert fig is not None


def _store_with_metadata(tmp_path, plugin_manager, edit):
    from berg_core import BERG
    from berg_core.plugin import save_npy_dict

    from .conftest import write_store
    from .reference import MODEL_DIR

    write_store(plugin_manager, tmp_path, [1], n_components=2)
    meta = load_pickled(metadata_path(tmp_path, 1))
    edit(meta)
    save_npy_dict(tmp_path, f"{MODEL_DIR}/metadata/metadata_sub-01.npy", meta)
    return BERG(berg_dir=str(tmp_path), plugin_manager=plugin_manager)


def test_metadata_without_optional_entries(tmp_path, plugin_manager, hub_weights, features):
    def strip(meta):
        del meta["fmri"]["voxel_coords"]
        del meta["encoding_model"]["noise_ceiling_testset"]

    berg = _store_with_metadata(tmp_path, plugin_manager, strip)
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", selection={"roi": ["IT"]},
                                 backbone_weights=str(hub_weights)) as model:
        r = model.encode_features(features, [0, 1, 2])
    assert "voxel_x" not in r.coords and "noise_ceiling_testset" not in r.coords and "noise_ceiling" in r.coords
    with pytest.raises(InvalidParameterError, match=r"no voxel positions.*fmri/voxel_coords"):
        r.berg.to_nifti(tmp_path / "x.nii", plugin_manager=plugin_manager, affine=np.eye(4))
    fig = r.berg.plot(None, plugin_manager=plugin_manager)  # ROI bars only
    assert len(fig.axes) == 1
    with pytest.raises(InvalidParameterError, match="no voxel positions"):
        r.berg.plot(None, plugin_manager=plugin_manager, slices=[3])


def test_metadata_of_the_wrong_shape_is_an_integrity_error(tmp_path, plugin_manager, hub_weights):
    from berg_core.errors import IntegrityError

    def break_it(meta):
        meta["encoding_model"]["correlation_results"] = meta["encoding_model"]["correlation_results"][:10]

    berg = _store_with_metadata(tmp_path, plugin_manager, break_it)
    with pytest.raises(IntegrityError, match=r"correlation_results should hold 211,339 numbers"):
        berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(hub_weights))
