"""Parsing ``KEY=VALUE`` fsspec storage options given on the command line."""

from __future__ import annotations

import json
from typing import Any

from berg_core.errors import InvalidParameterError

__all__ = ["parse_storage_options"]


def parse_storage_options(items: list[str] | None) -> dict[str, Any]:
    """``["anon=true", "endpoint_url=http://..."]`` -> ``{"anon": True, "endpoint_url": "http://..."}``.

    Values are read as JSON when they parse (``true``, ``3``, ``{"a": 1}``), else kept as text.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"storage option {item!r} must look like KEY=VALUE (e.g. anon=true)")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
