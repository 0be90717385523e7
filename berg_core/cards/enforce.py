"""Core's checks of what a user passes against what a model's card declares.

Every model goes through these before its plugin is called: the subject, the
load, encode and metadata options (names, types, valid values), and the
selection's keys and their conflicts (the values of the keys are checked by
:func:`berg_core.models.selection.check_selection`, which builds on this
module). A plugin declares its parameters in its card and does not check them
again.

All of them raise :class:`~berg_core.errors.InvalidParameterError` in one
style: what was given, what is valid, and for a misspelt name the closest
valid one (``Did you mean 'V1'?``).
"""

from __future__ import annotations

import difflib
import numbers
import os
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from berg_core.cards.model_card import ModelCard, Parameter
from berg_core.errors import InvalidParameterError

__all__ = [
    "ENCODE_ARGUMENTS",
    "LOAD_ARGUMENTS",
    "accepted_options",
    "check_load_options",
    "check_option_values",
    "check_options",
    "check_selection_keys",
    "check_subject",
    "closest",
    "did_you_mean",
]

#: ``get_encoding_model``'s own arguments: declared on cards as parameters, but never options
LOAD_ARGUMENTS = frozenset({"subject", "selection", "device"})
#: ``encode``'s own arguments (cards declare ``stimulus`` and ``batch_size`` for BERG 2.0's describe)
ENCODE_ARGUMENTS = frozenset({"stimulus", "batch_size", "model", "return_metadata", "show_progress", "precision"})


def closest(name: Any, valid: Iterable[Any]) -> str | None:
    """The valid name ``name`` most likely meant: the same letters in another case, else difflib's best match."""
    if not isinstance(name, str):
        return None
    names = [v for v in valid if isinstance(v, str)]
    same_case = [v for v in names if v.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, names, n=1)
    return close[0] if close else None


def did_you_mean(names: Iterable[Any], valid: Iterable[Any]) -> str:
    """``" Did you mean 'X'?"`` for the first of ``names`` with a close valid name, else ``""``."""
    valid = list(valid)
    for name in names:
        match = closest(name, valid)
        if match is not None:
            return f" Did you mean {match!r}?"
    return ""


def check_subject(card: ModelCard, subject: Any) -> int | str | None:
    """Validate ``subject`` against the card and return it in the card's form; the error lists the valid subjects.

    Integer cards take integers or ASCII digit strings (``"2"``). Cards of named subjects take the
    exact name; an integer or digit string also matches a zero-padded numeric name of the same value
    (``1`` and ``"1"`` select ``"01"``). A participant-averaged card (``subjects: null``) takes no
    subject: ``None`` passes (and is returned), anything else is refused.

    Raises
    ------
    InvalidParameterError
        The subject is missing, of the wrong type, or not one of the card's.
    """
    valid = card.subjects
    if valid is None:
        if subject is None:
            return None
        raise InvalidParameterError(
            f"{card.id} is participant-averaged (its card lists no subjects): it takes no subject, got {subject!r:.60}; "
            "leave subject out (or pass None)"
        )
    if subject is None:
        raise InvalidParameterError(f"{card.id} needs subject=..., one of {valid}")
    if all(isinstance(v, str) for v in valid):
        return _named_subject(card, subject, [str(v) for v in valid])
    if isinstance(subject, bool) or not isinstance(subject, numbers.Integral):
        # only ASCII decimals: str.isdigit() also accepts '²' and other digits int() refuses
        number = _digits(subject)
        if number is None:
            raise InvalidParameterError(
                f"subject must be an integer, one of {valid}, got {type(subject).__name__} {subject!r:.60}"
            )
        subject = number
    subject = int(subject)
    if subject not in valid:
        raise InvalidParameterError(f"subject {subject} is not available for {card.id}; valid subjects: {valid}")
    return subject


#: BERG's file-name spelling of a numbered subject (THINGS-fMRI1's older card took "sub-01" itself)
_PREFIXED_NUMBER = re.compile(r"^(?:sub|subject)-?([0-9]{1,9})$", re.IGNORECASE)


def _digits(value: Any) -> int | None:
    """The value of an integer, an ASCII digit string (at most 9 digits) or ``"sub-01"``/``"subject-01"``, else ``None``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    text = value.strip() if isinstance(value, str) else ""
    prefixed = _PREFIXED_NUMBER.match(text)
    if prefixed:
        text = prefixed.group(1)
    if text.isascii() and text.isdecimal() and len(text) <= 9:
        return int(text)
    return None


def _named_subject(card: ModelCard, subject: Any, valid: list[str]) -> str:
    if isinstance(subject, str) and subject in valid:
        return subject
    if isinstance(subject, str) and subject.strip() in valid:
        return subject.strip()
    number = _digits(subject)
    if number is not None:
        # 1 and "1" name "01": numeric names are often zero-padded ("01"-"09")
        same = [v for v in valid if v.isascii() and v.isdecimal() and int(v) == number]
        if len(same) == 1:
            return same[0]
    elif not isinstance(subject, str):
        raise InvalidParameterError(
            f"subject of {card.id} must be one of the names {valid}, got {type(subject).__name__} {subject!r:.60}"
        )
    raise InvalidParameterError(
        f"subject {subject!r:.60} is not available for {card.id}; valid subjects: {valid}"
        + _hint(did_you_mean([str(subject)], valid))
    )


def check_options(
    options: Mapping[str, Any],
    accepted: Collection[str],
    owner: str,
    what: str = "option",
    meanings: Mapping[str, str] | None = None,
) -> None:
    """Refuse keyword options not in ``accepted``: the one "unknown option" check of core and plugins.

    Parameters
    ----------
    options
        What the user passed.
    accepted
        The option names allowed (listed sorted in the message).
    owner
        Who refuses them, e.g. ``"fmri-nsd-fwrf.get_encoding_model"``.
    what
        What an option is called in the message (``"encode option"``, ``"plot option"``...).
    meanings
        Option name -> what it does, to list instead of the bare names.
    """
    unknown = sorted((str(k) for k in options if k not in accepted), key=str)
    if unknown:
        shown: Any = sorted(accepted) or "none"
        if meanings:
            shown = "; ".join(f"{k}: {meanings[k]}" for k in accepted if k in meanings)
        raise InvalidParameterError(
            f"unknown {what}(s) {unknown} for {owner}; accepted: {shown}" + _hint(did_you_mean(unknown, accepted))
        )


def accepted_options(card: ModelCard, function: str) -> dict[str, Parameter | None]:
    """Options of ``function`` the card declares (name -> its parameter), ``preprocessing`` when it has modes."""
    own = LOAD_ARGUMENTS if function == "get_encoding_model" else ENCODE_ARGUMENTS if function == "encode" else set()
    out: dict[str, Parameter | None] = {p.name: p for p in card.parameters if p.function == function and p.name not in own}
    if function == "get_encoding_model" and card.preprocessing and "preprocessing" not in out:
        out["preprocessing"] = None  # the card's preprocessing modes are its valid values
    return out


def check_load_options(card: ModelCard, options: Mapping[str, Any]) -> None:
    """Names, types and valid values of ``get_encoding_model``'s keyword options, against the card."""
    declared = accepted_options(card, "get_encoding_model")
    check_options(options, declared, f"{card.id}.get_encoding_model")
    check_option_values(card, options, declared)


def check_option_values(card: ModelCard, options: Mapping[str, Any], declared: Mapping[str, Parameter | None]) -> None:
    """Each option's type and valid values, as its parameter declares them (``None`` always passes)."""
    for name, value in options.items():
        param = declared.get(name)
        if value is None:
            continue
        valid = param.valid_values if param is not None else None
        if name == "preprocessing" and card.preprocessing:
            valid = sorted(card.preprocessing)
        if param is not None:
            _check_type(name, value, param)
        if valid is not None and not _is_one_of(value, valid):
            raise InvalidParameterError(
                f"{name}={value!r:.100} is not available for {card.id}; expected one of {sorted(valid, key=str)}"
                + _hint(did_you_mean([value], valid))
            )


def _is_one_of(value: Any, valid: list[Any]) -> bool:
    try:
        return any(type(value) is type(v) and value == v for v in valid) or (
            not isinstance(value, bool) and isinstance(value, numbers.Number) and any(
                not isinstance(v, bool) and isinstance(v, numbers.Number) and value == v for v in valid)
        )
    except (TypeError, ValueError):  # e.g. an array, whose == is elementwise
        return False


#: card type text -> (what the message says, test); types not listed here are not checked
_TYPES: dict[str, tuple[str, Any]] = {
    "str": ("a string", lambda v: isinstance(v, str)),
    "path": ("a file path (str or os.PathLike)", lambda v: isinstance(v, (str, os.PathLike))),
    "int": ("an integer", lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)),
    "bool": ("True or False", lambda v: isinstance(v, bool)),
    "list": ("a list", lambda v: isinstance(v, (list, tuple))),
    "dict": ("a dict", lambda v: isinstance(v, dict)),
}


def _check_type(name: str, value: Any, param: Parameter) -> None:
    # "str | list" accepts either; a type the table does not know (numpy.ndarray...) is not checked at all
    kinds = [t.strip() for t in param.type.split("|")]
    if not kinds or any(t not in _TYPES for t in kinds):
        return
    if not any(_TYPES[t][1](value) for t in kinds):
        expected = " or ".join(_TYPES[t][0] for t in kinds)
        if param.valid_values:
            expected += f", one of {sorted(param.valid_values, key=str)}"
        raise InvalidParameterError(f"{name} must be {expected}, got {type(value).__name__} {value!r:.100}")


def check_selection_keys(card: ModelCard, selection: Mapping[Any, Any]) -> None:
    """Unknown selection keys and keys the card declares in conflict (``conflicts_with``)."""
    names = [k.name for k in card.selection_keys]
    unknown = sorted((str(k) for k in selection if k not in names), key=str)
    if unknown:
        hint = did_you_mean(unknown, names)
        raise InvalidParameterError(
            f"unknown selection key(s) {unknown} for {card.id}; accepted: {names or 'none'}" + _hint(hint)
        )
    for key in card.selection_keys:
        # None stands for an absent key, as in BERG 2.0 (roi=None with vertex masks)
        if selection.get(key.name) is None:
            continue
        others = [o for o in key.conflicts_with if selection.get(o) is not None]
        if others:
            raise InvalidParameterError(
                f"selection gives both {key.name!r} and {others}; {key.name!r} conflicts with "
                f"{key.conflicts_with} on {card.id}: choose either, not both"
            )


def _hint(did_you_mean_text: str) -> str:
    # the list of valid values ends a sentence; the suggestion follows it
    return f".{did_you_mean_text}" if did_you_mean_text else ""
