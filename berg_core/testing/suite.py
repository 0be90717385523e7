"""``PluginConformance``: the conformance checks as pytest tests, one per check."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from berg_core.testing.conformance import CHECKS, ConformanceReport, check_plugin

__all__ = ["PluginConformance"]


class PluginConformance:
    """Subclass in a plugin's tests (class name starting with ``Test``) and set :attr:`plugin`.

    The checks run once per class, on a synthetic store in a temporary folder; each
    check is then one test, failing with the models and reasons it found.

    Override the ``conformance_kwargs`` fixture (a class-scoped classmethod, like here)
    to pass more :func:`check_plugin` arguments (subjects, options, load_options,
    backbone, ...), possibly built from other fixtures.
    """

    #: entry-point name of the plugin, or its hook module / object
    plugin: ClassVar[Any] = None
    #: ``{check: reason}`` of checks known to fail now; they are reported as xfail, never hidden
    known_failures: ClassVar[dict[str, str]] = {}

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_kwargs(cls) -> dict[str, Any]:
        return {}

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_report(
        cls, tmp_path_factory: pytest.TempPathFactory, conformance_kwargs: dict[str, Any]
    ) -> ConformanceReport:
        if cls.plugin is None:
            pytest.fail(f"{cls.__name__} must set plugin = '<entry-point name>' or the plugin module")
        kwargs = {"store_root": tmp_path_factory.mktemp("conformance"), **conformance_kwargs}
        return check_plugin(cls.plugin, **kwargs)

    @pytest.mark.parametrize("check", CHECKS)
    def test_conformance(self, conformance_report: ConformanceReport, check: str) -> None:
        failures = conformance_report.failures(check)
        if failures and check in self.known_failures:
            pytest.xfail(self.known_failures[check])
        assert not failures, conformance_report.describe(failures)
