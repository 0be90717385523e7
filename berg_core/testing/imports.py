"""Which parts of berg a plugin's sources import: only ``berg_core`` and ``berg_core.plugin`` are allowed."""

from __future__ import annotations

import ast
import os
from pathlib import Path

__all__ = ["sdk_import_violations"]


def _allowed() -> dict[str, set[str]]:
    import berg_core
    from berg_core import plugin

    return {"berg_core": set(berg_core.__all__), "berg_core.plugin": set(plugin.__all__)}


def sdk_import_violations(*paths: str | os.PathLike[str]) -> list[str]:
    """Imports of berg internals in the Python files under ``paths`` (files or folders), function-local ones included.

    Returns
    -------
    list of str
        ``"file:line: what"`` for each import of a module other than ``berg_core`` and
        ``berg_core.plugin``, or of a name those do not export; empty when the sources
        use only the SDK.
    """
    allowed = _allowed()
    files = sorted(f for p in map(Path, paths) for f in ([p] if p.is_file() else p.rglob("*.py")))
    out = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), filename=str(f))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "berg_core":
                module = node.module or ""
                if module not in allowed:
                    out.append(f"{f}:{node.lineno}: imports {module} (import from berg_core.plugin instead)")
                    continue
                out += [f"{f}:{node.lineno}: {a.name} is not a public name of {module}"
                        for a in node.names if a.name not in allowed[module]]
            elif isinstance(node, ast.Import):
                out += [f"{f}:{node.lineno}: imports {a.name} (import from berg_core.plugin instead)"
                        for a in node.names if a.name.split(".")[0] == "berg_core" and a.name not in allowed]
    return out
