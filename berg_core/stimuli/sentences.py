"""Sentences as stimuli (cards with ``stimuli: sentences``).

Accepted (anything else raises :class:`~berg_core.StimulusError`):

* a ``str``: one sentence, kept exactly as given;
* a list or tuple (or 1-d NumPy array, or pandas Series) of ``str``: one sentence each;
* a ``.txt`` file, as a :class:`pathlib.Path` or as a path string ending in ``.txt`` with no
  white space: UTF-8 text, one sentence per non-empty line, each line stripped of surrounding
  white space (a byte-order mark is dropped).

A sentence must hold some non-white-space text. Ids are 0..N-1 (line order for a file) unless
``stimulus_ids`` are given. A list of strings is text here; to an image model it names files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from berg_core.errors import StimulusError
from berg_core.stimuli.collection import ItemCollection, describe

__all__ = ["ACCEPTED_SENTENCES", "SentenceStimuli", "as_sentences", "read_sentence_file"]

ACCEPTED_SENTENCES = (
    "a sentence (str), a list of sentences, or a .txt file with one sentence per line (a pathlib.Path, "
    "or a path string ending in .txt)"
)
#: a sentence file is read whole: a bound keeps a wrong path (a disk image named .txt) from filling memory
MAX_SENTENCE_FILE_BYTES = 1 << 28


@dataclass
class SentenceStimuli(ItemCollection):
    """Validated sentences; ``texts()`` gives them, one ``str`` per stimulus."""

    kind: ClassVar[str] = "sentences"
    unit: ClassVar[str] = "sentence"

    def texts(self) -> list[str]:
        """The sentences of this batch, in order."""
        return list(self.items)

    def fingerprint_parts(self) -> list[bytes]:
        return [t.encode("utf-8") for t in self.items]


def _is_file_text(text: str) -> bool:
    return text.lower().endswith(".txt") and not any(ch.isspace() for ch in text)


def read_sentence_file(path: str | os.PathLike[str]) -> list[str]:
    """The non-empty lines of a UTF-8 text file, stripped; a :class:`StimulusError` when there are none."""
    p = Path(path).expanduser()
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise StimulusError(f"sentence file {str(path)!r} {what}; expected a .txt file with one sentence per line")
    try:
        size = p.stat().st_size
        if size > MAX_SENTENCE_FILE_BYTES:
            raise StimulusError(
                f"sentence file {str(path)!r} is {size:,} bytes, more than {MAX_SENTENCE_FILE_BYTES:,}; "
                "expected a text file of sentences"
            )
        raw = p.read_bytes()
    except OSError as exc:
        raise StimulusError(f"sentence file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StimulusError(
            f"sentence file {str(path)!r} is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save it as UTF-8"
        ) from None
    lines = [line.strip() for line in text.splitlines()]
    sentences = [line for line in lines if line]
    if not sentences:
        raise StimulusError(f"sentence file {str(path)!r} holds no sentences (every line is empty)")
    return sentences


def _check_sentences(items: list[Any]) -> list[str]:
    if not items:
        raise StimulusError(f"the list of sentences is empty; expected {ACCEPTED_SENTENCES}")
    for i, s in enumerate(items):
        if not isinstance(s, str):
            hint = " (a .txt file is given alone, not in a list)" if isinstance(s, os.PathLike) else ""
            raise StimulusError(f"sentence {i} is {describe(s)}; expected a str{hint}")
        if not s.strip():
            raise StimulusError(f"sentence {i} is empty ({s!r}); expected some text")
    return [str(s) for s in items]  # NumPy's str_ becomes a plain str


def as_sentences(stimulus: Any, stimulus_ids: Any = None) -> SentenceStimuli:
    """Validate ``stimulus`` as sentences (see the module's accepted forms).

    Parameters
    ----------
    stimulus
        A sentence, a list of sentences or a ``.txt`` file.
    stimulus_ids
        One id per sentence, distinct, all strings or all integers. Default 0..N-1.

    Raises
    ------
    StimulusError
        With what was given and what is accepted.
    """
    if isinstance(stimulus, SentenceStimuli):
        out = stimulus
    elif isinstance(stimulus, os.PathLike) or (isinstance(stimulus, str) and _is_file_text(stimulus)):
        if Path(stimulus).suffix.lower() != ".txt":
            raise StimulusError(f"{str(stimulus)!r} is not a .txt file; expected {ACCEPTED_SENTENCES}")
        texts = read_sentence_file(stimulus)
        out = SentenceStimuli(ids=list(range(len(texts))), items=texts)
    elif isinstance(stimulus, str):
        texts = _check_sentences([stimulus])
        out = SentenceStimuli(ids=[0], items=texts)
    elif isinstance(stimulus, (list, tuple)) or (isinstance(stimulus, np.ndarray) and stimulus.ndim == 1) or (
        type(stimulus).__name__ == "Series" and type(stimulus).__module__.startswith("pandas")
    ):
        texts = _check_sentences(list(stimulus))
        out = SentenceStimuli(ids=list(range(len(texts))), items=texts)
    else:
        raise StimulusError(f"unsupported stimulus for a sentences model: got {describe(stimulus)}; expected {ACCEPTED_SENTENCES}")
    return out if stimulus_ids is None else out.with_ids(stimulus_ids)
