"""Model cards: validation, YAML loading without torch, the committed JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from berg_core import BERG, CardError
from berg_core.cards import ModelCard, card_from_dict, load_card, render_card_json_schema

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
    assert card.default_preprocessing in card.preprocessing
    assert card.output.dims[0].name == "stimulus"
    assert card.store_path.startswith("encoding_models/")


def test_every_registered_model_has_valid_metadata():
    berg = BERG("/tmp")
    for model_id in berg.list_models():
        card = berg.get_card(model_id)
        assert isinstance(card, ModelCard)
        info = berg.describe(model_id, print_output=False)
        assert set(info) == {"model_id", "model_info", "description", "input", "output", "parameters",
                             "parameters_by_function", "performance", "example_usage"}
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
