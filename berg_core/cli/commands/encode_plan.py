"""From ``berg encode``'s flags to one request per model and subject, checked against the cards.

Selections and options follow the ``[MODEL:]KEY=VALUE`` rule of ``berg plot --option``:
``MODEL:KEY=VALUE`` goes to that model only; an unprefixed ``KEY=VALUE`` goes to every model whose
card declares ``KEY`` (and is an error when none does), so models with different selection keys
(fwRF's ROI, EEG's channels) run together in one backbone pass. A prefixed value wins over an
unprefixed one for its model; the same key given twice at the same level is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from berg_core.cards.enforce import check_subject
from berg_core.cards.model_card import ModelCard, result_group
from berg_core.errors import InvalidParameterError

__all__ = ["Request", "assign", "build_requests", "option_names", "selection_names"]

#: ``get_encoding_model`` parameters that have their own flags or are not options.
_NOT_OPTIONS = {"subject", "selection", "device"}


@dataclass
class Request:
    """One model and subject to load, with its selection and options."""

    model_id: str
    subject: int | str | None
    selection: dict[str, Any] | None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return result_group(self.model_id, self.subject)


def selection_names(card: ModelCard) -> list[str]:
    """The selection keys the card declares."""
    return [k.name for k in card.selection_keys]


def option_names(card: ModelCard) -> list[str]:
    """The keyword options of ``get_encoding_model`` the card declares."""
    return [p.name for p in card.parameters if p.function == "get_encoding_model" and p.name not in _NOT_OPTIONS]


def assign(
    items: Iterable[tuple[str, str, Any, str]], cards: dict[str, ModelCard], declared: Any, what: str
) -> dict[str, dict[str, Any]]:
    """``(model, key, value, flag)`` items -> per-model dicts, following the prefix rule.

    ``declared(card)`` lists the keys a card accepts; ``what`` names them in messages
    ("selection key", "option").
    """
    general: dict[str, tuple[Any, str]] = {}
    specific: dict[str, dict[str, tuple[Any, str]]] = {}
    for model, key, value, flag in items:
        if model:
            if model not in cards:
                raise InvalidParameterError(f"{flag} {model}:{key}=... names {model!r}, which is not encoded here; models: {list(cards)}")
            keys = declared(cards[model])
            if key not in keys:
                raise InvalidParameterError(f"{flag}: {model} has no {what} {key!r}; its {what}s: {keys}")
            slot = specific.setdefault(model, {})
        else:
            if not any(key in declared(c) for c in cards.values()):
                if len(cards) == 1:
                    (only, card), = cards.items()
                    raise InvalidParameterError(f"{_flag(flag, key)} does not apply to {only}; its {what}s are {declared(card)}")
                have = {m: declared(c) for m, c in cards.items()}
                raise InvalidParameterError(
                    f"{_flag(flag, key)} does not apply to any of these models; {what}s per model: {have}"
                )
            slot = general
        if key in slot:
            where = f"{model}:" if model else ""
            raise InvalidParameterError(f"{what} {where}{key} is given twice ({slot[key][1]} and {flag}); give it once")
        slot[key] = (value, flag)
    out: dict[str, dict[str, Any]] = {}
    for model_id, card in cards.items():
        keys = declared(card)
        merged = {k: v for k, (v, _) in general.items() if k in keys}
        merged.update({k: v for k, (v, _) in specific.get(model_id, {}).items()})
        out[model_id] = merged
    return out


def _flag(flag: str, key: str) -> str:
    # the sugar flags (--roi) name themselves; the generic ones say which key
    return flag if flag.lstrip("-").replace("-", "_") == key else f"{flag} {key}=..."


def _sugar(flag: str, key: str, values: list[str] | None, single_as_str: bool) -> list[tuple[str, str, Any, str]]:
    if values is None:
        return []
    value: Any = values[0] if single_as_str and len(values) == 1 else values
    return [("", key, value, flag)]


def build_requests(args: Any, cards: dict[str, ModelCard]) -> list[Request]:
    """Every (model, subject) request of the command, checked before any work.

    Raises
    ------
    InvalidParameterError
        A missing or unavailable subject, a key no model declares, a model prefix that is not
        encoded, a value given twice.
    """
    with_subjects = {m: c for m, c in cards.items() if c.subjects is not None}
    if not args.subject and with_subjects:
        valid = {m: c.subjects for m, c in with_subjects.items()}
        raise InvalidParameterError(f"--subject is required; valid subjects: {valid}")
    if args.subject and not with_subjects:
        raise InvalidParameterError(
            f"--subject does not apply: {', '.join(cards)} {'is' if len(cards) == 1 else 'are'} participant-averaged "
            "(no subjects); leave --subject out"
        )
    select = [
        *_sugar("--roi", "roi", args.roi, single_as_str=True),
        *_sugar("--channels", "channels", args.channels, single_as_str=False),
        *((m, k, v, "--select") for m, k, v in args.select),
    ]
    options = [
        *(("", k, v, f"--{k.replace('_', '-')}") for k, v in (("preprocessing", args.preprocessing),
                                                               ("backbone_weights", args.backbone_weights)) if v is not None),
        *((m, k, v, "--option") for m, k, v in args.option),
    ]
    selections = assign(select, cards, selection_names, "selection key")
    model_options = assign(options, cards, option_names, "option")
    requests = []
    for model_id, card in cards.items():
        if card.subjects is None:
            # a participant-averaged model runs once, beside the subjects of the others
            requests.append(Request(model_id, None, selections[model_id] or None, model_options[model_id]))
            continue
        resolved, bad = [], []
        for s in args.subject:
            try:
                resolved.append(check_subject(card, s))
            except InvalidParameterError:
                bad.append(s)
        if bad:
            raise InvalidParameterError(f"subject(s) {bad} are not available for {model_id}; valid subjects: {card.subjects}")
        for s in dict.fromkeys(resolved):
            requests.append(Request(model_id, s, selections[model_id] or None, model_options[model_id]))
    return requests
