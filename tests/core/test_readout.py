"""``berg_core.models.readout``: the folded scaler + PCA equals the unfolded math."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from berg_core.errors import IntegrityError
from berg_core.models.readout import FoldedProjection, RegressionHeads, fold_scaler_pca


def _sklearn_like(k: int, n: int, seed: int = 0, dtype: type = np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "scaler_mean": rng.normal(0, 2, n).astype(dtype),
        "scaler_scale": rng.uniform(0.2, 3.0, n).astype(dtype),
        "pca_mean": rng.normal(0, 0.1, n).astype(dtype),
        "components": (rng.standard_normal((k, n)) / np.sqrt(n)).astype(dtype),
    }


def _unfolded(f: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """The reference document's math, in float64."""
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    return ((f - p64["scaler_mean"]) / p64["scaler_scale"] - p64["pca_mean"]) @ p64["components"].T


@pytest.mark.parametrize(("n", "chunk"), [(70_000, 1 << 15), (20, 7), (16, 16)])
def test_fold_equals_unfolded_math(n: int, chunk: int) -> None:
    p = _sklearn_like(5, n)
    W, c = fold_scaler_pca(p["scaler_mean"], p["scaler_scale"], p["pca_mean"], p["components"], chunk=chunk)
    assert W.dtype == np.float32 and W.shape == (5, n)
    assert c.dtype == np.float32 and c.shape == (5,)
    np.testing.assert_allclose(W, p["components"] / p["scaler_scale"], rtol=1e-7)
    c_ref = -(p["scaler_mean"] / p["scaler_scale"] + p["pca_mean"]) @ p["components"].T
    np.testing.assert_allclose(c, c_ref, rtol=1e-6)
    f = np.random.default_rng(1).normal(0, 2, (3, n))
    z_ref = _unfolded(f, p)
    z = (f.astype(np.float32) @ W.T + c).astype(np.float64)
    np.testing.assert_allclose(z, z_ref, rtol=1e-4, atol=1e-5 * np.abs(z_ref).max())


def test_float64_components_are_left_untouched() -> None:
    p = _sklearn_like(3, 100)
    before = p["components"].copy()
    W, _ = fold_scaler_pca(p["scaler_mean"], p["scaler_scale"], p["pca_mean"], p["components"], chunk=32)
    np.testing.assert_array_equal(p["components"], before)
    assert not np.shares_memory(W, p["components"])


def test_float32_components_are_folded_in_place() -> None:
    p = _sklearn_like(4, 1000, dtype=np.float32)
    want = p["components"].astype(np.float64) / p["scaler_scale"]
    comp = p["components"]
    W, c = fold_scaler_pca(p["scaler_mean"], p["scaler_scale"], p["pca_mean"], comp, chunk=300)
    assert W is comp  # no second copy of the largest array
    np.testing.assert_allclose(W, want, rtol=1e-6)
    f = np.random.default_rng(2).normal(0, 1, (2, 1000))
    z_ref = _unfolded(f, {**p, "components": want * p["scaler_scale"]})
    np.testing.assert_allclose(f @ W.T + c, z_ref, rtol=1e-4, atol=1e-5 * np.abs(z_ref).max())


def test_read_only_float32_components_are_copied() -> None:
    p = _sklearn_like(2, 50, dtype=np.float32)
    p["components"].flags.writeable = False
    W, _ = fold_scaler_pca(p["scaler_mean"], p["scaler_scale"], p["pca_mean"], p["components"])
    assert not np.shares_memory(W, p["components"])


@pytest.mark.parametrize("name", ["scaler_mean", "scaler_scale", "pca_mean"])
def test_mismatched_shapes_are_integrity_errors(name: str) -> None:
    p = _sklearn_like(2, 30)
    p[name] = p[name][:29]
    with pytest.raises(
        IntegrityError, match=r"weights.npy: .* has shape \(29,\), expected \(30,\) to match components_ \(2, 30\)"
    ):
        fold_scaler_pca(p["scaler_mean"], p["scaler_scale"], p["pca_mean"], p["components"], source="weights.npy")


def test_projection_and_heads_on_torch() -> None:
    p = _sklearn_like(6, 200)
    W, c = fold_scaler_pca(p["scaler_mean"], p["scaler_scale"], p["pca_mean"], p["components"])
    proj = FoldedProjection.from_numpy(W, c, torch.device("cpu"))
    assert proj.n_components == 6
    f = np.random.default_rng(3).normal(0, 1, (4, 200))
    z = proj(torch.from_numpy(f.astype(np.float32)))
    z_ref = _unfolded(f, p)
    np.testing.assert_allclose(z.numpy(), z_ref, rtol=1e-4, atol=1e-5 * np.abs(z_ref).max())

    rng = np.random.default_rng(4)
    coefs = [rng.standard_normal((u, 6)) for u in (5, 3)]
    intercepts = [rng.standard_normal(u) for u in (5, 3)]
    heads = RegressionHeads.from_numpy(coefs, intercepts, torch.device("cpu"))
    assert heads.n_heads == 2 and heads.coef.dtype == torch.float32
    y = heads(z).numpy()
    assert y.shape == (4, 8)
    for got, coef, b in ((y[:, :5], coefs[0], intercepts[0]), (y[:, 5:], coefs[1], intercepts[1])):
        want = z_ref @ coef.T + b
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
