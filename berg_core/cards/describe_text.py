"""The text of ``berg describe`` / ``BERG.describe``: a model card as a reader wants it.

Every section the card's own wording refers to (input, preprocessing) is printed, valid values
are spelled out (long evenly spaced numeric lists as a range and step), and performance and
references read as text rather than dict dumps.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

__all__ = ["describe_text", "subjects_text", "values_text"]

_WIDTH = 100
#: Longer lists of names are still printed whole (a user picks ROI and channel names from them).
_MAX_NAMES = 200


def _wrap(text: Any, indent: str = "  ", hang: str = "  ") -> list[str]:
    return textwrap.wrap(
        " ".join(str(text).split()), _WIDTH, initial_indent=indent, subsequent_indent=indent + hang,
        break_on_hyphens=False, break_long_words=False,  # names such as mTL-words and URLs stay whole
    ) or [indent]


def values_text(values: list[Any]) -> str:
    """``[-0.1, -0.095, ..., 0.595]`` -> ``-0.1 to 0.595 in steps of 0.005 (140 values)``; names listed."""
    numeric = len(values) > 12 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        arr = np.asarray(values, dtype=np.float64)
        steps = np.diff(arr)
        if np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9):
            step = float(np.round(steps[0], 9))
            return f"{arr[0]:g} to {arr[-1]:g} in steps of {step:g} ({arr.size} values)"
    shown = [str(v) for v in values[:_MAX_NAMES]]
    more = f", ... ({len(values)} in all)" if len(values) > _MAX_NAMES else ""
    return ", ".join(shown) + more


def _dims(spec: dict[str, Any]) -> str:
    return ", ".join(d["name"] + (f"={d['size']}" if d.get("size") else "") for d in spec.get("dims", []))


def _selection(keys: dict[str, Any]) -> list[str]:
    lines = ["", "Selection keys (selection={KEY: VALUE}, berg encode --select [MODEL:]KEY=VALUE):"]
    for name, key in keys.items():
        lines.append(f"  {name}:")
        lines += _wrap(key.get("description", ""), "      ")
        if key.get("valid_values"):
            lines += _wrap("valid: " + values_text(list(key["valid_values"])), "      ")
        if key.get("conflicts_with"):
            lines.append(f"      not together with: {', '.join(key['conflicts_with'])}")
    return lines


def _preprocessing(modes: dict[str, str], default: str | None) -> list[str]:
    lines = ["", "Preprocessing (option preprocessing=MODE):"]
    for mode, text in modes.items():
        lines += _wrap(f"{mode}{' (default)' if mode == default else ''}: {text}")
    return lines


def _performance(perf: dict[str, Any]) -> list[str]:
    lines = ["", "Performance:"]
    for key, value in perf.items():
        lines += _wrap(f"{key}: {value if not isinstance(value, dict) else '; '.join(f'{k}: {v}' for k, v in value.items())}")
    return lines


def _references(refs: list[dict[str, Any]]) -> list[str]:
    lines = ["", "References:"]
    for ref in refs:
        where = " ".join(f"{k}: {ref[k]}" if k != "doi" else f"doi:{ref[k]}" for k in ("doi", "url") if ref.get(k))
        lines += _wrap(f"- {ref.get('citation', '')}{'  ' + where if where else ''}")
    return lines


def subjects_text(subjects: list[int] | list[str] | None) -> str:
    """A card's subjects in a few words (``berg models``): ``subjects 1-8``, ``subjects N, F``, ``participant-averaged``."""
    if subjects is None:
        return "participant-averaged"
    ints = all(isinstance(s, int) for s in subjects)
    if ints and len(subjects) > 1 and list(subjects) == list(range(int(subjects[0]), int(subjects[0]) + len(subjects))):
        return f"subjects {subjects[0]}-{subjects[-1]}"
    if len(subjects) <= 3:
        return "subjects " + ", ".join(map(str, subjects))
    return f"subjects {subjects[0]}, {subjects[1]} ... {subjects[-1]} ({len(subjects)})"


def describe_text(info: dict[str, Any]) -> str:
    """The text of a ``describe`` dict (see :func:`berg_core.api.describe_card`)."""
    mi = info["model_info"]
    lines = [f"Model: {info['model_id']}", "=" * (7 + len(info["model_id"])), *_wrap(info["description"], "", ""), ""]
    for key in ("modality", "training_dataset", "species", "stimuli", "architecture", "creator", "subjects", "backbone",
                "units", "template_space", "license"):
        if key == "subjects" and mi.get(key) is None and "subjects" in mi:
            lines.append(f"{key:>17}: none (participant-averaged: no subject= to give)")
        elif mi.get(key) not in (None, "", []):
            value = values_text(mi[key]) if isinstance(mi[key], list) else mi[key]
            body = _wrap(value, " " * 19)
            lines += [f"{key:>17}: {body[0].lstrip()}", *body[1:]]
    lines += ["", "Input:", *_wrap(info["input"].get("description", "")), f"  dims: {_dims(info['input'])}"]
    lines += ["", "Output:", *_wrap(info["output"].get("description", "")), f"  dims: {_dims(info['output'])}"]
    lines += ["", "Parameters:"]
    for name, p in info["parameters"].items():
        req = "required" if p["required"] else f"default {p['default']!r}"
        lines += _wrap(f"{name} ({p['type']}, {p['function']}, {req}): {p['description']}")
        if p.get("valid_values"):
            lines += _wrap("valid: " + values_text(list(p["valid_values"])), "      ")
    if mi.get("selection_keys"):
        lines += _selection(mi["selection_keys"])
    if mi.get("preprocessing"):
        lines += _preprocessing(mi["preprocessing"], mi.get("default_preprocessing"))
    if info.get("performance"):
        lines += _performance(info["performance"])
    if mi.get("references"):
        lines += _references(mi["references"])
    if info.get("example_usage"):
        lines += ["", "Example:", *("  " + ln for ln in info["example_usage"].rstrip().splitlines())]
    return "\n".join(lines)
