"""Model cards: validation, YAML loading without torch, the committed JSON Schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from berg_core import BERG, CardError
from berg_core.cards.model_card import ModelCard, card_from_dict, load_card, render_card_json_schema

ROOT = Path(__file__).resolve().parents[2]
CARD_FILES = sorted(ROOT.glob("plugins/*/*/cards/*.yaml"))


def test_committed_schema_is_up_to_date():
    committed = (ROOT / "specs" / "model_card.schema.json").read_text()
    assert committed == render_card_json_schema(), "regenerate with: python -m berg_core.specs"


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda p: p.stem)
def test_every_shipped_card_is_valid_against_pydantic_and_the_json_schema(path):
    card = load_card(path)
    data = yaml.safe_load(path.read_text())
    jsonschema.validate(data, json.loads((ROOT / "specs" / "model_card.schema.json").read_text()))
    if card.preprocessing:  # models without preprocessing modes (text, timed words) name no default
        assert card.default_preprocessing in card.preprocessing
    # one entry per stimulus, or rows whose number depends on it (a ragged model: its row dim has no fixed size)
    assert card.output.dims[0].name == "stimulus" or (card.ragged and card.output.dims[0].size is None)
    assert card.store_path.startswith("encoding_models/")


def test_every_registered_model_has_valid_metadata():
    berg = BERG("/tmp")
    for model_id in berg.list_models():
        card = berg.get_card(model_id)
        assert isinstance(card, ModelCard)
        info = berg.describe(model_id, print_output=False)
        assert set(info) == {"model_id", "model_info", "description", "input", "output", "parameters",
                             "parameters_by_function", "performance", "example_usage"}
        if card.subjects is None:  # participant-averaged: no subject to give
            assert info["model_info"]["subjects"] is None
            assert "subject" not in info["parameters"] or not info["parameters"]["subject"]["valid_values"]
        else:
            assert info["parameters"]["subject"]["valid_values"] == card.subjects


def _minimal() -> dict:
    return yaml.safe_load(CARD_FILES[0].read_text())


def test_unknown_field_is_rejected_with_its_name():
    data = _minimal() | {"colour": "blue"}
    with pytest.raises(CardError, match=r"field 'colour'.*Extra inputs are not permitted"):
        card_from_dict(data, "test")


def test_wrong_type_is_rejected_with_the_field_and_value():
    data = _minimal() | {"subjects": "all of them"}
    with pytest.raises(CardError, match=r"field 'subjects'.*all of them"):
        card_from_dict(data, "test")


def test_bad_id_and_inconsistent_preprocessing_are_rejected():
    with pytest.raises(CardError, match="field 'id'"):
        card_from_dict(_minimal() | {"id": "Not An Id"}, "test")
    with pytest.raises(CardError, match="default_preprocessing 'fast' is not one of"):
        card_from_dict(_minimal() | {"default_preprocessing": "fast"}, "test")


def test_load_card_reports_missing_and_non_yaml_files(tmp_path):
    with pytest.raises(CardError, match="cannot read model card"):
        load_card(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed")
    with pytest.raises(CardError, match="not valid YAML"):
        load_card(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(CardError, match="must be a mapping"):
        load_card(listy)


def test_listing_and_describing_models_does_not_import_torch():
    code = (
        "import sys; from berg_core import BERG; b = BERG('/tmp'); b.list_models(); "
        "b.describe(b.list_models()[0], print_output=False); b.get_model_catalog(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- hostile card files: a CardError naming the file, never a crash, a hang or gigabytes ---------------
def _valid_text() -> str:
    return CARD_FILES[0].read_text(encoding="utf-8")


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE_CARDS = {
    "50,000-deep flow nesting": (lambda: "id: x\nextra: " + "[" * 50_000 + "]" * 50_000 + "\n", r"nests deeper than 32 levels"),
    "deep block nesting": (lambda: "".join("  " * i + f"k{i}:\n" for i in range(200)), r"nests deeper than 32 levels"),
    "deep nesting inside a valid card": (lambda: _valid_text() + "description_extra: " + "{a: " * 100 + "1" + "}" * 100 + "\n",
                                        r"nests deeper than 32 levels"),
    "Latin-1 text": (lambda: _valid_text().replace("license:", "# café\nlicense:", 1).encode("latin-1"), r"is not UTF-8 text \(byte \d+ is 0xe9\)"),
    "UTF-16 text": (lambda: _valid_text().encode("utf-16"), r"is not UTF-8 text"),
    "a billion laughs": (_billion_laughs, r"defines the YAML anchor &a0 \(line 1\); cards may not use anchors or aliases"),
    "one alias": (lambda: _valid_text() + "other: *nowhere\n", r"(uses the YAML alias \*nowhere|not valid YAML)"),
    "a merge key": (lambda: "base: &b {units: x}\nmodel:\n  <<: *b\n", r"defines the YAML anchor &b"),
    "a 5,000-digit integer": (lambda: "subjects: [" + "9" * 5000 + "]\n", r"holds a value YAML cannot convert"),
    "a 2 MB card": (lambda: _valid_text() + "#" * (2 << 20) + "\n", r"is larger than 1048576 bytes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CARDS))
def test_a_hostile_card_file_is_a_card_error_naming_it(tmp_path, case, capsys):
    from berg_core.cli.main import main

    make, message = HOSTILE_CARDS[case]
    text = make()
    path = tmp_path / "card.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(CardError, match=message) as err:
        load_card(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    # `berg validate` lists it as invalid, on one line, without a traceback
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert re.search(message, out.out) and "Traceback" not in out.out + out.err
    assert len(out.out) < 2000


@pytest.mark.parametrize("store_path", ["../../..", "encoding_models/../../x", "/etc", "s3://bucket/models", "C:/models",
                                        "encoding_models//x", "./encoding_models", "encoding_models\\x", "", "x/."])
def test_store_path_must_be_a_relative_folder_inside_the_store(store_path):
    with pytest.raises(CardError, match=r"field 'store_path': .*relative folder inside the store"):
        card_from_dict(_minimal() | {"store_path": store_path}, "test")


def test_a_nested_store_path_is_accepted():
    assert card_from_dict(_minimal() | {"store_path": "a/b-c/d_e.1"}, "test").store_path == "a/b-c/d_e.1"
