"""Model cards: declarative, validated descriptions of encoding models.

Cards are YAML files shipped inside each plugin and validated by the pydantic
models below. Reading a card never imports torch, so ``berg models`` and
``berg describe`` stay fast and work on machines without a GPU stack.
The JSON Schema in ``specs/model_card.schema.json`` is generated from
:class:`ModelCard` (``python -m berg_core.specs``); a test fails when it is stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from berg_core.errors import CardError

#: cards are short YAML files; these bounds keep a hostile one from exhausting the process
MAX_CARD_BYTES = 1 << 20
MAX_CARD_DEPTH = 32

__all__ = [
    "AccuracySummary",
    "Dimension",
    "Grid",
    "ModelCard",
    "Parameter",
    "Reference",
    "SelectionKey",
    "TensorSpec",
    "card_json_schema",
    "load_card",
    "load_cards",
    "result_group",
    "subject_tag",
]

#: modality-dataset-model; upstream ids keep capitals after the modality (fmri-tuckute_2024-GPT2_XL) and
#: underscores in it (utah_array-tvsd-vit_b_32)
MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9_]*(-[A-Za-z0-9_]+)+$"
#: a text subject ("N", "01", "UTS01"): it names a Zarr group (``subject-N``) and a CLI value, so no separators
SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def subject_tag(subject: int | str) -> str:
    """How a subject is written in names: integers with two digits (``01``), names as they are (``N``, ``UTS01``)."""
    if isinstance(subject, str):
        return subject
    return f"{int(subject):02d}"


def result_group(model_id: str, subject: int | str | None) -> str:
    """The group of one result in a store of several: ``model/subject-01``, ``model/subject-N``, or ``model``
    for a participant-averaged model."""
    return model_id if subject is None else f"{model_id}/subject-{subject_tag(subject)}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(_Strict):
    """One named axis of a model's input or output."""

    name: str = Field(description="Dimension name, as used in the xarray output.")
    size: int | None = Field(None, ge=1, description="Fixed size, or null when it varies.")
    description: str = ""
    units: str | None = Field(None, description="Units of the coordinate along this axis.")


class TensorSpec(_Strict):
    """Input or output description with named dimensions."""

    description: str
    dims: list[Dimension] = Field(min_length=1)
    dtype: str = "float32"
    units: str | None = Field(None, description="Units of the values themselves.")

    @property
    def dim_names(self) -> list[str]:
        return [d.name for d in self.dims]


class Parameter(_Strict):
    """A parameter of ``get_encoding_model`` or ``encode``."""

    name: str
    function: Literal["get_encoding_model", "encode", "get_model_metadata"]
    type: str = Field(description="Python type, as text (e.g. 'int', 'dict', 'str').")
    required: bool = False
    default: Any = None
    valid_values: list[Any] | None = Field(None, description="Allowed values, when enumerable.")
    description: str
    example: Any = None


#: what a selection key's value is, so core can check it (see :mod:`berg_core.models.selection`)
SelectionKind = Literal["names", "names_or_groups", "mask", "indices", "mask_or_indices", "time_window"]


class Grid(_Strict):
    """Evenly spaced coordinates a ``time_window`` key selects from (e.g. EEG time points)."""

    start: float = Field(description="First coordinate.")
    step: float = Field(gt=0, description="Distance between neighbours.")
    size: int = Field(ge=1, description="Number of coordinates.")
    tolerance: float = Field(0.0, ge=0, description="How far a requested coordinate may lie from a grid point.")
    units: str = Field("s", description="Units of the coordinates, for messages.")

    def values(self) -> list[float]:
        """The coordinates, rounded as they are written (no accumulated float error)."""
        return [round(self.start + i * self.step, 9) for i in range(self.size)]


class SelectionKey(_Strict):
    """A key accepted in the ``selection`` dict.

    ``kind`` tells core how to check a value before the plugin sees it; a key
    without one (older cards) is checked by name and conflicts only.
    """

    name: str
    description: str
    valid_values: list[Any] | None = None
    conflicts_with: list[str] = Field(default_factory=list)
    kind: SelectionKind | None = Field(
        None,
        description=(
            "names: a name or list of names from valid_values, order kept, no repeats; names_or_groups: the same, "
            "read as a union (repeats merged); mask: a 0/1 mask of `size` entries; indices: integer indices below "
            "`size`, order kept; mask_or_indices: either (indices sorted); time_window: coordinates, a binary mask "
            "or a slice of coordinates (both ends inclusive) on `grid`. Unset: only the key name is checked."
        ),
    )
    axis: str | None = Field(None, description="The output dimension this key selects along.")
    size: int | None = Field(None, ge=1, description="Mask length / index bound; defaults to the size of `axis`.")
    grid: Grid | None = Field(None, description="For time_window: the coordinates (default: valid_values).")
    noun: str | None = Field(None, description="What one value names, for messages (e.g. 'ROI', 'channel').")

    @model_validator(mode="after")
    def _declares_enough(self) -> SelectionKey:
        if self.kind in ("names", "names_or_groups") and not self.valid_values:
            raise ValueError(f"selection key {self.name!r} of kind {self.kind!r} must list valid_values")
        if self.kind == "time_window" and self.grid is None and not self.valid_values:
            raise ValueError(f"selection key {self.name!r} of kind 'time_window' needs a grid (or valid_values)")
        return self


class Reference(_Strict):
    """A publication or dataset to cite."""

    citation: str
    doi: str | None = None
    url: str | None = None


class AccuracySummary(_Strict):
    """How well the model predicts held-out data, so users can judge outputs."""

    metric: str
    summary: str
    value: float | None = None


class ModelCard(_Strict):
    """Everything BERG 2.0's model cards hold, plus what users need to trust outputs."""

    schema_version: Literal[1] = 1
    id: str = Field(pattern=MODEL_ID_PATTERN, description="Model id: modality-dataset-model.")
    modality: str = Field(pattern=r"^[a-z0-9_]+$")
    training_dataset: str
    species: str
    stimuli: Literal["images", "video", "sentences", "timed_words"] = Field(
        description=(
            "Kind of stimuli the model takes: images, video (clips of RGB frames), sentences (text) or timed_words "
            "(stories as words with onsets in seconds). Core validates, batches and counts stimuli by it."
        )
    )
    word_onsets: Literal["required", "optional"] | None = Field(
        None,
        description=(
            "timed_words models only: 'optional' when the model's math never uses the onsets, so a story may be "
            "given as plain words (a list of str is one story, a list of such lists several; onsets unknown, NaN "
            "in the result); 'required' (the default for timed_words) refuses stories without onsets."
        ),
    )
    architecture: str
    creator: str
    description: str
    input: TensorSpec
    output: TensorSpec
    subjects: list[int] | list[str] | None = Field(
        None,
        description=(
            "The subjects a model is fitted for: integers ([1, 2]), or text ([\"N\", \"F\"], [\"01\", \"02\"]; each "
            f"matching {SUBJECT_PATTERN}), all of one kind; null or omitted for a participant-averaged model "
            "(which then takes no subject)."
        ),
    )
    parameters: list[Parameter] = Field(default_factory=list)
    selection_keys: list[SelectionKey] = Field(default_factory=list)
    preprocessing: dict[str, str] = Field(
        default_factory=dict, description="Preprocessing mode name -> what it does."
    )
    default_preprocessing: str | None = None
    backbone: str | None = Field(None, description="Shared feature extractor, if any (e.g. vit_b_32).")
    store_path: str = Field(description="Folder of this model inside a BERG store.")
    units: str = Field(description="Units of the predicted responses.")
    template_space: str = Field(description="Space the outputs live in (e.g. fsaverage, subject-native).")
    accuracy: AccuracySummary | None = None
    references: list[Reference] = Field(default_factory=list)
    license: str
    example_usage: str = ""

    @field_validator("stimuli", mode="before")
    @classmethod
    def _known_kind(cls, v: Any) -> Any:
        # a kind named for the future gets its own message, not only "must be one of"
        if v == "audio":
            raise ValueError("stimuli 'audio' is reserved: core does not read audio yet; expected images, video, sentences or timed_words")
        return v

    @field_validator("store_path")
    @classmethod
    def _inside_the_store(cls, v: str) -> str:
        # the folder is joined to the store's root: it must not leave it or name another location
        parts = v.split("/")
        if not v or v.startswith("/") or "\\" in v or ":" in v or any(p in ("", ".", "..") for p in parts):
            raise ValueError(
                f"store_path must be a relative folder inside the store (names separated by '/', no '..', "
                f"'.', empty names, drive letters or URLs), got {v!r}"
            )
        return v

    @field_validator("subjects", mode="before")
    @classmethod
    def _one_kind_of_subject(cls, v: Any) -> Any:
        # checked by hand, not left to the union: pydantic would read ["1", "2"] as integers in lax mode
        if v is None:
            return None
        if not isinstance(v, list):
            raise ValueError(f"subjects must be a list of integers or of names, or null for a participant-averaged model, got {v!r:.80}")
        if not v:
            raise ValueError("subjects must not be empty: write null (or leave it out) for a participant-averaged model")
        if all(isinstance(s, int) and not isinstance(s, bool) for s in v):
            pass
        elif all(isinstance(s, str) for s in v):
            bad = [s for s in v if not re.match(SUBJECT_PATTERN, s)]
            if bad:
                raise ValueError(f"subject names must match {SUBJECT_PATTERN} (letters, digits, '_', '.', '-'), got {bad}")
        else:
            kinds = sorted({type(s).__name__ for s in v})
            raise ValueError(f"subjects must be all integers or all names, got a mix of {kinds}: {v!r:.120}")
        if len(set(v)) != len(v):
            raise ValueError(f"subjects must be unique, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        if self.word_onsets is not None and self.stimuli != "timed_words":
            raise ValueError(f"word_onsets applies to timed_words models only; this card's stimuli are {self.stimuli}")
        if self.default_preprocessing is not None and self.default_preprocessing not in self.preprocessing:
            raise ValueError(
                f"default_preprocessing {self.default_preprocessing!r} is not one of the "
                f"preprocessing modes {sorted(self.preprocessing)}"
            )
        names = [p.name for p in self.parameters]
        dupes = sorted({n for n in names if names.count(n) > 1 and n != "subject"})
        if dupes:
            raise ValueError(f"parameters listed twice: {dupes}")
        keys = [k.name for k in self.selection_keys]
        for key in self.selection_keys:
            strangers = [o for o in key.conflicts_with if o not in keys]
            if strangers:
                raise ValueError(f"selection key {key.name!r} conflicts_with {strangers}, which are not selection keys {keys}")
            if key.axis is not None and key.axis not in self.output.dim_names:
                raise ValueError(f"selection key {key.name!r} selects along {key.axis!r}, not an output dim {self.output.dim_names}")
            if key.kind in ("mask", "indices", "mask_or_indices") and self.selection_size(key) is None:
                raise ValueError(f"selection key {key.name!r} of kind {key.kind!r} needs a size (or an axis of fixed size)")
        return self

    def selection_key(self, name: str) -> SelectionKey | None:
        """The selection key called ``name``, if the card declares one."""
        return next((k for k in self.selection_keys if k.name == name), None)

    def selection_size(self, key: SelectionKey) -> int | None:
        """Length of a mask / bound of indices for ``key``: its ``size``, else the size of its output ``axis``."""
        if key.size is not None:
            return key.size
        dim = next((d for d in self.output.dims if d.name == key.axis), None)
        return dim.size if dim is not None else None

    @property
    def row_dim(self) -> str:
        """The first output dim: one entry per ``stimulus``, or rows whose number depends on it (``tr``, ``word``)."""
        return self.output.dims[0].name

    @property
    def ragged(self) -> bool:
        """Whether each stimulus gives its own number of rows (0..n) along :attr:`row_dim`."""
        return self.row_dim != "stimulus"

    @property
    def participant_averaged(self) -> bool:
        """A model without subjects: it takes no ``subject`` and its results carry none."""
        return self.subjects is None

    def parameter(self, name: str, function: str = "get_encoding_model") -> Parameter | None:
        """Return the parameter called ``name`` for ``function``, if the card lists one."""
        for p in self.parameters:
            if p.name == name and p.function == function:
                return p
        return None


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _format_validation_error(source: str, err: ValidationError) -> str:
    lines = [f"model card {source} is invalid:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        given = e.get("input")
        given_txt = "" if isinstance(given, dict) else f" (given: {_short(given)})"
        lines.append(f"  - field '{loc}': {e['msg']}{given_txt}")
    return "\n".join(lines)


def card_from_dict(data: Any, source: str = "<dict>") -> ModelCard:
    """Validate a mapping as a :class:`ModelCard`.

    Raises
    ------
    CardError
        When the mapping is not a valid card; the message names each bad field.
    """
    if not isinstance(data, dict):
        raise CardError(f"model card {source} must be a mapping, got {type(data).__name__}")
    try:
        return ModelCard.model_validate(data)
    except ValidationError as err:
        raise CardError(_format_validation_error(source, err)) from None


def load_card(path: str | Path) -> ModelCard:
    """Read and validate one YAML card.

    Parameters
    ----------
    path
        A ``.yaml``/``.yml`` file.

    Raises
    ------
    CardError
        The file is missing, larger than :data:`MAX_CARD_BYTES`, not UTF-8, not
        YAML, uses anchors or aliases, nests deeper than :data:`MAX_CARD_DEPTH`,
        or does not validate.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        raise CardError(f"cannot read model card {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CARD_BYTES:
        raise CardError(f"model card {path} is larger than {MAX_CARD_BYTES} bytes; cards are short YAML files")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CardError(f"model card {path} is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save it as UTF-8") from None
    return card_from_dict(_parse_yaml(text, str(path)), str(path))


class _CardLoader(yaml.SafeLoader):
    """Safe YAML without aliases (an alias bomb expands to gigabytes) and with bounded nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _CardYamlError(f"uses the YAML alias *{event.anchor}{_where(event)}; cards may not use anchors or aliases")
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise _CardYamlError(f"defines the YAML anchor &{event.anchor}{_where(event)}; cards may not use anchors or aliases")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_CARD_DEPTH:
                raise _CardYamlError(f"nests deeper than {MAX_CARD_DEPTH} levels{_where(event)}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _CardYamlError(Exception):
    """Why the loader refused a card, worded to follow its name."""


def _where(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_CardLoader)  # a SafeLoader subclass
    except _CardYamlError as exc:
        raise CardError(f"model card {source} {exc}") from None
    except yaml.YAMLError as exc:
        raise CardError(f"model card {source} is not valid YAML: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise CardError(f"model card {source} holds a value YAML cannot convert: {str(exc)[:200]}") from None


def load_cards(paths: Iterable[str | Path]) -> list[ModelCard]:
    """Load several cards (a plugin's ``cards/`` folder, typically)."""
    return [load_card(p) for p in paths]


def cards_in(folder: str | Path) -> list[ModelCard]:
    """Load every ``*.yaml`` card in ``folder``, sorted by file name."""
    folder = Path(folder)
    return load_cards(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))


def card_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`ModelCard`, as written to ``specs/``."""
    schema = ModelCard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://berg.dev/specs/model_card.schema.json"
    return schema


def render_card_json_schema() -> str:
    """The schema serialised exactly as it is committed."""
    return json.dumps(card_json_schema(), indent=2, sort_keys=True) + "\n"

