"""fmri-tuckute_2024-GPT2_XL equals an independent float64 reference (BPE, GPT-2 hidden state 22 of the last
token, ridge rows in the order selected), on a tiny random GPT-2 of the real depth and weights in the real formats."""

from __future__ import annotations

import io
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from berg_fmri_tuckute.layout import MODEL_ID, ROI_NAMES, WEIGHTS_RELPATH

from berg_core import BERG
from berg_core.errors import BERGError, IntegrityError, InvalidParameterError, ModelLoadError, StimulusError
from berg_core.plugin import load_sklearn_pickle

from .conftest import WIDTH, write_store
from .tuckute_reference import reference

SENTENCES = ["The cat sat on the mat.", "Colourless green ideas sleep furiously tonight", "in", "It's 42, isn't it?"]


def _ridge(store: Path) -> Any:
    with open(store / WEIGHTS_RELPATH, "rb") as fh:
        return load_sklearn_pickle(fh, "w")["clf"].state


def _model(store: Path, folder: Path, **kwargs: Any) -> Any:
    return BERG(store).get_encoding_model(MODEL_ID, device="cpu", backbone_weights=str(folder), **kwargs)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_responses_equal_the_float64_reference(store: Path, gpt2_folder: Path, batch_size: int) -> None:
    model = _model(store, gpt2_folder)
    got = BERG(store).encode(model, SENTENCES, batch_size=batch_size, show_progress=False)
    assert got.dims == ("stimulus", "roi") and got.dtype == np.float32
    assert list(got["roi"].values) == list(ROI_NAMES) and list(got["stimulus"].values) == [0, 1, 2, 3]
    state = _ridge(store)
    want = reference(gpt2_folder, SENTENCES, state["coef_"], state["intercept_"], list(range(6)))
    np.testing.assert_allclose(got.values, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert "subject" not in got.coords and got.attrs.get("subject") in (None, -1)


def test_a_real_sklearn_ridgecv_pickle_gives_sklearns_predictions(sklearn_store: tuple[Path, Any], gpt2_folder: Path) -> None:
    root, clf = sklearn_store
    model = _model(root, gpt2_folder, selection={"roi": ["lang_LH_netw", "lang_LH_AntTemp"]})
    got = BERG(root).encode(model, SENTENCES[:2], show_progress=False)
    want = reference(gpt2_folder, SENTENCES[:2], clf.coef_, clf.intercept_, [5, 0])
    np.testing.assert_allclose(got.values, want, rtol=1e-4, atol=1e-5)


def test_roi_selection_keeps_the_order_given_and_repeats(store: Path, gpt2_folder: Path) -> None:
    full = BERG(store).encode(_model(store, gpt2_folder), SENTENCES[:2], show_progress=False)
    wanted = ["lang_LH_netw", "lang_LH_IFG", "lang_LH_netw"]
    part = BERG(store).encode(_model(store, gpt2_folder, selection={"roi": wanted}), SENTENCES[:2], show_progress=False)
    assert list(part["roi"].values) == wanted
    np.testing.assert_array_equal(part.values, full.values[:, [5, 1, 5]])
    np.testing.assert_allclose(part["noise_ceiling"].values, [0.559154577, 0.452484144, 0.559154577])
    one = BERG(store).encode(_model(store, gpt2_folder, selection={"roi": "lang_LH_MFG"}), SENTENCES[:1], show_progress=False)
    assert list(one["roi"].values) == ["lang_LH_MFG"]


@pytest.mark.parametrize(
    ("selection", "message"),
    [({"roi": ["lang_LH_IFGG"]}, r"unknown ROI\(s\) \['lang_LH_IFGG'\].*Did you mean 'lang_LH_IFG"),
     ({"roi": []}, r"non-empty list"), ({"roi": 3}, r"ROI name or a non-empty list")],
)
def test_bad_roi_selections_are_refused(store: Path, gpt2_folder: Path, selection: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        _model(store, gpt2_folder, selection=selection)


def test_participant_averaged_no_subject(store: Path, gpt2_folder: Path) -> None:
    with pytest.raises(InvalidParameterError, match="subject"):
        _model(store, gpt2_folder, subject=1)


@pytest.mark.parametrize("stimulus", [[""], np.zeros((1, 3, 8, 8), dtype=np.uint8), [1, 2]])
def test_bad_stimuli_are_stimulus_errors(store: Path, gpt2_folder: Path, stimulus: Any) -> None:
    with pytest.raises(StimulusError):
        BERG(store).encode(_model(store, gpt2_folder), stimulus, show_progress=False)


def test_a_text_file_gives_one_row_per_line(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("The cat sat on the mat.\n\n  in  \n")
    got = BERG(store).encode(_model(store, gpt2_folder), tmp_path / "s.txt", show_progress=False)
    direct = BERG(store).encode(_model(store, gpt2_folder), ["The cat sat on the mat.", "in"], show_progress=False)
    np.testing.assert_array_equal(got.values, direct.values)


def test_a_readout_of_another_width_is_an_integrity_error(tmp_path: Path, gpt2_folder: Path) -> None:
    root = write_store(tmp_path, n_features=1600)
    with pytest.raises(IntegrityError, match=r"reads 1600 features, but the GPT-2 XL backbone .* gives 16"):
        _model(root, gpt2_folder)


def test_missing_backbone_says_how_to_get_it(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"(?s)GPT-2 XL backbone weights were not found.*huggingface-cli download"):
        BERG(store).get_encoding_model(MODEL_ID, device="cpu")


def _rewrite(root: Path, change: Any) -> None:
    from berg_core.plugin import dump_sklearn_pickle

    path = root / WEIGHTS_RELPATH
    with open(path, "rb") as fh:
        data = load_sklearn_pickle(fh, "w")
    path.write_bytes(dump_sklearn_pickle(change(data)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {**d, "X_scaler": d["clf"]}, r"X_scaler is 'RidgeCV'; the published model has none"),
        (lambda d: {k: v for k, v in d.items() if k != "neuroid_order"}, r"expected a dict with 'clf' and 'neuroid_order'"),
        (lambda d: {**d, "neuroid_order": d["neuroid_order"][:5]}, r"coef_ has 6 rows but neuroid_order names 5"),
        (lambda d: {**d, "clf": type(d["clf"])(d["clf"].module, d["clf"].name,
                                               {k: v for k, v in d["clf"].state.items() if k != "coef_"})},
         r"the pickled RidgeCV has no 'coef_'"),
    ],
    ids=["scaler", "no-order", "short-order", "unfitted"],
)
def test_weights_of_another_layout_are_integrity_errors(tmp_path: Path, gpt2_folder: Path, change: Any, message: str) -> None:
    root = write_store(tmp_path)
    _rewrite(root, change)
    with pytest.raises(IntegrityError, match=message):
        _model(root, gpt2_folder)


def test_an_unsafe_pickle_is_refused_and_not_run(tmp_path: Path, gpt2_folder: Path) -> None:
    root = write_store(tmp_path)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (shutil.copy, (str(root / WEIGHTS_RELPATH), str(marker)))

    (root / WEIGHTS_RELPATH).write_bytes(pickle.dumps({"clf": Evil(), "neuroid_order": list(ROI_NAMES)}))
    with pytest.raises(IntegrityError, match=r"is unsafe: its pickle asks for shutil\.copy"):
        _model(root, gpt2_folder)
    assert not marker.exists()


def test_metadata_and_every_error_is_a_berg_error(store: Path, gpt2_folder: Path) -> None:
    meta = BERG(store).get_model_metadata(MODEL_ID)
    assert list(meta["rois"]) == list(ROI_NAMES) and meta["optimal_layer"] == 22
    assert meta["train_sentences"].shape == (1000,)
    assert issubclass(IntegrityError, BERGError)


def test_synthetic_store_is_seeded(tmp_path: Path) -> None:
    a = (write_store(tmp_path / "a", seed=1) / WEIGHTS_RELPATH).read_bytes()
    b = (write_store(tmp_path / "b", seed=1) / WEIGHTS_RELPATH).read_bytes()
    c = (write_store(tmp_path / "c", seed=2) / WEIGHTS_RELPATH).read_bytes()
    assert a == b != c
    assert load_sklearn_pickle(io.BytesIO(a), "w")["clf"].state["coef_"].shape == (6, WIDTH)


def test_plot_draws_a_picture(store: Path, gpt2_folder: Path, tmp_path: Path) -> None:
    got = BERG(store).encode(_model(store, gpt2_folder), SENTENCES[:2], show_progress=False)
    got.berg.plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_reduced_precision_runs_gpt2_under_autocast(store: Path, gpt2_folder: Path) -> None:
    model = _model(store, gpt2_folder)
    full = BERG(store).encode(model, SENTENCES, show_progress=False)
    half = BERG(store).encode(model, SENTENCES, precision="bf16", show_progress=False)
    assert half.dtype == np.float32 and not np.array_equal(half.values, full.values)  # the backbone ran in bf16
    np.testing.assert_allclose(half.values, full.values, atol=0.1 * np.abs(full.values).max())


def test_a_copy_encodes_after_the_original_is_cleaned_up(store: Path, gpt2_folder: Path) -> None:
    import copy

    model = _model(store, gpt2_folder)
    want = BERG(store).encode(model, SENTENCES, show_progress=False)
    twin = copy.deepcopy(model)
    model.cleanup()
    np.testing.assert_array_equal(BERG(store).encode(twin, SENTENCES, show_progress=False).values, want.values)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(store: Path, gpt2_folder: Path) -> None:
    cpu = BERG(store).encode(_model(store, gpt2_folder), SENTENCES, show_progress=False)
    gpu = BERG(store).encode(BERG(store).get_encoding_model(MODEL_ID, device="cuda", backbone_weights=str(gpt2_folder)),
                             SENTENCES, show_progress=False)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-3, atol=1e-3 * np.abs(cpu.values).max())
