"""Every model-bound hook reaches the plugin that owns the card, and only it, in every kind of run.

The toy plugin of ``conftest`` owns ``toy-retina-luminance``; its models share one
toy backbone (``Flatten``). A plugin registered beside it that implements every
model-bound hook (and asks to be called first) must never be asked about the toy's
models or results; the owner's own ``berg_encode_batch`` must apply in single,
multi-model, shared-backbone and reduced-precision runs alike.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from berg_core import BERG, InvalidParameterError, hookimpl
from berg_core.plugin import DemoSettings
from berg_core.registry import manager as plugins
from berg_core.registry.manager import PluginManager

MODEL = "toy-retina-luminance"
IMAGES = np.random.default_rng(7).integers(0, 256, size=(5, 3, 9, 7), dtype=np.uint8)


class Owner:
    """Owns the toy card through the toy module's hooks, and overrides ``berg_encode_batch``: responses x 2."""

    def __init__(self, toy: object) -> None:
        self.toy = toy
        self.features_given: list[bool] = []

    @hookimpl
    def berg_model_cards(self):  # type: ignore[no-untyped-def]
        return self.toy.berg_model_cards()

    @hookimpl
    def berg_load_model(self, request):  # type: ignore[no-untyped-def]
        return self.toy.berg_load_model(request)

    @hookimpl
    def berg_model_metadata(self, card, subject, store, options):  # type: ignore[no-untyped-def]
        return self.toy.berg_model_metadata(card, subject, store, options)

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):  # type: ignore[no-untyped-def]
        return self.toy.berg_write_synthetic_store(card, root, subjects, seed, options)

    @hookimpl
    def berg_demo_settings(self, card):  # type: ignore[no-untyped-def]
        return DemoSettings(store_options={"from": "owner"}, selection={"units": [2]})

    @hookimpl
    def berg_export_result(self, result, fmt, path, options):  # type: ignore[no-untyped-def]
        return self.toy.berg_export_result(result, fmt, path, options)

    @hookimpl
    def berg_plot_result(self, result, path, options):  # type: ignore[no-untyped-def]
        return self.toy.berg_plot_result(result, path, options)

    @hookimpl
    def berg_encode_batch(self, model, batch, stimulus_ids, features):  # type: ignore[no-untyped-def]
        self.features_given.append(features is not None)
        da = model.encode_features(features, stimulus_ids) if features is not None else model.encode_batch(batch, stimulus_ids)
        return da.copy(data=da.values * 2)


class Greedy:
    """Owns no model but answers every model-bound hook first: broadcasting would reach it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(tryfirst=True)
    def berg_load_model(self, request):  # type: ignore[no-untyped-def]
        self.calls.append("load")
        return object()

    @hookimpl(tryfirst=True)
    def berg_model_metadata(self, card, subject, store, options):  # type: ignore[no-untyped-def]
        self.calls.append("metadata")
        return {"greedy": True}

    @hookimpl(tryfirst=True)
    def berg_preprocess(self, model, stimuli):  # type: ignore[no-untyped-def]
        self.calls.append("preprocess")
        return "not a tensor"

    @hookimpl(tryfirst=True)
    def berg_encode_batch(self, model, batch, stimulus_ids):  # type: ignore[no-untyped-def]
        self.calls.append("encode")
        return "not a result"

    @hookimpl(tryfirst=True)
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):  # type: ignore[no-untyped-def]
        self.calls.append("synthetic")
        return ["nothing"]

    @hookimpl(tryfirst=True)
    def berg_demo_settings(self, card):  # type: ignore[no-untyped-def]
        self.calls.append("demo")
        return DemoSettings(store_options={"from": "greedy"})

    @hookimpl(tryfirst=True)
    def berg_export_result(self, result, fmt, path, options):  # type: ignore[no-untyped-def]
        self.calls.append("export")
        return "greedy"

    @hookimpl(tryfirst=True)
    def berg_plot_result(self, result, path, options):  # type: ignore[no-untyped-def]
        self.calls.append("plot")
        return "greedy"


@pytest.fixture
def toy(toy_plugin_dir, monkeypatch):  # type: ignore[no-untyped-def]
    """The toy plugin module, with entry points off: each test registers plugins by hand."""
    monkeypatch.setenv("BERG_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setattr(plugins, "_PM", None)
    return importlib.import_module("berg_toy.plugin")


def _berg(root, *registered) -> BERG:  # type: ignore[no-untyped-def]
    pm = PluginManager()
    for name, plugin in registered:
        pm.register(plugin, name=name)
    berg = BERG(root, plugin_manager=pm)
    from berg_core.workflows.synthetic import write_synthetic_store

    write_synthetic_store(root, models=[MODEL], subjects=[1, 2], seed=2, plugin_manager=pm)
    return berg


def _encode(berg: BERG, models, precision: str = "fp32"):  # type: ignore[no-untyped-def]
    out = berg.encode(models, IMAGES, batch_size=2, show_progress=False, precision=precision)
    return {k: v.values for k, v in out.items()} if isinstance(out, dict) else out.values


def test_the_owners_encode_override_applies_in_single_multi_model_shared_and_bf16_runs(tmp_path, toy) -> None:
    owner = Owner(toy)
    plain = _berg(tmp_path / "store", ("toy", toy))
    doubled = _berg(tmp_path / "store", ("owner", owner))
    load = {"subject": 1, "device": "cpu"}
    pairs = [(plain.get_encoding_model(MODEL, **load), doubled.get_encoding_model(MODEL, **load))]
    pairs.append((plain.get_encoding_model(MODEL, subject=2, selection={"units": [3, 0]}, device="cpu"),
                  doubled.get_encoding_model(MODEL, subject=2, selection={"units": [3, 0]}, device="cpu")))
    shared = toy.Flatten
    for precision in ("fp32", "bf16"):
        for ref, model in pairs:  # one model
            np.testing.assert_allclose(_encode(doubled, model, precision), 2 * _encode(plain, ref, precision), rtol=1e-6)
        before = shared.calls
        together = _encode(doubled, [m for _, m in pairs], precision)  # several models, one backbone pass per batch
        assert shared.calls - before == 3  # 5 images in batches of 2
        alone = _encode(plain, [r for r, _ in pairs], precision)
        assert list(together) == list(alone)
        for label in alone:
            np.testing.assert_allclose(together[label], 2 * alone[label], rtol=1e-6)
    # the owner got the shared backbone's output every time: nothing computed it twice
    assert owner.features_given and all(owner.features_given)


def test_another_plugins_hooks_never_answer_for_the_owners_models(tmp_path, toy) -> None:
    greedy = Greedy()
    berg = _berg(tmp_path / "store", ("toy", toy), ("greedy", greedy))
    pm = berg.plugin_manager
    model = berg.get_encoding_model(MODEL, subject=1, device="cpu")
    assert type(model).__name__ == "ToyModel" and model.plugin_name == "toy"
    assert berg.get_model_metadata(MODEL, subject=1) == {"toy": {"subject": 1, "units": [0, 1, 2, 3]}}
    other = berg.get_encoding_model(MODEL, subject=2, device="cpu")
    single = berg.encode(model, IMAGES, show_progress=False)
    berg.encode([model, other], IMAGES, show_progress=False, precision="bf16")
    path = single.berg.export("csv", tmp_path / "r.csv", plugin_manager=berg)
    np.testing.assert_allclose(np.loadtxt(path, delimiter=","), single.values, rtol=1e-6)
    fig = single.berg.plot(tmp_path / "r.png", plugin_manager=pm)
    assert fig.axes and (tmp_path / "r.png").stat().st_size > 0

    from berg_core.demo.run import ensure_demo_store

    _, marker = ensure_demo_store(tmp_path / "demo", pm)
    assert marker["models"] == {MODEL: [1]}
    assert greedy.calls == []


def test_the_demo_runs_a_model_as_its_plugin_says(tmp_path, toy) -> None:
    from berg_core.demo.run import _settings_of, _wanted

    owner = Owner(toy)
    berg = _berg(tmp_path / "store", ("owner", owner), ("greedy", Greedy()))
    card = berg.get_card(MODEL)
    assert _settings_of(berg.plugin_manager, card) == DemoSettings({"from": "owner"}, {"units": [2]})
    assert _wanted(berg.plugin_manager)["requested"] == {MODEL: {"from": "owner"}}


def test_export_and_plot_ask_the_manager_given_and_the_process_wide_one_only_without(tmp_path, toy) -> None:
    berg = _berg(tmp_path / "store", ("by-hand", toy))
    result = berg.encode(berg.get_encoding_model(MODEL, subject=1, device="cpu"), IMAGES, show_progress=False)
    assert plugins.get_plugin_manager().registry.ids() == []  # entry points off: the process-wide manager has no toy
    assert result.berg.export("csv", tmp_path / "a.csv", plugin_manager=berg) == str(tmp_path / "a.csv")
    with pytest.raises(InvalidParameterError, match=f"no installed plugin can export {MODEL} results"):
        result.berg.export("csv", tmp_path / "b.csv")
    with pytest.raises(InvalidParameterError, match="plugin_manager must be a BERG or a berg plugin manager, got str"):
        result.berg.plot(plugin_manager="toy")
    plugins.get_plugin_manager().register(toy, name="toy-global")
    assert result.berg.export("csv", tmp_path / "c.csv") == str(tmp_path / "c.csv")
