"""Core enforces what a card declares: subjects, options, selection keys, kinds and conflicts.

One set of checks (``berg_core.cards.enforce``) and one set of selection primitives
(``berg_core.models.selection``, exposed through the SDK) serve core and every plugin.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

import berg_core.plugin as sdk
from berg_core import InvalidParameterError
from berg_core.cards.enforce import check_load_options, check_options, check_selection_keys, check_subject, closest
from berg_core.cards.model_card import card_from_dict
from berg_core.errors import CardError
from berg_core.models.selection import (
    check_selection,
    first_listed_wins,
    grid_indices,
    index_list,
    mask_or_indices,
    name_indices,
    nearest_positions,
    select_names,
)

BASE = {
    "id": "toy-enforce-model",
    "modality": "toy",
    "training_dataset": "d",
    "species": "none",
    "stimuli": "images",
    "architecture": "a",
    "creator": "c",
    "description": "d",
    "input": {"description": "images", "dims": [{"name": "stimulus"}]},
    "output": {
        "description": "o",
        "dims": [{"name": "stimulus"}, {"name": "unit", "size": 5}, {"name": "time", "size": 4}, {"name": "vertex"}],
    },
    "subjects": [1, 3],
    "store_path": "encoding_models/toy",
    "units": "a.u.",
    "template_space": "none",
    "license": "MIT",
    "preprocessing": {"train": "t", "berg-2.0": "b"},
    "default_preprocessing": "train",
}
KEYS = [
    {"name": "region", "description": "r", "kind": "names_or_groups", "valid_values": ["V1", "V2", "FFA-1"], "noun": "ROI",
     "conflicts_with": ["mask"]},
    {"name": "labels", "description": "l", "kind": "names", "valid_values": ["a", "b", "c"], "axis": "unit", "noun": "label"},
    {"name": "units", "description": "u", "kind": "indices", "axis": "unit", "noun": "unit"},
    {"name": "mask", "description": "m", "kind": "mask_or_indices", "axis": "vertex", "size": 10, "noun": "vertex",
     "conflicts_with": ["region"]},
    {"name": "times", "description": "t", "kind": "time_window", "axis": "time", "noun": "time point",
     "grid": {"start": -0.1, "step": 0.05, "size": 4, "tolerance": 0.001}},
    {"name": "free", "description": "declared without a kind, as older cards do"},
]
PARAMS = [
    {"name": "subject", "function": "get_encoding_model", "type": "int", "description": "s"},
    {"name": "gain", "function": "get_encoding_model", "type": "float", "description": "g"},
    {"name": "mode", "function": "get_encoding_model", "type": "str", "valid_values": ["fast", "exact"], "description": "m"},
    {"name": "weights", "function": "get_encoding_model", "type": "path", "description": "w"},
    {"name": "anything", "function": "get_encoding_model", "type": "numpy.ndarray | list", "description": "unchecked type"},
    {"name": "roi", "function": "get_model_metadata", "type": "str | list", "description": "r"},
]


def card(**changes: Any) -> Any:
    data = copy.deepcopy({**BASE, "selection_keys": KEYS, "parameters": PARAMS})
    data.update(changes)
    return card_from_dict(data)


# ---- subjects and options ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "message"),
    [
        (None, r"toy-enforce-model needs subject=\.\.\., one of \[1, 3\]"),
        (2, r"subject 2 is not available for toy-enforce-model; valid subjects: \[1, 3\]"),
        (True, r"subject must be an integer, one of \[1, 3\], got bool True"),
        ("²", r"subject must be an integer, one of \[1, 3\], got str '²'"),
        (1.0, r"got float 1.0"),
    ],
)
def test_bad_subjects(subject: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_subject(card(), subject)


def test_good_subjects_become_ints() -> None:
    assert [check_subject(card(), s) for s in (1, np.int64(3), " 3 ")] == [1, 3, 3]


def test_unknown_option_names_the_closest_one() -> None:
    with pytest.raises(InvalidParameterError) as err:
        check_options({"preprocesing": 1}, ["preprocessing", "backbone_weights"], "m.get_encoding_model")
    assert str(err.value) == (
        "unknown option(s) ['preprocesing'] for m.get_encoding_model; accepted: ['backbone_weights', 'preprocessing']. "
        "Did you mean 'preprocessing'?"
    )
    with pytest.raises(InvalidParameterError, match=r"unknown plot option\(s\) \['x'\] for m; accepted: dpi: resolution$"):
        check_options({"x": 1}, {"dpi": "resolution"}, "m", what="plot option", meanings={"dpi": "resolution"})
    check_options({"dpi": 1}, ["dpi"], "m")  # a known one passes


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": 1}, r"unknown option\(s\) \['colour'\] for toy-enforce-model.get_encoding_model; accepted: "
                        r"\['anything', 'gain', 'mode', 'preprocessing', 'weights'\]$"),
        ({"subject": 1}, r"unknown option\(s\) \['subject'\]"),  # an argument of its own, never an option
        ({"gain": "high"}, r"gain must be a number, got str 'high'"),
        ({"gain": True}, r"gain must be a number, got bool True"),
        ({"mode": "quick"}, r"mode='quick' is not available for toy-enforce-model; expected one of \['exact', 'fast'\]$"),
        ({"mode": "Fast"}, r"expected one of \['exact', 'fast'\]\. Did you mean 'fast'\?"),
        ({"mode": 3}, r"mode must be a string, one of .*, got int 3"),
        ({"weights": 5}, r"weights must be a file path \(str or os.PathLike\), got int 5"),
        ({"preprocessing": "imagenet"}, r"preprocessing='imagenet' is not available .*\['berg-2.0', 'train'\]"),
    ],
)
def test_load_options_are_checked_against_the_card(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_load_options(card(), options)


def test_declared_options_pass() -> None:
    from pathlib import Path

    check_load_options(card(), {"gain": 2, "mode": "fast", "weights": Path("w.pth"), "anything": object(),
                                "preprocessing": "berg-2.0"})
    check_load_options(card(), {"mode": None})  # None means "the default"


# ---- what a card may declare ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ({"name": "k", "description": "d", "kind": "names"}, "of kind 'names' must list valid_values"),
        ({"name": "k", "description": "d", "kind": "time_window"}, "needs a grid"),
        ({"name": "k", "description": "d", "kind": "mask"}, "needs a size"),
        ({"name": "k", "description": "d", "kind": "indices", "axis": "vertex"}, "needs a size"),  # vertex has no size
        ({"name": "k", "description": "d", "axis": "voxel"}, "not an output dim"),
        ({"name": "k", "description": "d", "conflicts_with": ["nope"]}, r"conflicts_with \['nope'\], which are not"),
        ({"name": "k", "description": "d", "kind": "ranges"}, "kind"),
    ],
)
def test_cards_must_declare_enough_to_be_enforced(key: dict[str, Any], message: str) -> None:
    with pytest.raises(CardError, match=message):
        card(selection_keys=[key])


def test_older_cards_without_kinds_still_validate() -> None:
    old = card(selection_keys=[{"name": "units", "description": "unit indices", "valid_values": [0, 1]}])
    assert old.selection_keys[0].kind is None
    check_selection(old, {"units": "anything at all"})  # only the key name is checked
    with pytest.raises(InvalidParameterError, match=r"unknown selection key\(s\) \['unit'\] .*Did you mean 'units'\?"):
        check_selection(old, {"unit": [0]})


def test_in_tree_cards_declare_kinds() -> None:
    from berg_core.registry.manager import get_plugin_manager

    cards = {r.card.id: r.card for r in get_plugin_manager().registry}
    for model_id in ("eeg-things_eeg_2-vit_b_32", "fmri-nsd-fwrf", "fmri-nsd_fsaverage-vit_b_32"):
        assert all(k.kind is not None for k in cards[model_id].selection_keys), model_id
    eeg = cards["eeg-things_eeg_2-vit_b_32"].selection_key("timepoints")
    assert eeg is not None and eeg.grid is not None
    np.testing.assert_allclose(eeg.grid.values(), eeg.valid_values)  # the grid is the listed time points


# ---- selections ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (["V1"], r"selection must be a dict such as \{'region': 'V1'\} or None, got list"),
        ({"regoin": "V1"}, r"unknown selection key\(s\) \['regoin'\] for toy-enforce-model; accepted: \[.*\]\. Did you mean 'region'\?"),
        ({1: "V1"}, r"unknown selection key\(s\) \['1'\]"),
        ({"region": "V1", "mask": [1]}, r"selection gives both 'region' and \['mask'\]; 'region' conflicts with \['mask'\]"),
        ({"region": "v1"}, r"unknown ROI 'v1' for toy-enforce-model\. Did you mean 'V1'\? Valid ROIs: \['V1', 'V2', 'FFA-1'\]$"),
        ({"region": ["V1", "FFA1", "X"]}, r"unknown ROIs \['FFA1', 'X'\] for toy-enforce-model\. Did you mean 'FFA-1'\?"),
        ({"region": []}, r"selection\['region'\] is an empty list; expected a ROI name or a list of names from"),
        ({"region": 3}, r"selection\['region'\] must be a ROI name or a list of names, got int 3; valid ROIs"),
        ({"labels": ["a", "a"]}, r"selection\['labels'\] lists \['a'\] more than once; give each label once"),
        ({"units": [1, 7]}, r"selection\['units'\] holds unit index 7, outside 0-4"),
        ({"units": [1, 1]}, r"selection\['units'\] repeats unit index 1; list each unit once"),
        ({"units": [0.5]}, r"selection\['units'\] must hold integers"),
        ({"units": True}, r"selection\['units'\] must be unit indices in 0-4, got bool True"),
        ({"units": []}, r"selection\['units'\] is empty"),
        ({"mask": np.zeros(10, bool)}, r"selection\['mask'\] is an all-zero mask, which selects no vertex; .*pass an empty list"),
        ({"mask": np.ones(9, bool)}, r"as a binary mask must have 10 entries \(one per vertex\), got 9"),
        ({"mask": [0.5, 2.0]}, r"has 2 float values"),
        ({"times": [0.07]}, r"\[0.07\] s are not time points of the model; available time points: -0.100 to 0.050 s"),
        ({"times": slice(0.1, 0.2)}, r"slice\(0.1, 0.2\) selects no time point"),
        ({"times": slice(None, None, 2)}, r"slice must not have a step"),
        ({"times": [1, 1, 0]}, r"as a binary mask must have 4 entries"),
    ],
)
def test_bad_selections_are_refused_by_core(selection: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_selection(card(), selection)


def test_good_selections_pass_unchanged() -> None:
    for sel in (None, {}, {"region": ["V1", "V1"]}, {"labels": "b"}, {"units": 3}, {"mask": []},
                {"mask": np.eye(10, dtype=bool)[2]}, {"times": slice(-0.05, 0.0)}, {"times": [0.0, -0.1]},
                {"times": np.array([True, False, False, True])}, {"free": object()}):
        assert check_selection(card(), sel) is sel


def test_none_stands_for_an_absent_key() -> None:
    check_selection(card(), {"region": None, "mask": [2]})  # BERG 2.0 passes roi=None with vertex masks
    check_selection_keys(card(), {"region": "V1", "mask": None})


def test_required_selection() -> None:
    params = [*PARAMS, {"name": "selection", "function": "get_encoding_model", "type": "dict", "required": True,
                        "description": "s"}]
    for sel in (None, {}, {"region": None}):
        with pytest.raises(InvalidParameterError, match=r"toy-enforce-model needs selection=\.\.\., e\.g\. \{'region': 'V1'\}; "
                                                        r"valid ROIs: \['V1', 'V2', 'FFA-1'\]"):
            check_selection(card(parameters=params), sel)


# ---- the primitives -----------------------------------------------------------------------------------
def test_names_keep_order_or_merge() -> None:
    valid = ["a", "b", "c"]
    assert select_names(["c", "a"], valid, what="w", owner="m") == ["c", "a"]
    assert select_names(["c", "a", "c"], valid, what="w", owner="m", repeats="merge") == ["c", "a"]
    np.testing.assert_array_equal(name_indices(np.array(["b", "a"]), valid, what="w", owner="m"), [1, 0])
    assert closest("FFA1", ["FFA-1", "V1"]) == "FFA-1" and closest("zzz", ["V1"]) is None


def test_indices_and_masks() -> None:
    np.testing.assert_array_equal(index_list([3, 0], 5, what="w", noun="u"), [3, 0])
    np.testing.assert_array_equal(index_list([3, 0], 5, what="w", noun="u", ordered=False), [0, 3])
    np.testing.assert_array_equal(mask_or_indices([4, 1], 10, what="w", noun="v"), [1, 4])
    mask = np.zeros(10, int)
    mask[[7, 2]] = 1
    np.testing.assert_array_equal(mask_or_indices(mask, 10, what="w", noun="v"), [2, 7])
    assert mask_or_indices([], 10, what="w", noun="v").size == 0


def test_first_listed_wins() -> None:
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([0, 1, 1, 0], bool)
    union, parts = first_listed_wins([b, a])
    np.testing.assert_array_equal(union, [1, 1, 1, 0])
    (b_pos, b_cols), (a_pos, a_cols) = parts
    np.testing.assert_array_equal(b_pos, [0, 1])  # b answers for both of its elements
    np.testing.assert_array_equal(b_cols, [1, 2])
    np.testing.assert_array_equal(a_pos, [0])  # a only for element 0: element 1 went to b, listed first
    np.testing.assert_array_equal(a_cols, [0])


def test_grid_positions_on_a_long_grid_without_a_dense_temporary() -> None:
    grid = np.arange(327_684, dtype=np.float64)[::-1]  # unsorted (descending) labels
    requested = np.arange(0, 327_684, 7, dtype=np.float64)  # 46,812 requests: a dense table would be 120 GB
    pos = nearest_positions(requested, grid, what="w", tolerance=0.0)
    np.testing.assert_array_equal(grid[pos], requested)
    with pytest.raises(InvalidParameterError, match=r"\[0.5\] are not values of the model"):
        nearest_positions([0.5], grid, what="w", tolerance=0.0)


def test_grid_indices_read_each_form() -> None:
    grid = np.round(np.arange(140) * 0.005 - 0.1, 6)
    kw = dict(what="w", tolerance=1e-4, units="s")
    np.testing.assert_array_equal(grid_indices(slice(0.1, 0.11), grid, **kw), [40, 41, 42])  # both ends inclusive
    np.testing.assert_array_equal(grid_indices([0.105, 0.1], grid, **kw), [41, 40])  # order given
    np.testing.assert_array_equal(grid_indices(0.10003, grid, **kw), [40])  # within the tolerance
    mask = np.zeros(140)
    mask[[3, 9]] = 1.0
    np.testing.assert_array_equal(grid_indices(mask, grid, **kw), [3, 9])  # 0.0/1.0 floats of full length: a mask


# ---- through BERG: the plugin is not called when the card refuses --------------------------------------
def test_core_refuses_before_the_plugin_is_called(toy_store: Any) -> None:
    import berg_toy.plugin as toy

    berg = toy_store
    attempts: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"units": ["0"]}, {}, r"selection\['units'\] must hold integers"),
        ({"units": [4]}, {}, r"selection\['units'\] holds unit index 4, outside 0-3"),
        ({"unit": [1]}, {}, r"unknown selection key\(s\) \['unit'\] .*Did you mean 'units'\?"),
        (None, {"preprocessing": "fast"}, r"preprocessing='fast' is not available"),
        (None, {"colour": 1}, r"unknown option\(s\) \['colour'\] for toy-retina-luminance.get_encoding_model; accepted: \['preprocessing'\]"),
    ]
    for selection, options, message in attempts:
        toy.CALLS.clear()
        with pytest.raises(InvalidParameterError, match=message):
            berg.get_encoding_model("toy-retina-luminance", subject=1, selection=selection, **options)
        assert "berg_load_model" not in toy.CALLS
    toy.CALLS.clear()
    with pytest.raises(InvalidParameterError, match=r"unknown option\(s\) \['roi'\] for toy-retina-luminance.get_model_metadata; accepted: none"):
        berg.get_model_metadata("toy-retina-luminance", subject=1, roi="V1")
    assert "berg_model_metadata" not in toy.CALLS
    model = berg.get_encoding_model("toy-retina-luminance", subject=1, selection={"units": [3, 1]}, device="cpu")
    assert model.units == [3, 1]


def test_the_sdk_exposes_the_primitives() -> None:
    for name in ("select_names", "name_indices", "mask_indices", "index_list", "mask_or_indices", "grid_indices",
                 "first_listed_wins", "check_options", "did_you_mean", "Grid"):
        assert name in sdk.__all__ and getattr(sdk, name) is not None


# ---- pre-generated responses: the same primitives, by label ----------------------------------------------
def _responses() -> Any:
    import xarray as xr

    data = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    return xr.DataArray(
        data, dims=("stimulus", "vertex", "time"),
        coords={"stimulus": [0, 1], "vertex": [10, 11, 12, 13], "hemisphere": ("vertex", ["lh", "lh", "rh", "rh"]),
                "time": [0.0, 0.005, 0.01]},
    )


def test_pregenerated_selection_by_label() -> None:
    from berg_core.workflows.pregenerated import select_by_label

    da = _responses()
    assert select_by_label(da, {"hemisphere": "rh"}).vertex.values.tolist() == [12, 13]
    assert select_by_label(da, {"vertices": [13, 10]}).vertex.values.tolist() == [13, 10]
    assert select_by_label(da, {"time": slice(0.005, None)}).time.values.tolist() == [0.005, 0.01]
    # a key named in the card (EEG's "timepoints") reaches its axis through the card, not a table in core
    assert select_by_label(da, {"timepoints": np.array([True, False, True])}, aliases={"timepoints": "time"}).time.values.tolist() == [0.0, 0.01]
    with pytest.raises(InvalidParameterError, match=r"selection key 'timepoints' is not a label of these responses"):
        select_by_label(da, {"timepoints": np.array([True, False, True])})
    assert select_by_label(da, {"time": 0.0050000001}).time.values.tolist() == [0.005]
    with pytest.raises(InvalidParameterError, match=r"unknown hemisphere 'left' for m\. Valid hemispheres: \['lh', 'rh'\]"):
        select_by_label(da, {"hemisphere": "left"}, "m")
    with pytest.raises(InvalidParameterError, match=r"selection\['vertex'\]: \[9.0\] are not vertices of the model"):
        select_by_label(da, {"vertex": [9]})
    with pytest.raises(InvalidParameterError, match=r"is an all-zero mask"):
        select_by_label(da, {"time": np.zeros(3, bool)})
    with pytest.raises(InvalidParameterError, match=r"select by one of \['hemisphere', 'time', 'vertex'\].*Did you mean 'hemisphere'\?"):
        select_by_label(da, {"hemispher": "lh"})


def test_label_aliases_come_from_the_cards_label_keys_only() -> None:
    from berg_core.registry.manager import get_plugin_manager
    from berg_core.workflows.pregenerated import label_aliases

    aliases = {r.card.id: label_aliases(r.card) for r in get_plugin_manager().registry}
    assert aliases["eeg-things_eeg_2-vit_b_32"] == {"channels": "channel", "timepoints": "time"}
    # ROI groups and hemisphere-relative vertex positions are not vertex labels
    assert aliases["fmri-nsd_fsaverage-vit_b_32"] == {}


def test_the_card_yaml_round_trips() -> None:
    data = yaml.safe_load(yaml.safe_dump({**BASE, "selection_keys": [dict(k) for k in KEYS]}))
    assert card_from_dict(data).selection_key("times").grid.values() == [-0.1, -0.05, 0.0, 0.05]  # type: ignore[union-attr]
