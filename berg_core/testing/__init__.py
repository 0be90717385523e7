"""Conformance kit: prove a plugin meets berg's contract with one call.

In a plugin's tests::

    from berg_core.testing import check_plugin

    def test_my_plugin_conforms(tmp_path):
        check_plugin("my_plugin", store_root=tmp_path).raise_for_failures()

or, for one pytest test per check::

    from berg_core.testing import PluginConformance

    class TestMyPlugin(PluginConformance):
        plugin = "my_plugin"          # entry-point name, or the hook module itself

Every model of the plugin is written to a small synthetic store (its
``berg_write_synthetic_store`` hook) and checked: see :data:`CHECKS`.
``sdk_import_violations(folder)`` lists imports of berg internals in a plugin's
sources (a plugin imports only ``berg_core`` and ``berg_core.plugin``).
"""

from __future__ import annotations

from typing import Any

from berg_core.testing.conformance import CHECKS, CheckResult, ConformanceReport, check_plugin
from berg_core.testing.imports import sdk_import_violations

__all__ = ["CHECKS", "CheckResult", "ConformanceReport", "PluginConformance", "check_plugin", "sdk_import_violations"]


def __getattr__(name: str) -> Any:
    if name == "PluginConformance":  # needs pytest, which check_plugin alone does not
        from berg_core.testing.suite import PluginConformance

        return PluginConformance
    raise AttributeError(f"module 'berg_core.testing' has no attribute {name!r}")
