"""The plugin SDK (``berg_core.plugin``): every name resolves, importing it stays cheap, and the
in-tree plugins import core only through it (and ``berg_core``'s public names)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import berg_core
from berg_core import plugin as sdk
from berg_core.testing import sdk_import_violations

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(p for p in (ROOT / "plugins").rglob("*.py") if "egg-info" not in str(p))


def test_the_plugins_have_sources_to_scan():
    assert len(PLUGIN_SOURCES) > 10
    assert any("from berg_core.plugin import" in p.read_text() for p in PLUGIN_SOURCES)


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT / "plugins")))
def test_plugins_import_only_the_sdk(path: Path):
    bad = sdk_import_violations(path)
    assert not bad, "\n".join(bad)


def test_import_scan_finds_internals(tmp_path: Path):
    src = tmp_path / "mod.py"
    src.write_text(
        "import berg_core.store.model_store\n"
        "from berg_core import hookimpl, Store\n"
        "from berg_core.plugin import ModelCard, _LAZY\n"
        "def f():\n    from berg_core.models.weights import read_metadata\n"
    )
    bad = sdk_import_violations(tmp_path)
    assert [b.split(": ", 1)[1] for b in bad] == [
        "imports berg_core.store.model_store (import from berg_core.plugin instead)",
        "Store is not a public name of berg_core",
        "_LAZY is not a public name of berg_core.plugin",
        "imports berg_core.models.weights (import from berg_core.plugin instead)",
    ]


def test_every_sdk_name_resolves_and_is_listed_once():
    assert len(sdk.__all__) == len(set(sdk.__all__))
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    assert set(dir(sdk)) == set(sdk.__all__)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        sdk.not_a_name  # noqa: B018


def test_sdk_names_are_the_objects_core_uses():
    from berg_core.backbones.vit_readout import ViTB32Readout
    from berg_core.cards.model_card import ModelCard
    from berg_core.models.base import EncodingModel

    assert sdk.EncodingModel is EncodingModel
    assert sdk.ViTB32Readout is ViTB32Readout
    assert sdk.ModelCard is ModelCard
    assert sdk.hookimpl is berg_core.hookimpl
    assert issubclass(sdk.ViTB32Readout, sdk.EncodingModel)


def test_result_model_id():
    import xarray as xr

    assert sdk.result_model_id(xr.DataArray([1], attrs={"model_id": "a-b"})) == "a-b"
    assert sdk.result_model_id(xr.DataArray([1])) is None
    assert sdk.result_model_id(xr.DataArray([1], attrs={"model_id": 3})) is None
    assert sdk.result_model_id("not a result") is None


def test_importing_the_sdk_and_reading_cards_does_not_import_torch():
    code = (
        "import sys\n"
        "from berg_core.plugin import ModelCard, cards_in, hookimpl, InvalidParameterError, result_model_id\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sdk_reference_in_specs_is_current():
    from berg_core.specs import render_sdk_reference

    committed = (ROOT / "specs" / "sdk.md").read_text(encoding="utf-8")
    assert committed == render_sdk_reference(), "regenerate with: python -m berg_core.specs"
    for name in sdk.__all__:
        assert f"### `{name}`" in committed
