"""Subjects of any form: integers, names (``"N"``, ``"01"``, ``"UTS01"``), or none (participant-averaged).

Cards, the subject check, results' labels, Zarr group names, the command line, synthetic stores, store
holdings and the conformance kit, on the in-process toy plugin of :mod:`forms_plugin`.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xarray as xr

from berg_core import BERG, InvalidParameterError
from berg_core.cards.enforce import check_subject
from berg_core.cards.model_card import result_group, subject_tag
from berg_core.errors import CardError
from berg_core.plugin import card_from_dict
from berg_core.registry.manager import PluginManager
from berg_core.results.groups import open_results

from . import forms_plugin as fp

IMAGES = np.random.default_rng(5).integers(0, 256, size=(5, 3, 6, 5), dtype=np.uint8)


@pytest.fixture
def pm() -> PluginManager:
    pm = PluginManager()
    pm.register(fp.FormsPlugin(), name="forms")
    return pm


@pytest.fixture
def berg(tmp_path: Path, pm: PluginManager) -> BERG:
    from berg_core.workflows.synthetic import write_synthetic_store

    write_synthetic_store(tmp_path / "store", subjects={fp.NAMED: ["N", "F", 7]}, seed=2, plugin_manager=pm)
    return BERG(tmp_path / "store", plugin_manager=pm)


def _card_with(subjects: Any, drop: bool = False) -> Any:
    data = fp.CARDS[0].model_dump(mode="json")
    if drop:
        del data["subjects"]
    else:
        data["subjects"] = subjects
    return card_from_dict(data)


# ---- cards -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("subjects", [[1, 2, 5], ["N", "F"], ["01", "02", "09"], ["UTS01", "UTS02"], ["a.b", "x_1-2"], None])
def test_cards_list_integers_names_or_none(subjects: Any) -> None:
    assert _card_with(subjects).subjects == subjects
    assert _card_with(None, drop=True).subjects is None
    assert _card_with(None, drop=True).participant_averaged


@pytest.mark.parametrize(("subjects", "message"), [
    ([], r"must not be empty: write null"),
    ([1, "N"], r"all integers or all names, got a mix of \['int', 'str'\]"),
    (["N", "N"], r"must be unique"),
    ([1, 1], r"must be unique"),
    (["a/b"], r"subject names must match"),
    ([" N"], r"subject names must match"),
    (["-1"], r"subject names must match"),
    ([True, False], r"all integers or all names"),
    ([1.5], r"all integers or all names"),
    ("N", r"must be a list"),
])
def test_bad_subject_lists_are_refused_with_the_field_named(subjects: Any, message: str) -> None:
    with pytest.raises(CardError, match=message) as exc:
        _card_with(subjects)
    assert "field 'subjects'" in str(exc.value)


def test_yaml_strings_stay_names_and_numbers_stay_numbers(tmp_path: Path) -> None:
    from berg_core.cards.model_card import load_card

    data = fp.CARDS[0].model_dump(mode="json")
    for subjects, expected in (('["01", "02"]', ["01", "02"]), ("[1, 2]", [1, 2]), ("null", None)):
        text = json.dumps({k: v for k, v in data.items() if k != "subjects"}) + ""
        path = tmp_path / "card.yaml"
        path.write_text(text[:-1] + f', "subjects": {subjects}}}')
        assert load_card(path).subjects == expected


# ---- the subject check -----------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "expected"), [("N", "N"), ("F", "F"), ("07", "07"), (7, "07"), ("7", "07"),
                                                 (np.int64(7), "07"), (" N", "N")])
def test_named_subjects_resolve_to_the_cards_name(given: Any, expected: str) -> None:
    got = check_subject(fp.CARDS[0], given)
    assert got == expected and isinstance(got, str)


@pytest.mark.parametrize(("given", "message"), [
    ("n", r"subject 'n' is not available for toy-forms-named; valid subjects: \['N', 'F', '07'\]\. Did you mean 'N'\?"),
    ("X", r"subject 'X' is not available for toy-forms-named; valid subjects: \['N', 'F', '07'\]"),
    (8, r"subject 8 is not available .* valid subjects: \['N', 'F', '07'\]"),
    (None, r"toy-forms-named needs subject=\.\.\., one of \['N', 'F', '07'\]"),
    (1.5, r"must be one of the names \['N', 'F', '07'\], got float 1.5"),
    (True, r"must be one of the names"),
])
def test_unknown_named_subjects_list_the_valid_ones(given: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_subject(fp.CARDS[0], given)


def test_a_participant_averaged_model_takes_no_subject() -> None:
    card = fp.CARDS[1]
    assert check_subject(card, None) is None
    for given in (1, "01", "N"):
        with pytest.raises(InvalidParameterError, match=r"toy-forms-ragged is participant-averaged .* takes no subject"):
            check_subject(card, given)


def test_integer_cards_keep_their_rules() -> None:
    card = _card_with([1, 2, 3])
    assert check_subject(card, "2") == 2 and check_subject(card, np.uint8(3)) == 3
    with pytest.raises(InvalidParameterError, match=r"subject must be an integer, one of \[1, 2, 3\], got str 'N'"):
        check_subject(card, "N")


def test_zero_padded_names_match_a_number_only_when_one_name_has_its_value() -> None:
    card = _card_with(["1", "01"])
    assert check_subject(card, "01") == "01" and check_subject(card, "1") == "1"
    with pytest.raises(InvalidParameterError, match=r"valid subjects: \['1', '01'\]"):
        check_subject(card, 1)  # two names have the value 1: which one is meant cannot be told


# ---- loading, labels and groups --------------------------------------------------------------------
def test_models_load_with_their_subject_form_and_label_results_with_it(berg: BERG) -> None:
    named = berg.get_encoding_model(fp.NAMED, subject=7, device="cpu")
    assert named.subject == "07"
    out = berg.encode(named, IMAGES, show_progress=False)
    assert out.coords["subject"].item() == "07" and out.attrs["subject"] == "07"
    weights = fp.weights_of(Path(berg.store.url), fp.NAMED, "07")
    np.testing.assert_allclose(out.values, fp.reference(fp.NAMED, weights, IMAGES, list(range(5)))["values"], rtol=1e-6, atol=1e-6)

    averaged = berg.get_encoding_model(fp.RAGGED, device="cpu")
    assert averaged.subject is None and "subject=None" in repr(averaged)
    res = berg.encode(averaged, IMAGES, show_progress=False)
    assert "subject" not in res.coords and "subject" not in res.attrs
    with pytest.raises(InvalidParameterError, match="participant-averaged"):
        berg.get_encoding_model(fp.RAGGED, subject=1, device="cpu")
    with pytest.raises(InvalidParameterError, match=r"valid subjects: \['N', 'F', '07'\]"):
        berg.get_encoding_model(fp.NAMED, subject="M", device="cpu")
    assert berg.get_model_metadata(fp.NAMED, "N") == {"toy": {"subject": "N"}}
    assert berg.get_model_metadata(fp.RAGGED) == {"toy": {"subject": None}}


def test_group_names_follow_the_subject_form() -> None:
    assert [subject_tag(s) for s in (1, 12, "N", "01", "UTS01")] == ["01", "12", "N", "01", "UTS01"]
    assert result_group("m", 3) == "m/subject-03"
    assert result_group("m", "N") == "m/subject-N"
    assert result_group("m", None) == "m"


def test_a_store_of_several_names_its_groups_by_subject_form(berg: BERG, tmp_path: Path) -> None:
    models = [berg.get_encoding_model(fp.NAMED, subject=s, device="cpu") for s in ("N", "F")]
    models.append(berg.get_encoding_model(fp.RAGGED, device="cpu"))
    out = berg.encode(models, IMAGES, show_progress=False, store=tmp_path / "run.zarr")
    assert sorted(out) == [f"{fp.NAMED}/subject-F", f"{fp.NAMED}/subject-N", fp.RAGGED]
    for group in out:
        assert (tmp_path / "run.zarr" / group / "zarr.json").is_file()
    plain = xr.open_zarr(tmp_path / "run.zarr", group=f"{fp.NAMED}/subject-N")
    assert plain["subject"].item() == "N"
    again = open_results(tmp_path / "run.zarr")
    assert sorted(again) == sorted(out)
    both = xr.concat([again[f"{fp.NAMED}/subject-N"], again[f"{fp.NAMED}/subject-F"]], dim="subject")
    assert both["subject"].values.tolist() == ["N", "F"]
    tree = BERG.open_results(tmp_path / "run.zarr")
    assert sorted(tree[fp.NAMED].children) == ["subject-F", "subject-N"]
    assert "subject" not in tree[fp.RAGGED].dataset.coords and tree[fp.RAGGED].dataset.sizes["roi"] == 3


def test_a_store_of_one_result_is_keyed_by_its_label(berg: BERG, tmp_path: Path) -> None:
    named = berg.get_encoding_model(fp.NAMED, subject="F", device="cpu")
    berg.encode(named, IMAGES, show_progress=False, store=tmp_path / "one.zarr")
    assert list(open_results(tmp_path / "one.zarr")) == [f"{fp.NAMED}/subject-F"]
    averaged = berg.get_encoding_model(fp.RAGGED, device="cpu")
    berg.encode(averaged, IMAGES, show_progress=False, store=tmp_path / "avg.zarr")
    assert list(open_results(tmp_path / "avg.zarr")) == [fp.RAGGED]


# ---- stores, CLI, describe -------------------------------------------------------------------------
def test_synthetic_stores_write_named_subjects_and_averaged_models(tmp_path: Path, pm: PluginManager) -> None:
    from berg_core.workflows.synthetic import write_synthetic_store

    written = write_synthetic_store(tmp_path / "s", subjects={fp.NAMED: [7, "N"]}, plugin_manager=pm)
    names = sorted(Path(p).name for p in written)
    assert names == [".berg-synthetic.json", "weights.json", "weights_sub-07.json", "weights_sub-N.json"] or \
        {"weights.json", "weights_sub-07.json", "weights_sub-N.json"} <= set(names)
    with pytest.raises(InvalidParameterError, match="participant-averaged"):
        write_synthetic_store(tmp_path / "t", subjects={fp.RAGGED: [1]}, plugin_manager=pm)
    with pytest.raises(InvalidParameterError, match=r"valid subjects: \['N', 'F', '07'\]"):
        write_synthetic_store(tmp_path / "u", subjects={fp.NAMED: ["Q"]}, plugin_manager=pm)


def test_file_names_give_the_cards_subjects() -> None:
    from berg_core.workflows.convert import subject_of

    named, ints = _card_with(["N", "F", "01"]), _card_with([1, 2])
    assert subject_of("weights_sub-N.json", named) == "N"
    assert subject_of("weights_monkeyF.npy", named) == "F"
    assert subject_of("weights_monkeyN_all_training_splits.npy", named) == "N"
    assert subject_of("metadata_sub-1.npy", named) == "01"
    assert subject_of("weights_sub-X.npy", named) is None
    assert subject_of("weights_subject-02.npy", ints) == 2
    assert subject_of("weights_P1.npy", ints) == 1
    assert subject_of("weights_PCA.npy", ints) is None
    assert subject_of("weights.json", fp.CARDS[1]) is None
    assert subject_of("weights_subject-02.npy") == 2  # without a card: the numbered spellings, as before


def test_store_holdings_and_describe_show_named_subjects(berg: BERG, pm: PluginManager) -> None:
    from berg_core.cards.describe_text import subjects_text
    from berg_core.cli.commands.describe import holdings_text
    from berg_core.workflows.holdings import store_holdings

    held = store_holdings(berg.store, pm.registry.get(fp.NAMED).card)
    assert held["subjects"] == ["07", "F", "N"] and held["missing_subjects"] == []
    assert "subjects: 07, F, N" in holdings_text(held)
    averaged = store_holdings(berg.store, pm.registry.get(fp.RAGGED).card)
    assert averaged["subjects"] == [] and averaged["missing_subjects"] == []
    assert subjects_text(["N", "F"]) == "subjects N, F"
    assert subjects_text([1, 2, 3, 4]) == "subjects 1-4"
    assert subjects_text(None) == "participant-averaged"
    assert subjects_text([f"{i:02d}" for i in range(1, 10)]) == "subjects 01, 02 ... 09 (9)"
    info = berg.describe(fp.RAGGED, print_output=False)
    assert info["model_info"]["subjects"] is None
    from berg_core.cards.describe_text import describe_text

    assert "participant-averaged" in describe_text(info)


def _args(**kw: Any) -> SimpleNamespace:
    base = dict(subject=None, roi=None, channels=None, select=[], option=[], preprocessing=None, backbone_weights=None)
    return SimpleNamespace(**{**base, **kw})


def test_cli_subjects_resolve_against_each_card(pm: PluginManager) -> None:
    from berg_core.cli.commands.args import subjects_of
    from berg_core.cli.commands.encode_plan import build_requests

    named, averaged = pm.registry.get(fp.NAMED).card, pm.registry.get(fp.RAGGED).card
    assert subjects_of("N,F,7") == ["N", "F", 7]
    reqs = build_requests(_args(subject=subjects_of("N,7")), {fp.NAMED: named})
    assert [(r.subject, r.label) for r in reqs] == [("N", f"{fp.NAMED}/subject-N"), ("07", f"{fp.NAMED}/subject-07")]
    reqs = build_requests(_args(), {fp.RAGGED: averaged})
    assert [(r.subject, r.label) for r in reqs] == [(None, fp.RAGGED)]
    both = build_requests(_args(subject=["F"]), {fp.NAMED: named, fp.RAGGED: averaged})
    assert [r.label for r in both] == [f"{fp.NAMED}/subject-F", fp.RAGGED]
    with pytest.raises(InvalidParameterError, match=r"--subject does not apply: toy-forms-ragged is participant-averaged"):
        build_requests(_args(subject=[1]), {fp.RAGGED: averaged})
    with pytest.raises(InvalidParameterError, match=r"subject\(s\) \['Q'\] are not available for toy-forms-named; valid subjects: \['N', 'F', '07'\]"):
        build_requests(_args(subject=["N", "Q"]), {fp.NAMED: named})
    with pytest.raises(InvalidParameterError, match=r"--subject is required; valid subjects: \{'toy-forms-named': \['N', 'F', '07'\]\}"):
        build_requests(_args(), {fp.NAMED: named, fp.RAGGED: averaged})


def test_pregenerated_responses_of_named_subjects_are_found_by_name() -> None:
    from berg_core.workflows.pregenerated import pregenerated_path

    assert pregenerated_path(fp.CARDS[0], "things", "N").endswith("imageset-things/responses_subject-N.zarr")
    assert pregenerated_path(fp.CARDS[1], "things", None).endswith("imageset-things/responses.zarr")
    assert pregenerated_path(_card_with([1, 2]), "things", 2).endswith("responses_subject-02.zarr")


def test_the_conformance_kit_passes_named_and_averaged_ragged_models() -> None:
    from berg_core.testing import check_plugin

    report = check_plugin(fp.FormsPlugin(), n_images=4)
    report.raise_for_failures()
    checked = {(r.model_id, r.check) for r in report.results}
    assert (fp.NAMED, "bad_parameters") in checked and (fp.RAGGED, "batch_size") in checked


def test_plot_titles_name_the_subject_as_given() -> None:
    from berg_core.results.plotting import describe_result

    def result(**attrs: Any) -> xr.DataArray:
        return xr.DataArray(np.zeros(2), dims=("stimulus",), attrs={"model_id": "m", **attrs})

    assert describe_result(result(subject="N"), "x") == "m · subject N · x"
    assert describe_result(result(subject="01"), "x") == "m · subject 01 · x"
    assert describe_result(result(subject=2), "x") == "m · subject 2 · x"
    assert describe_result(result(), "x") == "m · x"
    assert describe_result(result(subject=-1), "x") == "m · x"


def test_berg_encode_on_the_command_line_with_named_and_averaged_models(
    berg: BERG, pm: PluginManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from berg_core.cli.main import main
    from berg_core.registry import manager

    monkeypatch.setattr(manager, "_PM", pm)  # the command line's process-wide plugins: the toys
    from PIL import Image

    (tmp_path / "images").mkdir()
    for i, img in enumerate(IMAGES):
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(tmp_path / "images" / f"img{i}.png")
    out = tmp_path / "cli.zarr"
    code = main(["encode", f"{fp.NAMED},{fp.RAGGED}", str(tmp_path / "images"), "-o", str(out), "--subject", "N,7",
                 "--berg-dir", berg.store.url, "--device", "cpu", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert sorted(open_results(out)) == [f"{fp.NAMED}/subject-07", f"{fp.NAMED}/subject-N", fp.RAGGED]
    code = main(["encode", fp.RAGGED, str(tmp_path / "images"), "-o", str(tmp_path / "avg.zarr"), "--subject", "1",
                 "--berg-dir", berg.store.url, "--device", "cpu", "--no-progress"])
    assert code == 2 and "participant-averaged" in capsys.readouterr().err
