"""Every hook is documented, and every hook is exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

from berg_core.registry import hookspecs

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("berg_")]
TESTS = Path(__file__).resolve().parents[1]


def test_there_are_hooks_for_discovery_loading_preprocessing_encoding():
    assert {"berg_model_cards", "berg_load_model", "berg_preprocess", "berg_encode_batch"} <= set(HOOKS)


def test_every_hook_is_documented_with_numpydoc_sections():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 80, f"{name} has no real docstring"
        assert "Returns" in doc or "Return the" in doc or "Return" in doc.split("\n")[0], name


def test_every_hook_is_exercised_by_some_test():
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    missing = [name for name in HOOKS if name not in sources]
    assert not missing, f"hooks no test mentions: {missing}"


def test_every_hook_is_documented_in_specs():
    reference = (TESTS.parent / "specs" / "hooks.md").read_text()
    missing = [name for name in HOOKS if f"`{name}`" not in reference]
    assert not missing, f"specs/hooks.md does not document {missing}"


def test_committed_hook_reference_is_up_to_date():
    from berg_core.specs import render_hook_reference

    committed = (TESTS.parent / "specs" / "hooks.md").read_text()
    assert committed == render_hook_reference(), "regenerate with: python -m berg_core.specs"
