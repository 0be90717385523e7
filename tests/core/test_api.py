"""The BERG facade: BERG 2.0's calls, labelled results, life cycle and errors (toy plugin)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from berg_core import BERG, InvalidParameterError, ModelNotFoundError, StimulusError, __version__

MODEL = "toy-retina-luminance"


def _images(n, h=10, w=14, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3, h, w), dtype=np.uint8)


def _reference(berg, images, subject=1, units=(0, 1, 2, 3)):
    """The toy model's math, independently: centre crop, 4x4 resize, dot with the stored weights."""
    import json

    import torch
    from torchvision.transforms import functional as F

    card = berg.get_card(MODEL)
    w = np.asarray(json.loads(berg.store.fs.cat(berg.store.path(f"{card.store_path}/weights_subject-{subject:02d}.json")))["w"], dtype=np.float32)
    x = torch.from_numpy(images)
    side = min(x.shape[-2:])
    x = F.resize(F.center_crop(x, [side, side]), [4, 4], antialias=True).float() / 255
    return x.reshape(len(images), -1).numpy() @ w[list(units)].T


def test_encode_returns_a_labelled_dataarray_equal_to_the_model_math(toy_store):
    berg = toy_store
    model = berg.get_encoding_model(MODEL, subject=1, device="cpu")
    images = _images(7)
    out = berg.encode(model, images, show_progress=False)
    assert isinstance(out, xr.DataArray)
    assert out.dims[0] == "stimulus" and list(out.stimulus.values) == list(range(7))
    np.testing.assert_allclose(out.values, _reference(berg, images), rtol=1e-5, atol=1e-5)
    assert out.attrs["berg_version"] == __version__ and out.attrs["units"] == "a.u."
    assert out.attrs["preprocessing"] == "train"


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 100])
def test_results_do_not_depend_on_batch_size(toy_store, batch_size):
    model = toy_store.get_encoding_model(MODEL, subject=1, device="cpu")
    images = _images(7)
    ref = toy_store.encode(model, images, show_progress=False, batch_size=7)
    out = toy_store.encode(model, images, show_progress=False, batch_size=batch_size)
    # BLAS blocks differently per batch shape: equal to float32 rounding, not bit for bit
    np.testing.assert_allclose(out.values, ref.values, rtol=1e-5, atol=1e-6)
    assert out.shape == ref.shape and list(out.stimulus.values) == list(ref.stimulus.values)


def test_one_image_and_one_unit_keep_every_dimension(toy_store):
    model = toy_store.get_encoding_model(MODEL, subject=1, selection={"units": [2]}, device="cpu")
    out = toy_store.encode(model, _images(1), show_progress=False)
    assert out.shape == (1, 1)


def test_return_metadata_and_instance_metadata(toy_store):
    model = toy_store.get_encoding_model(MODEL, subject=2, device="cpu")
    out, meta = toy_store.encode(model, _images(2), return_metadata=True, show_progress=False)
    assert meta == model.get_metadata() == {"toy": {"subject": 2, "units": [0, 1, 2, 3]}}
    assert out.shape == (2, 4)


def test_context_manager_and_cleanup_free_the_weights(toy_store):
    with toy_store.get_encoding_model(MODEL, subject=1, device="cpu") as model:
        toy_store.encode(model, _images(1), show_progress=False)
    assert model.closed and not hasattr(model, "weight")
    with pytest.raises(InvalidParameterError, match="was cleaned up"):
        toy_store.encode(model, _images(1), show_progress=False)
    model.cleanup()  # idempotent


def test_progress_bar_reports_images(toy_store, capsys):
    model = toy_store.get_encoding_model(MODEL, subject=1, device="cpu")
    toy_store.encode(model, _images(3), batch_size=1, show_progress=True)
    assert "img" in capsys.readouterr().err


def test_user_errors_are_berg_errors_with_valid_values(toy_store):
    berg = toy_store
    with pytest.raises(ModelNotFoundError, match=r"unknown model 'toy-retina-luminanse'.*Did you mean 'toy-retina-luminance'"):
        berg.get_encoding_model("toy-retina-luminanse", subject=1)
    with pytest.raises(InvalidParameterError, match=r"subject 3 is not available.*valid subjects: \[1, 2\]"):
        berg.get_encoding_model(MODEL, subject=3)
    with pytest.raises(InvalidParameterError, match=r"needs subject=\.\.\., one of \[1, 2\]"):
        berg.get_encoding_model(MODEL)
    with pytest.raises(InvalidParameterError, match=r"subject must be an integer.*got float"):
        berg.get_encoding_model(MODEL, subject=1.5)
    with pytest.raises(InvalidParameterError, match=r"subject must be an integer.*got bool"):
        berg.get_encoding_model(MODEL, subject=True)
    with pytest.raises(InvalidParameterError, match=r"selection must be a dict"):
        berg.get_encoding_model(MODEL, subject=1, selection=["V1"])
    with pytest.raises(InvalidParameterError, match=r"device='tpu' is not"):
        berg.get_encoding_model(MODEL, subject=1, device="tpu")
    with pytest.raises(InvalidParameterError, match=r"device must be a string"):
        berg.get_encoding_model(MODEL, subject=1, device=3)
    with pytest.raises(InvalidParameterError, match=r"selection\['units'\] holds unit index 9, outside 0-3"):
        berg.get_encoding_model(MODEL, subject=1, selection={"units": [9]})
    with pytest.raises(InvalidParameterError, match=r"preprocessing='fast' is not available.*\['train'\]"):
        berg.get_encoding_model(MODEL, subject=1, preprocessing="fast")
    model = berg.get_encoding_model(MODEL, subject=1, device="cpu")
    for bad in (0, -1, 1.5, "8", True):
        with pytest.raises(InvalidParameterError, match="batch_size must be a positive integer"):
            berg.encode(model, _images(1), batch_size=bad)
    with pytest.raises(InvalidParameterError, match=r"unknown encode option\(s\) \['temperature'\]"):
        berg.encode(model, _images(1), temperature=3)
    with pytest.raises(InvalidParameterError, match="model must be an encoding model"):
        berg.encode("toy-retina-luminance", _images(1))
    with pytest.raises(StimulusError):
        berg.encode(model, np.zeros((2, 2, 3, 4), np.uint8))  # two channels: neither grey nor RGB


def test_cuda_request_without_cuda_is_a_clear_error(toy_store):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InvalidParameterError, match="CUDA is not available"):
        toy_store.get_encoding_model(MODEL, subject=1, device="cuda")


def test_auto_device_is_cpu_without_cuda(toy_store):
    import torch

    model = toy_store.get_encoding_model(MODEL, subject=1)
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_catalog_matches_berg_2_format(capsys):
    berg = BERG("/tmp")
    cat = berg.get_model_catalog(print_format=True)
    # BERG 2.0's shape: modality -> sorted training datasets, one entry per dataset however many models it has
    expected: dict[str, set[str]] = {}
    for model_id in berg.list_models():
        card = berg.get_card(model_id)
        expected.setdefault(card.modality, set()).add(card.training_dataset)
    assert cat == {m: sorted(ds) for m, ds in sorted(expected.items())}
    assert list(cat) == sorted(cat) and cat["eeg"][0] == "things_eeg_2" and "nsd" in cat["fmri"]
    out = capsys.readouterr().out
    assert all(f"• {m.upper()}" in out for m in cat) and all(f"└─ {d}" in out for ds in cat.values() for d in ds)


def test_missing_weights_file_is_a_store_error_naming_the_url(tmp_path, toy_plugin_dir, fresh_pm):
    from berg_core import StoreError

    berg = BERG(tmp_path / "empty-store", plugin_manager=fresh_pm())
    with pytest.raises(StoreError, match=r"missing file in store: .*empty-store/encoding_models/.*weights_subject-01.json"):
        berg.get_encoding_model(MODEL, subject=1, device="cpu")


def test_many_models_in_one_pass_share_the_backbone_and_match_single_runs(toy_store):
    import berg_toy.plugin as toy

    berg = toy_store
    m1 = berg.get_encoding_model(MODEL, subject=1, device="cpu")
    m2 = berg.get_encoding_model(MODEL, subject=2, selection={"units": [3]}, device="cpu")
    images = _images(5)
    toy.Flatten.calls = 0
    out = berg.encode([m1, m2], images, batch_size=2, show_progress=False)
    assert toy.Flatten.calls == 3  # one backbone pass per batch, not per model
    assert list(out) == [f"{MODEL}/subject-01", f"{MODEL}/subject-02"]
    np.testing.assert_allclose(out[f"{MODEL}/subject-01"].values, berg.encode(m1, images, show_progress=False).values, rtol=1e-6)
    np.testing.assert_allclose(out[f"{MODEL}/subject-02"].values, _reference(berg, images, subject=2, units=[3]), rtol=1e-5, atol=1e-5)
    _, meta = berg.encode([m1, m1], images, return_metadata=True, show_progress=False)
    assert list(meta) == [f"{MODEL}/subject-01#1", f"{MODEL}/subject-01#2"]
    with pytest.raises(InvalidParameterError, match="empty list of models"):
        berg.encode([], images)
    with pytest.raises(InvalidParameterError, match=r"or a list of them\), got str"):
        berg.encode([m1, "m2"], images)


def test_decoding_errors_in_the_background_loader_reach_the_caller(toy_store, tmp_path):
    (tmp_path / "a.png").write_bytes(b"not a png")
    model = toy_store.get_encoding_model(MODEL, subject=1, device="cpu")
    with pytest.raises(StimulusError, match=r"a.png.*not a readable image"):
        toy_store.encode(model, tmp_path, show_progress=False)


def test_bf16_autocast_runs_the_backbone_in_bf16_and_stays_close(toy_store):
    model = toy_store.get_encoding_model(MODEL, subject=1, device="cpu")
    images = _images(3)
    exact = toy_store.encode(model, images, show_progress=False)
    low = toy_store.encode(model, images, show_progress=False, precision="bf16")
    assert low.dtype == exact.dtype == np.float32
    np.testing.assert_allclose(low.values, exact.values, rtol=0.05, atol=0.05)
    with pytest.raises(InvalidParameterError, match=r"precision must be one of \['fp32', 'bf16', 'fp16'\], got 'int8'"):
        toy_store.encode(model, images, precision="int8")
    with pytest.raises(InvalidParameterError, match="fp16.*needs models on a CUDA device"):
        toy_store.encode(model, images, precision="fp16")


def test_cuda_encode_matches_cpu(toy_store):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    images = _images(4)
    cpu = toy_store.encode(toy_store.get_encoding_model(MODEL, subject=1, device="cpu"), images, show_progress=False)
    gpu = toy_store.encode(toy_store.get_encoding_model(MODEL, subject=1, device="cuda"), images, show_progress=False)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-4, atol=1e-4)
