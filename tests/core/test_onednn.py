"""oneDNN's packed products (``berg_core.models.onednn``): same function as torch's plain ones, used only where safe."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from berg_core.models import onednn
from berg_core.models.readout import FoldedProjection

pytestmark = pytest.mark.skipif(not onednn._supported(), reason="torch built without oneDNN")


def _layer(n_out: int, n_in: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_out, n_in, generator=g) / n_in**0.5, torch.randn(n_out, generator=g)


@pytest.mark.parametrize("rows", [1, 7, 50, 400])
def test_packed_products_equal_float64_math(rows: int) -> None:
    w, b = _layer(96, 80)
    packed = onednn.pack_linear(w, b, rows_hint=8)
    assert packed is not None
    x = torch.randn(rows, 80, generator=torch.Generator().manual_seed(1))
    other = torch.randn(rows, 96, generator=torch.Generator().manual_seed(2))
    exact = F.linear(x.double(), w.double(), b.double())
    for got, want in ((packed(x), exact), (packed(x, "gelu"), F.gelu(exact)), (packed.add(x, other), exact + other.double())):
        assert got.dtype == torch.float32 and got.shape == want.shape
        torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-5 * float(want.abs().max()))
    # 3-D inputs (batch, tokens, width), as the ViT blocks give them, and the same rows in another batch: same bits
    x3 = x.reshape(1, rows, 80)
    assert torch.equal(packed(x3)[0], packed(x))
    if rows > 1:
        assert torch.equal(packed(x[:1]), packed(x)[:1])


def test_turned_off_autocast_or_other_devices_take_the_plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    w, b = _layer(16, 32)
    assert onednn.enabled_for(w)
    assert not onednn.enabled_for(w.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn.enabled_for(w)
    monkeypatch.setenv(onednn.ENV_VAR, "0")
    assert not onednn.enabled_for(w) and onednn.pack_linear(w, b, 8) is None


def test_a_packed_product_that_differs_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    w, b = _layer(16, 32)
    real = torch.ops.mkldnn._linear_pointwise

    class Wrong:
        def __call__(self, *args: object) -> torch.Tensor:
            return real(*args) + 1.0  # type: ignore[no-any-return]

    monkeypatch.setattr(onednn, "torch", _TorchWith(Wrong()))
    with pytest.warns(RuntimeWarning, match="not used for layer 3"):
        assert onednn.pack_linear(w, b, 8, "layer 3") is None


class _TorchWith:
    """``torch`` whose ``ops.mkldnn._linear_pointwise`` is ``fn`` (everything else is torch's)."""

    def __init__(self, fn: object) -> None:
        self._fn = fn

    def __getattr__(self, name: str) -> object:
        if name == "ops":
            return _Ops(self._fn)
        return getattr(torch, name)


class _Ops:
    def __init__(self, fn: object) -> None:
        self.mkldnn = _Mkldnn(fn)


class _Mkldnn:
    def __init__(self, fn: object) -> None:
        self._linear_pointwise = fn

    def __getattr__(self, name: str) -> object:
        return getattr(torch.ops.mkldnn, name)


def test_folded_projection_packs_once_and_copies_without_its_pack() -> None:
    w, b = _layer(12, 3000)
    proj = FoldedProjection(w.clone(), b.clone())
    f = torch.randn(5, 3000, generator=torch.Generator().manual_seed(3))
    got = proj(f)
    packed = proj._packed
    assert isinstance(packed, onednn.PackedLinear)
    proj(f)
    assert proj._packed is packed  # packed at the first product only
    want = torch.addmm(b.double(), f.double(), w.double().T)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-5 * float(want.abs().max()))
    clone = copy.deepcopy(proj)
    assert clone._packed is None and torch.equal(clone.weight, proj.weight) and clone.weight is not proj.weight
    clone.weight.zero_()  # the clone packs its own (zeroed) weights; the original keeps its values
    torch.testing.assert_close(clone(f), b.expand(5, -1))
    assert torch.equal(proj(f), got)


def test_vit_forward_packs_its_products_and_equals_the_plain_path(vit_weights_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from berg_core.backbones.vit_b_32 import build_vit_b_32

    net = build_vit_b_32(torch.load(vit_weights_file, weights_only=True))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no layer fell back
        packed = net(x)
    assert isinstance(net._packed, list) and len(net._packed) == 12
    assert not any("_packed" in k for k in net.state_dict())
    monkeypatch.setenv(onednn.ENV_VAR, "0")
    plain = net(x)
    torch.testing.assert_close(packed, plain, rtol=0, atol=1e-5 * float(plain.abs().max()))
    torch.testing.assert_close(net(x[:1]), plain[:1], rtol=0, atol=1e-5 * float(plain.abs().max()))  # plain after packing


def test_packing_leaves_the_weights_fingerprint_alone() -> None:
    """A result's request records a digest of the weights; the packed copy made at the first product is not weights."""
    import types

    from berg_core.results.identity import weights_fingerprint

    w, b = _layer(12, 3000)
    model = types.SimpleNamespace(readout=FoldedProjection(w, b))
    before = weights_fingerprint(model)  # type: ignore[arg-type]
    model.readout(torch.randn(2, 3000))
    assert model.readout._packed is not None
    assert weights_fingerprint(model) == before  # type: ignore[arg-type]


@pytest.mark.parametrize("n_out", [16, 37, 5])
def test_regression_heads_pack_and_keep_every_unit_the_same_bits_in_any_selection(n_out: int) -> None:
    from berg_core.models.readout import RegressionHeads

    g = torch.Generator().manual_seed(n_out)
    coef, intercept = torch.randn(n_out, 250, generator=g), torch.randn(n_out, generator=g)
    heads = RegressionHeads(coef.clone(), intercept.clone(), 1)
    z = torch.randn(6, 250, generator=g)
    got = heads(z)
    assert heads._packed is not None
    want = torch.addmm(intercept.double(), z.double(), coef.double().T)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-5 * float(want.abs().max()))
    for rows in ([0], [n_out - 1], list(range(1, n_out, 2)), list(range(n_out // 2, n_out))):
        sub = RegressionHeads(coef[rows].clone(), intercept[rows].clone(), 1)
        assert torch.equal(sub(z), got[:, rows]), rows
    clone = copy.deepcopy(heads)
    assert clone._packed is None and torch.equal(clone(z), got)
