"""Timed words as stimuli (cards with ``stimuli: timed_words``): stories as words with onsets.

One story is one stimulus: a table of words with their onset times in seconds (and optionally
their offsets). Accepted (anything else raises :class:`~berg_core.StimulusError`):

* a pandas DataFrame with columns ``word`` and ``onset`` (optional ``offset``; other columns are
  ignored);
* a dict of lists (or arrays) with those keys, of equal lengths;
* a ``.tsv`` file with a header row naming those columns (tab-separated, no quoting: a quote is
  part of a word), as a path string or :class:`pathlib.Path`; or a folder of ``.tsv`` files;
* a :class:`TimedWords`;
* a list of any of these: several stories.

Stories without onsets: a model whose card says ``word_onsets: optional`` (its math uses the words and
their order only) also takes a plain list of words as one story (``["hello", "world"]``; a list of such
lists is several stories), and tables or files without an ``onset`` column. Such a story's onsets are
unknown: NaN, never a guess. A list of strings is read as words unless every entry is the path of an
existing ``.tsv`` file. A model that needs onsets (the default) refuses all of these as before.

Rules: a story holds at least one word; every word is a string (``"NA"`` and ``"null"`` are
words, not missing values; blank entries such as pauses of a transcript are kept, because
upstream's models keep them: the LeBel model gives them no tokens but counts their onsets); onsets are finite and non-decreasing; offsets, when
given, are finite and not before their onsets. Ids are the file stems for TSV files, else
0..N-1, unless ``stimulus_ids`` are given.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from berg_core.errors import StimulusError
from berg_core.stimuli.collection import ItemCollection, describe

__all__ = [
    "ACCEPTED_TIMED_WORDS",
    "ACCEPTED_WITHOUT_ONSETS",
    "ONSET_RULES",
    "TimedWordStimuli",
    "TimedWords",
    "as_timed_words",
    "read_words_tsv",
    "timed_words",
]

ACCEPTED_TIMED_WORDS = (
    "a story as a pandas DataFrame with columns 'word' and 'onset' (seconds; optional 'offset'), a dict of lists "
    "with those keys, a .tsv file (or folder of .tsv files) with those columns, or a list of these (several stories)"
)
#: what a model whose card says ``word_onsets: optional`` takes on top of :data:`ACCEPTED_TIMED_WORDS`
ACCEPTED_WITHOUT_ONSETS = (
    "; without onsets also a list of words (one story), a list of such lists (several stories), "
    "or tables with a 'word' column only"
)
#: the values of a card's ``word_onsets`` (None: required)
ONSET_RULES = ("required", "optional")
#: a TSV of words is read whole: a bound keeps a wrong path from filling memory
MAX_TSV_BYTES = 1 << 28


@dataclass(frozen=True, eq=False)
class TimedWords:
    """One story: its words and their onsets (and offsets) in seconds.

    Build it with :func:`timed_words` (which checks it), or any accepted form through
    :func:`as_timed_words`. The arrays are read-only float64.
    """

    words: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def onsets_known(self) -> bool:
        """Whether the story has onsets (``False``: a story of plain words, onsets NaN)."""
        return bool(np.isfinite(self.onsets).all())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TimedWords):
            return NotImplemented
        same_offsets = (self.offsets is None and other.offsets is None) or (
            self.offsets is not None and other.offsets is not None and np.array_equal(self.offsets, other.offsets)
        )
        return self.words == other.words and np.array_equal(self.onsets, other.onsets, equal_nan=True) and same_offsets

    __hash__ = None  # type: ignore[assignment]


def _times(values: Any, column: str, n: int, what: str) -> np.ndarray:
    try:
        arr = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        bad = next((v for v in values if not _is_number(v)), values)
        raise StimulusError(f"{what}: column {column!r} must hold numbers (seconds), got {describe(bad)}") from None
    if arr.shape != (n,):
        raise StimulusError(f"{what}: column {column!r} has {arr.size} values for {n} words; expected one per word")
    bad_rows = np.flatnonzero(~np.isfinite(arr))
    if bad_rows.size:
        i = int(bad_rows[0])
        raise StimulusError(
            f"{what}: {column} of word {i} is {arr[i]}; expected a finite time in seconds "
            f"({bad_rows.size} such value(s))"
        )
    arr.setflags(write=False)
    return arr


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def timed_words(words: Any, onsets: Any, offsets: Any = None, what: str = "the story") -> TimedWords:
    """A checked :class:`TimedWords` (see the module's rules).

    Parameters
    ----------
    words
        The words, in order.
    onsets
        Onset of each word in seconds, non-decreasing; ``None`` for a story whose onsets are unknown
        (all NaN; only models whose card says ``word_onsets: optional`` take it).
    offsets
        Offset of each word in seconds, not before its onset; optional (never without onsets).
    what
        How messages name this story.
    """
    if isinstance(words, (str, bytes)) or not hasattr(words, "__iter__"):
        raise StimulusError(f"{what}: 'word' must be a list of words, got {describe(words)}")
    word_list = list(words)
    if not word_list:
        raise StimulusError(f"{what} holds no words; expected at least one word with its onset")
    for i, w in enumerate(word_list):
        if not isinstance(w, str):
            missing = isinstance(w, float) and math.isnan(w)
            given = "missing (NaN)" if missing else describe(w)
            raise StimulusError(f"{what}: word {i} is {given}; expected a string")
    n = len(word_list)
    if onsets is None:
        if offsets is not None:
            raise StimulusError(f"{what} has offsets but no onsets; expected both, or words alone")
        unknown = np.full(n, np.nan)
        unknown.setflags(write=False)
        return TimedWords(tuple(word_list), unknown, None)
    on = _times(onsets, "onset", n, what)
    steps = np.flatnonzero(np.diff(on) < 0)
    if steps.size:
        i = int(steps[0])
        raise StimulusError(
            f"{what}: onsets must not decrease, but word {i + 1} ({word_list[i + 1]!r}) starts at {on[i + 1]:g} s, "
            f"before word {i} ({word_list[i]!r}) at {on[i]:g} s"
        )
    off = None
    if offsets is not None:
        off = _times(offsets, "offset", n, what)
        early = np.flatnonzero(off < on)
        if early.size:
            i = int(early[0])
            raise StimulusError(
                f"{what}: word {i} ({word_list[i]!r}) ends at {off[i]:g} s, before its onset {on[i]:g} s; "
                "expected offset >= onset"
            )
    return TimedWords(tuple(str(w) for w in word_list), on, off)


def _columns(table: Any, names: list[str], what: str, need_onsets: bool = True) -> TimedWords:
    if not need_onsets and "word" in names and "onset" not in names:
        if "offset" in names:
            raise StimulusError(f"{what} has an 'offset' column but no 'onset'; expected both, or a 'word' column alone")
        return timed_words(table["word"], None, None, what)
    missing = [c for c in ("word", "onset") if c not in names]
    if missing:
        raise StimulusError(
            f"{what} has no column {' or '.join(repr(c) for c in missing)}; its columns are {names[:20]}; "
            "expected 'word' and 'onset' (seconds), optionally 'offset'"
        )
    return timed_words(table["word"], table["onset"], table["offset"] if "offset" in names else None, what)


def _from_frame(df: Any, what: str, need_onsets: bool = True) -> TimedWords:
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise StimulusError(f"{what} has repeated column names {names[:20]}; expected one 'word' and one 'onset' column")
    table = {str(c): df[c].tolist() for c in df.columns if str(c) in ("word", "onset", "offset")}
    return _columns(table, names, what, need_onsets)


def _from_dict(d: dict[Any, Any], what: str, need_onsets: bool = True) -> TimedWords:
    names = [str(k) for k in d]
    table = {str(k): v for k, v in d.items()}
    if "word" not in table and "onset" not in table and "words" in table and ("word_onsets" in table or not need_onsets):
        # BERG 2.0's story dict (fmri-lebel2023-opt_1_3b): {"words": [...], "word_onsets": [...]}
        table["word"] = table.pop("words")
        if "word_onsets" in table:
            table["onset"] = table.pop("word_onsets")
        names = list(table)
    for key in ("word", "onset", "offset"):
        if key in table and (isinstance(table[key], (str, bytes)) or not hasattr(table[key], "__len__")):
            raise StimulusError(f"{what}: {key!r} must be a list, got {describe(table[key])}")
    if "word" in table and "onset" in table and len(table["word"]) != len(table["onset"]):
        raise StimulusError(
            f"{what} has {len(table['word'])} words and {len(table['onset'])} onsets; expected one onset per word"
        )
    return _columns(table, names, what, need_onsets)


def read_words_tsv(path: str | os.PathLike[str], need_onsets: bool = True) -> TimedWords:
    """One story from a tab-separated file with a header naming ``word`` and ``onset`` (optional ``offset``).

    With ``need_onsets=False`` a file with a ``word`` column only is a story whose onsets are unknown (NaN).
    """
    p = Path(path).expanduser()
    what = f"word file {str(path)!r}"
    if not p.is_file():
        raise StimulusError(f"{what} {'is a folder' if p.is_dir() else 'does not exist'}; expected a .tsv file of words")
    try:
        size = p.stat().st_size
        if size > MAX_TSV_BYTES:
            raise StimulusError(f"{what} is {size:,} bytes, more than {MAX_TSV_BYTES:,}; expected a table of words")
        raw = p.read_bytes()
    except OSError as exc:
        raise StimulusError(f"{what} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StimulusError(f"{what} is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save it as UTF-8") from None
    rows = [r for r in csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE) if any(c.strip() for c in r)]
    if not rows:
        raise StimulusError(f"{what} is empty; expected a header row naming 'word' and 'onset', then one row per word")
    header = [c.strip() for c in rows[0]]
    if len(header) == 1 and ("," in header[0] or ";" in header[0]):
        raise StimulusError(f"{what} has no tab in its header {header[0][:80]!r}; expected tab-separated columns")
    table: dict[str, list[str]] = {h: [] for h in header}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise StimulusError(f"{what}: row {line - 1} has {len(row)} fields, the header {len(header)} ({header[:10]})")
        for h, v in zip(header, row, strict=True):
            table[h].append(v)
    for key in ("onset", "offset"):
        if key in table:
            try:
                table[key] = [float(v) for v in table[key]]  # type: ignore[misc]
            except ValueError:
                bad = next(i for i, v in enumerate(table[key]) if not _is_number(v))
                raise StimulusError(
                    f"{what}: {key} of row {bad + 1} is {table[key][bad]!r}; expected a number of seconds"
                ) from None
    return _columns(table, header, what, need_onsets)


@dataclass
class TimedWordStimuli(ItemCollection):
    """Validated stories; ``stories()`` gives one :class:`TimedWords` per stimulus."""

    kind: ClassVar[str] = "timed_words"
    unit: ClassVar[str] = "word"

    def stories(self) -> list[TimedWords]:
        """The stories of this batch, in order."""
        return list(self.items)

    def n_units(self) -> int:
        """Words in this batch (the progress bar counts words)."""
        return sum(len(s) for s in self.items)

    def fingerprint_parts(self) -> list[Any]:
        parts: list[Any] = []
        for s in self.items:
            parts.append("\x1f".join(s.words).encode("utf-8"))
            parts.append(s.onsets)
            parts.append(b"no offsets" if s.offsets is None else s.offsets)
        return parts


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and type(obj).__module__.startswith("pandas")


def _tsv_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".tsv" and p.is_file())
    if not files:
        raise StimulusError(f"folder {str(folder)!r} holds no .tsv files; expected {ACCEPTED_TIMED_WORDS}")
    return files


def _is_word_list(obj: Any) -> bool:
    """A list (or tuple) of plain strings that are not all existing ``.tsv`` files: a story's words."""
    if not isinstance(obj, (list, tuple)) or not obj or not all(type(w) is str for w in obj):
        return False
    return not all(w.lower().endswith(".tsv") and Path(w).expanduser().is_file() for w in obj)


def _one(obj: Any, what: str, need_onsets: bool = True) -> list[tuple[Any, TimedWords]]:
    """``(default id or None, story)`` pairs for one accepted object (a folder gives several)."""
    accepted = ACCEPTED_TIMED_WORDS if need_onsets else ACCEPTED_TIMED_WORDS + ACCEPTED_WITHOUT_ONSETS
    if isinstance(obj, TimedWords):
        if need_onsets and not obj.onsets_known:
            raise StimulusError(f"{what} has no onsets, but this model needs each word's onset; expected {accepted}")
        return [(None, timed_words(obj.words, obj.onsets if obj.onsets_known else None, obj.offsets, what))]
    if _is_frame(obj):
        return [(None, _from_frame(obj, what, need_onsets))]
    if isinstance(obj, dict):
        return [(None, _from_dict(obj, what, need_onsets))]
    if not need_onsets and isinstance(obj, (list, tuple)) and any(isinstance(w, str) for w in obj) \
            and not any(isinstance(w, (list, tuple, dict, os.PathLike)) for w in obj):
        # a story of plain words (one that is not words gets its own message from the one check)
        return [(None, timed_words(obj, None, None, what))]
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj).expanduser()
        if p.is_dir():
            return [(f.stem, read_words_tsv(f, need_onsets)) for f in _tsv_files(p)]
        if p.suffix.lower() != ".tsv":
            hint = " (words need onsets: give a table, not a list of words)" if not p.exists() and need_onsets else ""
            raise StimulusError(f"{str(obj)!r} is not a .tsv file{hint}; expected {accepted}")
        return [(p.stem, read_words_tsv(p, need_onsets))]
    raise StimulusError(f"unsupported stimulus for a timed-words model: {what} is {describe(obj)}; expected {accepted}")


def _onset_rule(onsets: str) -> bool:
    """Whether onsets are needed (``"required"``) or not (``"optional"``)."""
    if onsets not in ONSET_RULES:
        raise StimulusError(f"onsets must be one of {list(ONSET_RULES)}, got {onsets!r}")
    return onsets == "required"


def as_timed_words(stimulus: Any, stimulus_ids: Any = None, onsets: str = "required") -> TimedWordStimuli:
    """Validate ``stimulus`` as stories of timed words (see the module's accepted forms).

    Parameters
    ----------
    stimulus
        One story or a list of stories, in any accepted form.
    stimulus_ids
        One id per story, distinct, all strings or all integers. Default: file stems, else 0..N-1.
    onsets
        ``"required"`` (default): every story needs onsets. ``"optional"`` (models whose card says
        ``word_onsets: optional``): plain word lists are stories too, with unknown (NaN) onsets.

    Raises
    ------
    StimulusError
        With what was given and what is accepted.
    """
    need_onsets = _onset_rule(onsets)
    if isinstance(stimulus, TimedWordStimuli):
        out = stimulus
        blind = next((i for i, s in enumerate(out.stories()) if not s.onsets_known), None)
        if need_onsets and blind is not None:
            raise StimulusError(
                f"story {out.ids[blind]!r} has no onsets, but this model needs each word's onset; expected "
                f"{ACCEPTED_TIMED_WORDS}"
            )
    else:
        if not need_onsets and _is_word_list(stimulus):
            pairs = _one(stimulus, "the story", need_onsets)
        elif isinstance(stimulus, (list, tuple)):
            if not stimulus:
                raise StimulusError(f"the list of stories is empty; expected {ACCEPTED_TIMED_WORDS}")
            pairs = [pair for i, obj in enumerate(stimulus) for pair in _one(obj, f"story {i}", need_onsets)]
        else:
            pairs = _one(stimulus, "the story", need_onsets)
        stems = [k for k, _ in pairs]
        named = all(k is not None for k in stems) and len(set(stems)) == len(stems)
        ids = stems if named else list(range(len(pairs)))
        out = TimedWordStimuli(ids=ids, items=[s for _, s in pairs])
    return out if stimulus_ids is None else out.with_ids(stimulus_ids)
