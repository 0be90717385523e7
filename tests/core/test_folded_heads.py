"""``berg_core.models.folded_heads`` on files written by ``berg_core.workflows.sklearn_dicts``.

The read-out is compared with the reference math in float64 on the arrays the
test reads back itself, and its checks with files edited to not fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from berg_core.errors import IntegrityError, StoreError
from berg_core.models.folded_heads import load_folded_heads, read_regression_rows
from berg_core.store.model_store import Store
from berg_core.store.output_files import write_atomically
from berg_core.workflows.sklearn_dicts import save_npy_dict, seeded_rng, sklearn_readout_weights

F, K, N_A, N_B = 64, 5, 7, 3
REGRESSIONS = {"reg_param/a": N_A, "b_reg_param": N_B}


def _weights(seed: int = 0, dtype: str = "float64") -> dict[str, Any]:
    return sklearn_readout_weights(seeded_rng(seed, "test"), F, K, REGRESSIONS, n_samples=100, dtype=dtype)


def _store(tmp_path: Path, weights: dict[str, Any]) -> Store:
    save_npy_dict(tmp_path, "w.npy", weights)
    return Store(str(tmp_path))


def _reference(features: np.ndarray, w: dict[str, Any], key: str, rows: np.ndarray) -> np.ndarray:
    sc, pca = w["scaler_param"], w["pca_param"]
    z = ((features - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ pca["components_"].astype(np.float64).T
    reg = w["reg_param"]["a"] if key == "reg_param/a" else w[key]
    return z @ reg["coef_"][rows].astype(np.float64).T + reg["intercept_"][rows]


def _reader(rows_a: np.ndarray | None, rows_b: np.ndarray | None) -> Any:
    def read(wf: Any, k: int) -> list[Any]:
        a = read_regression_rows(wf, "reg_param/a", rows_a, N_A, k)
        b = read_regression_rows(wf, "b_reg_param", rows_b, N_B, k)
        return [([a[0]], [a[1]]), ([b[0]], [b[1]])]

    return read


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_heads_side_by_side_equal_the_reference_math(tmp_path: Path, dtype: str) -> None:
    w = _weights(dtype=dtype)
    rows_a, rows_b = np.array([6, 0, 3]), None
    readout = load_folded_heads(_store(tmp_path, w), "w.npy", F, _reader(rows_a, rows_b), torch.device("cpu"))
    assert readout.n_components == K and [h.coef.shape[0] for h in readout.heads] == [3, N_B]
    f = np.random.default_rng(1).normal(0.0, 1.0, (4, F))
    got = readout(torch.from_numpy(f.astype(np.float32))).numpy()
    want = np.concatenate([_reference(f, w, "reg_param/a", rows_a), _reference(f, w, "b_reg_param", np.arange(N_B))], axis=1)
    assert got.dtype == np.float32 and got.shape == (4, 3 + N_B)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_a_selection_is_exactly_its_slice_of_the_whole_output(tmp_path: Path) -> None:
    store = _store(tmp_path, _weights(seed=3))
    whole = load_folded_heads(store, "w.npy", F, _reader(None, None), torch.device("cpu"))
    some = load_folded_heads(store, "w.npy", F, _reader(np.array([2, 5]), np.array([1])), torch.device("cpu"))
    x = torch.from_numpy(np.random.default_rng(2).normal(0.0, 1.0, (3, F)).astype(np.float32))
    np.testing.assert_array_equal(some(x).numpy(), whole(x).numpy()[:, [2, 5, N_A + 1]])


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda w: w["reg_param"]["a"].update(intercept_=np.zeros(N_A + 1)), r"reg_param/a/intercept_ has shape \(8,\), expected \(7,\)"),
        (lambda w: w["reg_param"]["a"].update(coef_=np.zeros((N_A - 2, K))), r"reg_param/a/coef_ has 5 rows, expected 7"),
        (lambda w: w["b_reg_param"].update(coef_=np.zeros((N_B, K + 1))), r"b_reg_param/coef_ rows have shape \(6,\), expected \(5,\)"),
        (lambda w: w["b_reg_param"].update(coef_=np.zeros(N_B)), r"b_reg_param/coef_ has shape \(3,\), expected \(outputs, components\)"),
    ],
)
def test_regressions_that_do_not_fit(tmp_path: Path, edit: Any, pattern: str) -> None:
    w = _weights()
    edit(w)
    with pytest.raises(IntegrityError, match=pattern):
        load_folded_heads(_store(tmp_path, w), "w.npy", F, _reader(None, None), torch.device("cpu"))


def test_selected_rows_beyond_a_short_file(tmp_path: Path) -> None:
    w = _weights()
    w["reg_param"]["a"]["coef_"] = w["reg_param"]["a"]["coef_"][:4]
    with pytest.raises(IntegrityError, match=r"reg_param/a/coef_ has fewer than the 7 rows of the outputs"):
        load_folded_heads(_store(tmp_path, w), "w.npy", F, _reader(np.array([1, 6]), None), torch.device("cpu"))


def test_a_pca_of_another_width(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match=r"components_ have 64 features, expected 32 \(test features\)"):
        load_folded_heads(_store(tmp_path, _weights()), "w.npy", 32, _reader(None, None), torch.device("cpu"), "test features")


def test_written_weights_have_sklearns_keys_and_types() -> None:
    w = _weights(dtype="float32")
    assert set(w) == {"scaler_param", "pca_param", "reg_param", "b_reg_param"} and set(w["reg_param"]) == {"a"}
    assert all(v.dtype == np.float64 for k, v in w["scaler_param"].items() if k in ("mean_", "scale_", "var_"))
    assert w["pca_param"]["components_"].dtype == np.float32 and w["b_reg_param"]["coef_"].dtype == np.float32
    assert np.all(np.diff(w["pca_param"]["explained_variance_"]) <= 0)
    np.testing.assert_allclose(w["scaler_param"]["var_"], w["scaler_param"]["scale_"] ** 2)


def test_seeded_rng_is_stable_and_keyed() -> None:
    first = seeded_rng(4, "fsaverage", 1).integers(0, 2**31, 3)
    np.testing.assert_array_equal(first, seeded_rng(4, "fsaverage", 1).integers(0, 2**31, 3))
    assert not np.array_equal(first, seeded_rng(4, "fsaverage", 2).integers(0, 2**31, 3))
    assert not np.array_equal(first, seeded_rng(4, "fwrf", 1).integers(0, 2**31, 3))


def test_an_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    def fail(fh: Any) -> None:
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(StoreError, match=r"cannot write .*w\.npy.*No space left on device"):
        write_atomically(tmp_path, "sub/w.npy", fail)
    assert list(tmp_path.rglob("*.npy*")) == []
    (tmp_path / "sub" / "w.npy").mkdir()  # a folder in the way: a StoreError, not an OSError
    with pytest.raises(StoreError, match="cannot write"):
        save_npy_dict(tmp_path, "sub/w.npy", {"a": 1})
