"""``berg validate``: check cards (files, folders) or installed plugins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berg_core.cards.model_card import ModelCard, load_card
from berg_core.errors import BERGError, CardError

__all__ = ["ValidationReport", "validate_target"]


@dataclass
class ValidationReport:
    """Result of validating one card source."""

    source: str
    card: ModelCard | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _validate_file(path: Path) -> ValidationReport:
    try:
        return ValidationReport(str(path), load_card(path), None)
    except CardError as exc:
        return ValidationReport(str(path), None, str(exc))


def validate_target(target: str) -> list[ValidationReport]:
    """Validate a card file, a folder of cards, or an installed plugin by name.

    Raises
    ------
    CardError
        ``target`` is neither a path nor an installed plugin.
    """
    path = Path(target)
    if path.is_file():
        return [_validate_file(path)]
    if path.is_dir():
        files = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
        if not files:
            raise CardError(f"no model cards (*.yaml) found under {target}")
        return [_validate_file(f) for f in files]
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    names = [name for name, _ in pm.list_name_plugin()]
    if target not in names:
        raise CardError(
            f"{target!r} is neither a card file, a folder, nor an installed berg plugin; installed plugins: {sorted(names)}"
        )
    reports = []
    for impl in pm.hook.berg_model_cards.get_hookimpls():
        if impl.plugin_name != target:
            continue
        try:
            answer: Any = impl.function()
            cards = list(answer or [])
        except BERGError as exc:
            return [ValidationReport(target, None, str(exc))]
        for c in cards:
            reports.append(ValidationReport(f"{target}:{getattr(c, 'id', '?')}", c if isinstance(c, ModelCard) else None,
                                            None if isinstance(c, ModelCard) else f"not a ModelCard: {type(c).__name__}"))
    if not reports:
        return [ValidationReport(target, None, "the plugin provides no model cards")]
    return reports
