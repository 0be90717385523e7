"""Plugin discovery: entry points, failures, strict mode, autoload switch, duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core import BERG, PluginError
from berg_core.registry.manager import BERGPluginWarning, PluginManager, get_plugin_manager, reset_plugin_manager


def test_installed_plugins_provide_the_three_models():
    ids = BERG("/nonexistent-is-fine-for-listing").list_models()
    assert {"eeg-things_eeg_2-vit_b_32", "fmri-nsd_fsaverage-vit_b_32", "fmri-nsd-fwrf"} <= set(ids)
    assert ids == sorted(ids)


def test_third_party_plugin_is_discovered_listed_described_and_used(toy_store, capsys):
    berg = toy_store
    assert "toy-retina-luminance" in berg.list_models()
    assert berg.get_model_catalog()["toy"] == ["retina"]
    info = berg.describe("toy-retina-luminance")
    assert "A toy model" in capsys.readouterr().out
    assert info["model_info"]["species"] == "simulated"

    model = berg.get_encoding_model("toy-retina-luminance", subject=2, selection={"units": [3, 1]}, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, size=(5, 3, 10, 14), dtype=np.uint8)
    out = berg.encode(model, images, show_progress=False)
    assert out.dims == ("stimulus", "unit")
    assert out.shape == (5, 2)
    assert list(out.unit.values) == [3, 1]
    assert out.attrs["model_id"] == "toy-retina-luminance" and out.attrs["subject"] == 2

    import berg_toy.plugin as toy

    # every hook of the spec went through pluggy
    assert {"berg_model_cards", "berg_load_model", "berg_preprocess", "berg_encode_batch", "berg_write_synthetic_store"} <= set(toy.CALLS)
    assert berg.get_model_metadata("toy-retina-luminance", subject=1) == {"toy": {"subject": 1, "units": [0, 1, 2, 3]}}
    assert "berg_model_metadata" in toy.CALLS


def test_broken_plugin_warns_with_its_name_and_others_keep_working(toy_plugin_dir, fresh_pm, monkeypatch):
    (toy_plugin_dir / "berg_toy" / "plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    monkeypatch.delenv("BERG_STRICT_PLUGINS", raising=False)
    with pytest.warns(BERGPluginWarning, match=r"'toy'.*missing dependency xyz"):
        pm = fresh_pm()
    assert "eeg-things_eeg_2-vit_b_32" in pm.registry.ids()
    assert "toy-retina-luminance" not in pm.registry.ids()


def test_strict_mode_turns_a_broken_plugin_into_an_error(toy_plugin_dir, fresh_pm, monkeypatch):
    (toy_plugin_dir / "berg_toy" / "plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    monkeypatch.setenv("BERG_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"'toy'.*missing dependency xyz"):
        fresh_pm()


def test_invalid_card_in_a_plugin_is_reported_with_the_field(toy_plugin_dir, fresh_pm, monkeypatch):
    card = toy_plugin_dir / "berg_toy" / "cards" / "toy.yaml"
    card.write_text(card.read_text().replace("species: simulated", "species: simulated\nflavour: vanilla"))
    monkeypatch.delenv("BERG_STRICT_PLUGINS", raising=False)
    pm = fresh_pm()
    with pytest.warns(BERGPluginWarning, match=r"(?s)'toy'.*flavour"):
        ids = pm.registry.ids()
    assert "toy-retina-luminance" not in ids and "fmri-nsd-fwrf" in ids


def test_autoload_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("BERG_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_plugin_manager()
    try:
        assert get_plugin_manager().registry.ids() == []
        assert BERG("/tmp").list_models() == []
    finally:
        reset_plugin_manager()


def test_duplicate_model_id_is_an_error_naming_both_plugins(toy_plugin_dir, fresh_pm):
    card = toy_plugin_dir / "berg_toy" / "cards" / "toy.yaml"
    card.write_text(card.read_text().replace("id: toy-retina-luminance", "id: eeg-things_eeg_2-vit_b_32"))
    pm = fresh_pm()
    with pytest.raises(PluginError, match=r"eeg-things_eeg_2-vit_b_32.*'eeg_things'.*'toy'"):
        pm.registry  # noqa: B018


def test_misspelled_hook_is_caught_by_check_pending():
    from berg_core import hookimpl

    class Typo:
        @hookimpl
        def berg_model_card(self):  # missing the final "s"
            return []

    pm = PluginManager()
    pm.register(Typo(), name="typo")
    import pluggy

    with pytest.raises(pluggy.PluginValidationError, match="berg_model_card"):
        pm.check_pending()


def test_same_entry_point_name_twice_keeps_the_first_by_value(toy_plugin_dir, plugin_writer, fresh_pm, monkeypatch):
    other = plugin_writer(toy_plugin_dir.parent / "site2", dist_name="berg-toy-fork", package="berg_toyfork", ep_name="toy")
    monkeypatch.syspath_prepend(str(other))
    monkeypatch.delenv("BERG_STRICT_PLUGINS", raising=False)
    with pytest.warns(BERGPluginWarning, match=r"'toy' \(berg_toyfork.plugin\) ignored"):
        pm = fresh_pm()
    # deterministic: entry points are sorted by (name, value), so berg_toy wins whatever the install order
    assert pm.get_plugin("toy").__name__ == "berg_toy.plugin"


def test_plugin_returning_no_model_is_a_plugin_error(toy_store, monkeypatch):
    import berg_toy.plugin as toy

    monkeypatch.setattr(toy, "ToyModel", lambda *a, **k: None)
    with pytest.raises(PluginError, match="did not return a model"):
        toy_store.get_encoding_model("toy-retina-luminance", subject=1, device="cpu")
