"""The ``.berg`` accessor hands results to their plugin's exporters and plotters."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from berg_core import InvalidParameterError, PluginError

MODEL = "toy-retina-luminance"


@pytest.fixture
def result(toy_store):
    model = toy_store.get_encoding_model(MODEL, subject=1, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, size=(3, 3, 8, 8), dtype=np.uint8)
    return toy_store.encode(model, images, show_progress=False)


def test_export_goes_to_the_plugin_of_the_model(result, toy_store, tmp_path):
    path = result.berg.export("csv", tmp_path / "r.csv", plugin_manager=toy_store)
    import berg_toy.plugin as toy

    assert "berg_export_result" in toy.CALLS
    np.testing.assert_allclose(np.loadtxt(path, delimiter=","), result.values, rtol=1e-6)
    with pytest.raises(InvalidParameterError, match=r"toy results export to \['csv'\], not 'nifti'"):
        result.berg.to_nifti(tmp_path / "r.nii", plugin_manager=toy_store.plugin_manager)


def test_plot_writes_a_non_trivial_image(result, toy_store, tmp_path):
    fig = result.berg.plot(tmp_path / "r.png", plugin_manager=toy_store)
    import berg_toy.plugin as toy

    assert "berg_plot_result" in toy.CALLS and fig.axes
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "r.png").convert("L"))
    assert img.std() > 5  # not a blank canvas


def test_results_of_unknown_models_and_plain_arrays_are_refused(monkeypatch):
    plain = xr.DataArray(np.zeros((2, 2)), dims=("stimulus", "unit"))
    with pytest.raises(InvalidParameterError, match="no 'model_id' attribute"):
        plain.berg.to_mne()
    other = plain.assign_attrs(model_id="someone-elses-model")
    with pytest.raises(InvalidParameterError, match="no installed plugin can export someone-elses-model"):
        other.berg.export("parquet", "x")
    with pytest.raises(PluginError, match="no installed plugin can plot someone-elses-model"):
        other.berg.plot()


def test_reliable_keeps_units_at_or_above_the_threshold():
    da = xr.DataArray(
        np.arange(8.0).reshape(2, 4), dims=("stimulus", "vertex"),
        coords={"ncsnr": ("vertex", [0.1, 0.5, 0.3, 0.9])}, attrs={"model_id": "x"},
    )
    kept = da.berg.reliable(0.3)
    assert kept.shape == (2, 3) and list(kept.ncsnr.values) == [0.5, 0.3, 0.9]
    assert da.berg.reliable(5).shape == (2, 0)
    with pytest.raises(InvalidParameterError, match="threshold must be a number"):
        da.berg.reliable("high")
    with pytest.raises(InvalidParameterError, match=r"no reliability coordinate.*\['ncsnr'"):
        da.drop_vars("ncsnr").berg.reliable(0.1)

