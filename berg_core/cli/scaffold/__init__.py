"""``berg new-plugin``: write a complete plugin distribution to start from.

The templates under ``template/`` are package data (see ``pyproject.toml``); file names
ending in ``.tmpl`` have ``$$names`` filled in (:class:`string.Template`), the
``package/`` folder becomes the plugin's import package, and the card is named after
the model id.
"""

from __future__ import annotations

import keyword
import os
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from berg_core.cards.model_card import MODEL_ID_PATTERN
from berg_core.errors import InvalidParameterError

__all__ = ["plugin_names", "write_plugin_scaffold"]

#: PEP 508 distribution names
_DIST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


def plugin_names(dist_name: str) -> dict[str, str]:
    """The names a distribution called ``dist_name`` gets: import package, entry point, model id.

    Raises
    ------
    InvalidParameterError
        ``dist_name`` is not a distribution name that gives a Python package name.
    """
    if not isinstance(dist_name, str) or not _DIST_NAME.match(dist_name):
        raise InvalidParameterError(
            f"plugin name must be a distribution name (letters, digits, '-', '_', '.'; starting and ending with a "
            f"letter or digit), e.g. berg-my-model; got {dist_name!r}"
        )
    package = re.sub(r"[-_.]+", "_", dist_name).lower()
    if not package.isidentifier() or keyword.iskeyword(package) or package[0].isdigit():
        raise InvalidParameterError(f"plugin name {dist_name!r} gives the package name {package!r}, which Python cannot "
                                    "import; start it with a letter, e.g. berg-my-model")
    short = package.removeprefix("berg_") or package
    model_id = f"toy-{short}-vit_b_32"
    if not re.match(MODEL_ID_PATTERN, model_id):  # pragma: no cover - the package rules above imply it
        raise InvalidParameterError(f"plugin name {dist_name!r} gives no valid model id ({model_id!r})")
    return {"dist_name": dist_name, "package": package, "entry_point": short, "short_name": short, "model_id": model_id}


def _templates() -> Any:
    return resources.files(__name__) / "template"


def _walk(folder: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        rel = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                out += _walk(entry, rel + "/")
        else:
            out.append((rel, entry))
    return out


def _target(rel: str, names: dict[str, str]) -> str:
    rel = rel.removesuffix(".tmpl")
    if rel.startswith("package/"):
        rel = names["package"] + rel.removeprefix("package")
    if rel.endswith("cards/model.yaml"):
        rel = rel.removesuffix("model.yaml") + f"{names['model_id']}.yaml"
    return rel


def write_plugin_scaffold(dist_name: str, output: str | os.PathLike[str]) -> list[Path]:
    """Write ``output/dist_name/``: a plugin distribution with one model on the shared ViT-B/32.

    Parameters
    ----------
    dist_name
        Distribution name, e.g. ``berg-my-model`` (package ``berg_my_model``).
    output
        Folder to create the distribution in (created if needed).

    Returns
    -------
    list of Path
        Files written.

    Raises
    ------
    InvalidParameterError
        A bad name, an existing ``output/dist_name`` that is not empty, or a folder that cannot be written.
    """
    names = plugin_names(dist_name)
    root = Path(output).expanduser() / dist_name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InvalidParameterError(f"{root} already exists and is not empty; choose another --output or remove it")
    written = []
    try:
        for rel, source in _walk(_templates()):
            target = root / _target(rel, names)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = source.read_text(encoding="utf-8")
            target.write_text(Template(text).substitute(names) if rel.endswith(".tmpl") else text, encoding="utf-8")
            written.append(target)
    except OSError as exc:
        raise InvalidParameterError(f"cannot write the plugin to {root}: {exc.strerror or exc}") from None
    return written
