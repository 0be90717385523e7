"""Quality gates: ``nox -s tests``, ``nox -s lint``, ``nox -s types``.

Sessions reuse the current interpreter's site-packages for torch (``--system-site-packages``
is not needed: ``venv_backend="none"`` runs in the active environment, which is how CI
installs torch from local wheels without a multi-GB download per session).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "types", "tests"]
INSTALL = ["-r", "requirements.txt"]  # the README's install line: core, every plugin, the test tools


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The test suite, exactly as the README runs it."""
    session.env["BERG_STRICT_PLUGINS"] = "1"
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff on the whole tree; the import-linter contracts of the layout (pyproject.toml)."""
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(venv_backend="none")
def types(session: nox.Session) -> None:
    """mypy on berg_core."""
    session.run("mypy", "berg_core")


@nox.session(venv_backend="none")
def install(session: nox.Session) -> None:
    """Install berg-core, every plugin of the repository and the test tools into the active environment."""
    session.run("python", "-m", "pip", "install", *INSTALL)


@nox.session(venv_backend="none")
def specs(session: nox.Session) -> None:
    """Regenerate specs/ from the code."""
    session.run("python", "-m", "berg_core.specs")
