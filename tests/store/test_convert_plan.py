"""``berg_convert_plan``: the plugin owning a model, and only it, says how ``berg convert`` chunks its rows.

A toy plugin owns one card; its weights file is a BERG 2.0 pickled dict with one
regression group. A second plugin that answers first for every card must never be
asked: the plan comes from the card's owner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
import zarr

from berg_core import PluginError, hookimpl
from berg_core.cards.model_card import card_from_dict
from berg_core.models.weights import open_weight_file
from berg_core.plugin import ConvertPlan, save_npy_dict
from berg_core.registry.manager import PluginManager
from berg_core.store.model_store import Store
from berg_core.store.zarr_layout import stored_order
from berg_core.workflows.convert import convert_store

FOLDER = "encoding_models/modality-toy/train_dataset-rows/model-linear"
WEIGHTS = f"{FOLDER}/encoding_models_weights/weights_subject-01.npy"
METADATA = f"{FOLDER}/metadata/metadata_subject-01.npy"
N_ROWS, N_FEATURES = 10, 4
CARD = card_from_dict(yaml.safe_load(f"""
id: toy-rows-linear
modality: toy
training_dataset: rows
species: simulated
stimuli: images
architecture: a linear read-out
creator: A third party
description: A toy model whose plugin plans its Zarr chunks.
input:
  description: images
  dims: [{{name: stimulus}}, {{name: channel, size: 3}}, {{name: height}}, {{name: width}}]
output:
  description: ten units
  dims: [{{name: stimulus}}, {{name: unit, size: {N_ROWS}}}]
subjects: [1]
parameters:
  - {{name: subject, function: get_encoding_model, type: int, required: true, valid_values: [1], description: subject}}
preprocessing: {{train: "none"}}
default_preprocessing: train
store_path: {FOLDER}
units: a.u.
template_space: none
license: MIT
"""))


class Owner:
    """Contributes the card and answers ``berg_convert_plan`` with ``plan``."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan
        self.asked: list[tuple[str, dict[str, Any] | None, str]] = []

    @hookimpl
    def berg_model_cards(self):  # type: ignore[no-untyped-def]
        return [CARD]

    @hookimpl
    def berg_convert_plan(self, card, weights, metadata, source):  # type: ignore[no-untyped-def]
        assert set(weights) == {"reg_param"}
        self.asked.append((card.id, metadata, source))
        return self.plan


class Greedy:
    """Owns no model but answers first: a broadcast hook would take its plan."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl(tryfirst=True)
    def berg_convert_plan(self, card, weights, metadata):  # type: ignore[no-untyped-def]
        self.asked += 1
        return ConvertPlan(rows_per_chunk=1)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(12)
    reg = {"coef_": rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32), "intercept_": rng.normal(size=N_ROWS).astype(np.float32)}
    root = tmp_path / "legacy"
    save_npy_dict(root, WEIGHTS, {"reg_param": reg})
    save_npy_dict(root, METADATA, {"toy": {"units": np.arange(N_ROWS)}})
    return root, reg


def _convert(root: Path, dst: Path, owner: Owner) -> tuple[Greedy, Any]:
    pm = PluginManager()
    greedy = Greedy()
    pm.register(owner, name="toy-owner")
    pm.register(greedy, name="greedy")
    convert_store(str(root), str(dst), plugin_manager=pm, show_progress=False)
    return greedy, zarr.open_group(str(dst / WEIGHTS.replace(".npy", ".zarr")), mode="r")


def test_the_owners_plan_groups_and_chunks_the_regression_rows(source: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    root, reg = source
    groups = np.random.default_rng(3).integers(0, 3, size=N_ROWS).astype(np.uint8)
    owner = Owner(ConvertPlan(row_groups={"reg_param": groups}, rows_per_chunk=3))
    greedy, group = _convert(root, tmp_path / "native", owner)
    assert greedy.asked == 0
    [(card_id, metadata, where)] = owner.asked
    assert card_id == CARD.id and where.endswith("weights_subject-01.npy")
    np.testing.assert_array_equal(metadata["toy"]["units"], np.arange(N_ROWS))
    coef = group["reg_param/coef_"]
    assert coef.chunks == (3, N_FEATURES)
    assert group["reg_param/intercept_"].chunks == (N_ROWS,)  # 1-D rows are 16 times more per chunk
    assert coef.attrs["berg_row_group"] == "row_group/reg_param"
    # stored sorted by group, read back in the original order
    np.testing.assert_array_equal(coef[...], reg["coef_"][stored_order(groups)])
    np.testing.assert_array_equal(group["row_group/reg_param"][...], groups)
    wf = open_weight_file(Store(str(tmp_path / "native")), WEIGHTS)
    np.testing.assert_array_equal(wf.read("reg_param/coef_"), reg["coef_"])
    np.testing.assert_array_equal(wf.read("reg_param/intercept_"), reg["intercept_"])


def test_without_a_plan_rows_keep_their_order_and_core_default_chunks(source: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    root, reg = source
    owner = Owner(None)
    greedy, group = _convert(root, tmp_path / "native", owner)
    assert greedy.asked == 0 and len(owner.asked) == 1
    coef = group["reg_param/coef_"]
    assert coef.chunks == (N_ROWS, N_FEATURES) and "berg_row_group" not in coef.attrs
    np.testing.assert_array_equal(coef[...], reg["coef_"])


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        (ConvertPlan(row_groups={"lh_reg_param": np.zeros(N_ROWS, np.uint8)}), ["'lh_reg_param'", "['reg_param']"]),
        (ConvertPlan(row_groups={"reg_param": np.zeros(N_ROWS + 1, np.uint8)}), [f"{N_ROWS + 1} row groups", f"[{N_ROWS}] rows"]),
        (ConvertPlan(row_groups={"reg_param": np.zeros(N_ROWS)}), ["1-D integers", "float64"]),
        (ConvertPlan(rows_per_chunk=0), ["positive integer", "0"]),
        ({"rows_per_chunk": 3}, ["returned dict", "ConvertPlan"]),
    ],
)
def test_a_plan_that_does_not_fit_the_weights_is_a_plugin_error(
    source: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, plan: Any, words: list[str]
) -> None:
    with pytest.raises(PluginError) as info:
        _convert(source[0], tmp_path / "native", Owner(plan))
    message = str(info.value)
    assert "'toy-owner'" in message and CARD.id in message
    for word in words:
        assert word in message
