"""The conformance kit (``berg_core.testing``) on the third-party toy plugin and on broken copies of it.

Each broken copy breaks one promise; the kit must name that check (and that model) and no
check may pass that should not.
"""

from __future__ import annotations

from typing import Any

import pytest

from berg_core import InvalidParameterError, PluginError
from berg_core.testing import CHECKS, ConformanceReport, check_plugin

TOY = "toy-retina-luminance"


VARIANTS = '''
"""Variants of the toy plugin: one that conforms, and copies that each break one promise.

They live in an importable module, as a real plugin's classes do, so models pickle.
"""
import torch
import xarray as xr

from berg_core.plugin import hookimpl

from . import plugin as toy


class Strict(toy.ToyModel):
    """Selected units sliced out of the full product (a product over fewer rows may round differently in the
    last bit)."""

    breakage = None

    def __init__(self, card, subject, selection, store, device, options):
        super().__init__(card, subject, selection, store, device, options)
        self.full = toy.ToyModel(card, subject, None, store, device, {}).weight

    def encode_features(self, features, stimulus_ids):
        y = (features @ self.full.T)[:, self.units]
        if self.breakage == "batch":
            y = y + features.shape[0]
        elif self.breakage == "random":
            y = y + torch.rand(())
        elif self.breakage == "offset_when_selected" and self.selection:
            y = y + 1.0
        labels = self.units[::-1] if self.breakage == "reversed_units" else self.units  # labels off the rows
        return xr.DataArray(y.cpu().numpy(), dims=("stimulus", "unit"),
                            coords={"stimulus": stimulus_ids, "unit": labels}, attrs=self.base_attrs())


MODELS = {None: Strict, **{b: type(f"Broken_{b}", (Strict,), {"breakage": b})
                           for b in ("batch", "random", "offset_when_selected", "reversed_units")}}
for _cls in MODELS.values():
    globals()[_cls.__name__] = _cls


class Plugin:
    def __init__(self, breakage=None, export=True, writes_store=True):
        self.model_cls = MODELS.get(breakage, Strict)
        self.export, self.writes_store = export, writes_store
        if breakage == "unpicklable":
            self.callback = lambda: None  # models travel with their plugin object: this one cannot be pickled

    @hookimpl
    def berg_model_cards(self):
        return toy.berg_model_cards()

    @hookimpl
    def berg_load_model(self, request):
        r = request
        return self.model_cls(r.card, r.subject, r.selection, r.store, r.device, r.options)

    @hookimpl
    def berg_model_metadata(self, card, subject, store, options):
        return toy.berg_model_metadata(card, subject, store, options)

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):
        return toy.berg_write_synthetic_store(card, root, subjects, seed, options) if self.writes_store else None

    @hookimpl
    def berg_export_result(self, result, fmt, path, options):
        return toy.berg_export_result(result, fmt, path, options) if self.export else None

    @hookimpl
    def berg_plot_result(self, result, path, options):
        return toy.berg_plot_result(result, path, options)
'''


@pytest.fixture
def variants(toy_plugin_dir: Any) -> Any:
    (toy_plugin_dir / "berg_toy" / "variants.py").write_text(VARIANTS)
    import berg_toy.variants as variants

    return variants


def failed(report: ConformanceReport) -> set[str]:
    return {r.check for r in report.failures()}


def run(plugin: Any, tmp_path: Any) -> ConformanceReport:
    return check_plugin(plugin, store_root=tmp_path / "store", subjects=[1, 2])


def test_toy_plugin_by_entry_point_name(toy_plugin_dir, tmp_path):
    """The toy plugin checks none of its parameters itself: core refuses a bad subject, selection key, selection
    value and option from its card. It computes a selection with a smaller product (last-bit differences): the kit
    says so, and nothing else."""
    report = run("toy", tmp_path)
    assert report.plugin == "toy"
    assert {r.check for r in report.results} == set(CHECKS)
    assert {r.model_id for r in report.results} == {TOY}
    assert failed(report) == {"selection"}
    (sel,) = report.failures("selection")
    assert "values differ from the matching slice of the unselected output" in sel.detail
    with pytest.raises(AssertionError, match=r"toy-retina-luminance \[selection\]"):
        report.raise_for_failures()
    report.raise_for_failures(allowed=["selection"])


def test_a_conforming_plugin_passes_every_check(variants, tmp_path):
    report = run(variants.Plugin(), tmp_path)
    assert report.ok, report.describe()
    assert len(report.results) == len(CHECKS)


@pytest.mark.parametrize(
    ("breakage", "check"),
    [
        ("batch", "batch_size"),
        ("random", "determinism"),
        ("offset_when_selected", "selection"),
        ("reversed_units", "selection"),
        ("unpicklable", "copy_pickle"),
    ],
)
def test_each_broken_promise_is_named(variants, tmp_path, breakage, check):
    report = run(variants.Plugin(breakage), tmp_path)
    assert check in failed(report), report.describe(report.results)
    if breakage != "random":  # noise also changes results between batch sizes and selections
        assert failed(report) == {check}, report.describe()


def test_export_hook_that_ignores_the_plugins_results(variants, tmp_path):
    report = run(variants.Plugin(export=False), tmp_path)
    assert failed(report) == {"export_plot"}
    assert "export hook gives no answer" in report.failures("export_plot")[0].detail


def test_plugin_without_synthetic_store_writer(variants, tmp_path):
    report = run(variants.Plugin(writes_store=False), tmp_path)
    assert failed(report) == set(CHECKS)
    (store,) = report.failures("synthetic_store")
    assert "PluginError" in store.detail and "berg_write_synthetic_store" in store.detail
    assert all(r.detail.startswith("not run") for r in report.failures() if r.check != "synthetic_store")


def test_unknown_plugin_and_unknown_check(toy_plugin_dir, tmp_path):
    with pytest.raises(PluginError, match="neither an installed berg plugin nor an importable module"):
        check_plugin("no_such_berg_plugin_xyz", store_root=tmp_path)
    with pytest.raises(InvalidParameterError, match="not models of plugin 'toy'"):
        check_plugin("toy", store_root=tmp_path, models=["eeg-things_eeg_2-vit_b_32"])
    with pytest.raises(InvalidParameterError, match="unknown conformance check"):
        ConformanceReport("toy").failures("speed")
