"""ecog-zada2025-gpt2_xl equals an independent float64 reference (tokens of " " + word, 33-token windows
left-padded with 0 and no mask, GPT-2 hidden state 24, word means, scalers, himalaya ridge) on a tiny random
GPT-2 of the real depth and weights in the real formats; ragged rows, selection, labels, MNE, plot, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from berg_ecog_zada.layout import MODEL_ID, metadata_relpath, weights_relpath

from berg_core import BERG
from berg_core.errors import IntegrityError, InvalidParameterError, StimulusError

from .conftest import N_ELECTRODES, write_store
from .zada_reference import reference

# 40+ tokens: the later windows drop the story's first tokens (32 before + the token itself)
LONG = ("So I was walking home after the rain, thinking about every little thing that happened in the "
        "old house by the river when we were young and foolish").split()
SHORT = ["Hello", "world"]


def _weights(store: Path, subject: str = "01") -> dict[str, Any]:
    from berg_core.plugin import Store, read_metadata

    return read_metadata(Store(str(store)), weights_relpath(subject))  # the same safe reader as metadata


def _model(store: Path, folder: Path, subject: Any = "01", **kwargs: Any) -> Any:
    return BERG(store).get_encoding_model(MODEL_ID, subject=subject, device="cpu", backbone_weights=str(folder), **kwargs)


def _stories() -> list[dict[str, Any]]:
    return [{"word": LONG, "onset": 0.4 * np.arange(len(LONG))}, {"word": SHORT, "onset": [3.0, 3.5]}]


@pytest.mark.parametrize("batch_size", [1, 2])
def test_responses_equal_the_float64_reference(store: Path, gpt2_folder: Path, batch_size: int) -> None:
    got = BERG(store).encode(_model(store, gpt2_folder), _stories(), batch_size=batch_size, show_progress=False)
    assert got.dims == ("word", "electrode", "lag") and got.dtype == np.float32
    assert got.shape == (len(LONG) + 2, N_ELECTRODES, 129)
    weights = _weights(store)
    want = np.concatenate([reference(gpt2_folder, LONG, weights), reference(gpt2_folder, SHORT, weights)])
    np.testing.assert_allclose(got.values, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # per-row labels: which story, position, the word and its onset
    assert got["stimulus"].values.tolist() == [0] * len(LONG) + [1, 1]
    assert got["word_index"].values.tolist() == [*range(len(LONG)), 0, 1]
    assert got["text"].values.tolist() == LONG + SHORT
    np.testing.assert_allclose(got["onset"].values[-2:], [3.0, 3.5])
    np.testing.assert_allclose(got["lag"].values, -2 + np.arange(129) / 32)
    assert got["subject"].item() == "01"


def test_a_blank_word_is_tokenised_as_upstream(store: Path, gpt2_folder: Path) -> None:
    # upstream encodes " " + word for every word, so a blank entry is a space token of its own
    words = ["Hello", "", "world"]
    got = BERG(store).encode(_model(store, gpt2_folder), {"word": words, "onset": [0.0, 0.5, 1.0]}, show_progress=False)
    want = reference(gpt2_folder, words, _weights(store))
    np.testing.assert_allclose(got.values, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert got["text"].values.tolist() == words


def test_context_is_the_story_before_the_word_only(store: Path, gpt2_folder: Path) -> None:
    model = _model(store, gpt2_folder)
    both = BERG(store).encode(model, _stories(), show_progress=False)
    alone = BERG(store).encode(model, {"word": SHORT, "onset": [0.0, 1.0]}, show_progress=False)
    np.testing.assert_array_equal(both.values[-2:], alone.values)  # the first story does not leak into the second


def test_a_dataframe_and_a_tsv_give_the_same_rows(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"word": SHORT, "onset": [0.5, 1.0]})
    frame.to_csv(tmp_path / "story.tsv", sep="\t", index=False)
    model = _model(store, gpt2_folder)
    a = BERG(store).encode(model, frame, show_progress=False)
    b = BERG(store).encode(model, tmp_path / "story.tsv", show_progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    assert b["stimulus"].values.tolist() == ["story", "story"]


def test_selection_is_the_slice_of_the_full_output_in_ascending_order(store: Path, gpt2_folder: Path) -> None:
    full = BERG(store).encode(_model(store, gpt2_folder), {"word": SHORT, "onset": [0, 1]}, show_progress=False)
    lags = np.zeros(129, dtype=int)
    lags[[0, 64, 128]] = 1
    el_mask = np.array([0, 1, 0, 0, 1, 0])
    names = [str(full["electrode"].values[i]) for i in (4, 1)]
    for electrodes in (el_mask, names, [4, 1]):
        part = BERG(store).encode(_model(store, gpt2_folder, selection={"electrode_index": electrodes, "lags": lags}),
                                  {"word": SHORT, "onset": [0, 1]}, show_progress=False)
        np.testing.assert_array_equal(part.values, full.values[:, [1, 4]][:, :, [0, 64, 128]])
        np.testing.assert_array_equal(part["x"].values, full["x"].values[[1, 4]])
        np.testing.assert_allclose(part["lag"].values, [-2.0, 0.0, 2.0])


@pytest.mark.parametrize(
    ("selection", "message"),
    [({"electrode_index": [0, 1, 7]}, r"binary mask of 6 electrodes, electrode names or indices below 6"), ({"electrode_index": ["NOPE"]}, r"unknown electrode"),
     ({"electrode_index": np.zeros(6, dtype=int)}, r"selects no electrode"), ({"lags": [1, 0]}, r"lag")],
)
def test_bad_selections_are_refused(store: Path, gpt2_folder: Path, selection: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        _model(store, gpt2_folder, selection=selection)


def test_subjects_are_names_and_1_finds_01(store: Path, gpt2_folder: Path) -> None:
    assert _model(store, gpt2_folder, subject=1).subject == "01"
    assert _model(store, gpt2_folder, subject="03").subject == "03"
    with pytest.raises(InvalidParameterError, match="subject"):
        _model(store, gpt2_folder, subject="10")


@pytest.mark.parametrize("stimulus", ["just text", np.zeros((1, 3, 8, 8), dtype=np.uint8),
                                      {"word": ["a", None], "onset": [0, 1]}, {"word": ["a", "b"], "onset": [1, 0]}])
def test_bad_stimuli_are_stimulus_errors(store: Path, gpt2_folder: Path, stimulus: Any) -> None:
    with pytest.raises(StimulusError):
        BERG(store).encode(_model(store, gpt2_folder), stimulus, show_progress=False)


def test_a_readout_of_another_width_is_an_integrity_error(tmp_path: Path, gpt2_folder: Path) -> None:
    root = write_store(tmp_path, subjects=("01",), n_features=1600)
    with pytest.raises(IntegrityError, match=r"reads 1600 features, but the GPT-2 XL backbone .* gives 16"):
        _model(root, gpt2_folder)


def test_weights_that_disagree_with_the_metadata_are_integrity_errors(tmp_path: Path, gpt2_folder: Path) -> None:
    from berg_core.plugin import save_npy_dict

    root = write_store(tmp_path, subjects=("01",))
    weights = _weights(root)
    weights["shape"]["n_electrodes"] = N_ELECTRODES + 1
    save_npy_dict(root, weights_relpath("01"), weights)
    with pytest.raises(IntegrityError, match=r"shape says 7 electrodes x 129 lags; the metadata says 6 x 129"):
        _model(root, gpt2_folder)
    weights["shape"]["n_electrodes"] = N_ELECTRODES
    weights["ridge_param"]["coef_"] = weights["ridge_param"]["coef_"].T.copy()  # sklearn's layout, not himalaya's
    save_npy_dict(root, weights_relpath("01"), weights)
    with pytest.raises(IntegrityError, match=r"himalaya's layout, features first"):
        _model(root, gpt2_folder)


def test_mne_export_places_electrodes_from_the_metadata(store: Path, gpt2_folder: Path) -> None:
    from berg_core.plugin import Store, read_metadata

    got = BERG(store).encode(_model(store, gpt2_folder), _stories(), show_progress=False)
    epochs = got.berg.to_mne()
    np.testing.assert_allclose(epochs.get_data(), got.values.astype(np.float64))
    assert epochs.ch_names == list(got["electrode"].values) and set(epochs.get_channel_types()) == {"ecog"}
    meta = read_metadata(Store(str(store)), metadata_relpath("01"))
    np.testing.assert_allclose([ch["loc"][:3] for ch in epochs.info["chs"]], meta["ecog"]["ch_coords"])
    assert epochs.info["sfreq"] == 32.0 and epochs.tmin == -2.0
    assert epochs.metadata["text"].tolist() == LONG + SHORT
    evoked = got.berg.to_mne(kind="evoked")
    np.testing.assert_allclose(evoked.data, got.values.mean(axis=0), rtol=1e-6)
    with pytest.raises(InvalidParameterError, match="'mne'"):
        got.berg.export("nifti", None)


def test_plot_and_metadata(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    got = BERG(store).encode(_model(store, gpt2_folder), _stories(), show_progress=False)
    got.berg.plot(tmp_path / "mean.png")
    got.berg.plot(tmp_path / "one.png", word=3)
    assert (tmp_path / "mean.png").stat().st_size > 1000 and (tmp_path / "one.png").stat().st_size > 1000
    meta = BERG(store).get_model_metadata(MODEL_ID, subject="01")
    assert meta["ecog"]["n_lags"] == 129 and meta["ecog"]["subject_id"] == "sub-01"


def test_rows_stream_into_zarr_and_open_with_xarray(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    model = _model(store, gpt2_folder)
    memory = BERG(store).encode(model, _stories(), show_progress=False)
    BERG(store).encode(model, _stories(), store=tmp_path / "out.zarr", show_progress=False)
    on_disk = xr.open_zarr(tmp_path / "out.zarr")["ecog"]  # one model: the store root holds its result
    np.testing.assert_array_equal(on_disk.values, memory.values)
    assert on_disk["stimulus"].values.tolist() == memory["stimulus"].values.tolist()


def test_several_subjects_share_one_gpt2_pass_per_batch(store: Path, gpt2_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    berg = BERG(store)
    models = [_model(store, gpt2_folder, subject=s) for s in ("01", "03")]
    alone = [berg.encode(m, _stories(), show_progress=False) for m in models]
    backbone = models[0].backbone
    assert models[1].backbone is backbone and models[0].feature_key == models[1].feature_key
    calls = []
    original = type(backbone).hidden_state

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(backbone), "hidden_state", counting)
    together = berg.encode(models, _stories(), show_progress=False)
    n_windows = len(calls)
    berg.encode(models[0], _stories(), show_progress=False)
    assert len(calls) == 2 * n_windows  # the two-subject run made as many GPT-2 passes as one subject alone
    for m, a in zip(models, alone, strict=True):
        got = together[f"{MODEL_ID}/subject-{m.subject}"]
        np.testing.assert_array_equal(got.values, a.values)


def test_a_copy_encodes_after_the_original_is_cleaned_up(store: Path, gpt2_folder: Path) -> None:
    import copy

    model = _model(store, gpt2_folder)
    want = BERG(store).encode(model, _stories(), show_progress=False)
    twin = copy.deepcopy(model)
    model.cleanup()
    np.testing.assert_array_equal(BERG(store).encode(twin, _stories(), show_progress=False).values, want.values)


def test_berg_convert_gives_the_same_responses(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    from berg_core.workflows.convert import convert_store

    convert_store(str(store), str(tmp_path / "zarr"), models=[MODEL_ID], show_progress=False)
    assert (tmp_path / "zarr" / weights_relpath("01").replace(".npy", ".zarr")).is_dir()
    want = BERG(store).encode(_model(store, gpt2_folder), _stories(), show_progress=False)
    got = BERG(tmp_path / "zarr").encode(_model(tmp_path / "zarr", gpt2_folder), _stories(), show_progress=False)
    np.testing.assert_array_equal(got.values, want.values)


def test_distributed_encoding_equals_the_local_run(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    berg = BERG(store)
    models = [_model(store, gpt2_folder, subject=s) for s in ("01", "03")]
    stories = [*_stories(), {"word": ["and", "then", "silence"], "onset": [5.0, 5.2, 5.9]}]
    local = berg.encode(models, stories, show_progress=False)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        out = berg.encode(models, stories, batch_size=1, show_progress=False, store=tmp_path / "d.zarr", client=client)
    assert sorted(out) == sorted(local)
    for key in out:
        got = out[key].load()
        np.testing.assert_array_equal(got.values, local[key].values)
        assert got["stimulus"].values.tolist() == local[key]["stimulus"].values.tolist()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(store: Path, gpt2_folder: Path) -> None:
    cpu = BERG(store).encode(_model(store, gpt2_folder), _stories(), show_progress=False)
    model = BERG(store).get_encoding_model(MODEL_ID, subject="01", device="cuda", backbone_weights=str(gpt2_folder))
    gpu = BERG(store).encode(model, _stories(), show_progress=False)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-3 * np.abs(cpu.values).max())
