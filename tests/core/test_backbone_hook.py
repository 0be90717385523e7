"""Backbones are contributed through ``berg_backbones``, not hard-wired in core.

Plugin ``pool-a`` contributes a tiny real torch backbone (``toy_pool``) and a model
on it; plugin ``pool-b`` contributes only a model naming the same backbone. Core
writes its seeded weights into synthetic stores, fetches and converts them with the
models, builds one shared instance, and runs it once per batch for both plugins'
models. Core itself names no backbone and no bundled model outside ``backbones/``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr

from berg_core import BERG, ModelLoadError, PluginError, hookimpl
from berg_core.plugin import BackboneSpec, EncodingModel, card_from_dict, square_crop_resize
from berg_core.registry.manager import PluginManager

CORE = Path(__file__).resolve().parents[2] / "berg_core"
IMAGES = np.random.default_rng(1).integers(0, 256, size=(5, 3, 10, 8), dtype=np.uint8)


class Pool(torch.nn.Module):
    """A real (tiny) backbone: 4x4 pixels times a learned scale; counts its forward passes."""

    calls = 0

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(48))

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Pool.calls += 1
        return x.reshape(x.shape[0], -1) * self.scale


def build_pool(state: Any, source: str) -> Pool:
    module = Pool()
    module.load_state_dict(dict(state))
    return module.eval()


SPEC = BackboneSpec(
    name="toy_pool", build=build_pool, layers=("flatten",), n_features=48, filename="toy_pool-0001.pth",
    random_state_dict=lambda: Pool().state_dict() | {"scale": torch.randn(48)},
)


def _card(model_id: str, backbone: str = "toy_pool") -> Any:
    return card_from_dict({
        "id": model_id, "modality": "toy", "training_dataset": "pool", "species": "simulated", "stimuli": "images",
        "architecture": "toy_pool and a linear read-out", "creator": "A third party", "description": "A toy model.",
        "input": {"description": "images", "dims": [{"name": "stimulus"}, {"name": "channel", "size": 3}]},
        "output": {"description": "two units", "dims": [{"name": "stimulus"}, {"name": "unit", "size": 2}]},
        "subjects": [1], "backbone": backbone, "preprocessing": {"train": "resize to 4x4"},
        "default_preprocessing": "train", "store_path": f"encoding_models/modality-toy/model-{model_id}",
        "units": "a.u.", "template_space": "none", "license": "MIT",
    })


class PoolReadout(EncodingModel):
    """What an SDK base class gives plugins: one way to prepare inputs, so passes can be shared."""

    def __init__(self, request: Any) -> None:
        super().__init__(request.card, request.subject, request.selection, request.store, request.device)
        self.feature_extractor = request.backbone()
        with request.store.open(f"{request.card.store_path}/weights.json") as fh:
            self.weight = torch.tensor(json.load(fh), dtype=torch.float32)

    def preprocess(self, stimuli: Any) -> torch.Tensor:
        return square_crop_resize(stimuli.tensors(), 4)

    def encode_features(self, features: torch.Tensor, stimulus_ids: list[Any]) -> xr.DataArray:
        y = (features @ self.weight.T).numpy()
        return xr.DataArray(y, dims=("stimulus", "unit"), coords={"stimulus": stimulus_ids}, attrs=self.base_attrs())


class ModelA(PoolReadout):
    pass


class ModelB(PoolReadout):
    pass


class Plugin:
    def __init__(self, card: Any, model_cls: type, backbones: list[BackboneSpec]) -> None:
        self.card, self.model_cls, self.backbones = card, model_cls, backbones

    @hookimpl
    def berg_model_cards(self):  # type: ignore[no-untyped-def]
        return [self.card]

    @hookimpl
    def berg_backbones(self):  # type: ignore[no-untyped-def]
        return self.backbones

    @hookimpl
    def berg_load_model(self, request):  # type: ignore[no-untyped-def]
        return self.model_cls(request)

    @hookimpl
    def berg_write_synthetic_store(self, card, root, subjects, seed, options):  # type: ignore[no-untyped-def]
        rel = f"{card.store_path}/weights.json"
        (Path(root) / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path(root) / rel).write_text(json.dumps(np.random.default_rng(seed).normal(size=(2, 48)).round(5).tolist()))
        return [rel]


class FlippingPlugin(Plugin):
    """Prepares its models' inputs its own way (mirrored images)."""

    @hookimpl
    def berg_preprocess(self, model, stimuli):  # type: ignore[no-untyped-def]
        return model.preprocess(stimuli).flip(-1)


@pytest.fixture
def pm() -> PluginManager:
    pm = PluginManager()
    pm.register(Plugin(_card("pool-a"), ModelA, [SPEC]), name="pool-a")
    pm.register(Plugin(_card("pool-b"), ModelB, []), name="pool-b")
    return pm


@pytest.fixture
def store(tmp_path: Path, pm: PluginManager) -> Path:
    from berg_core.workflows.synthetic import write_synthetic_store

    written = write_synthetic_store(tmp_path / "store", seed=3, plugin_manager=pm)
    assert SPEC.store_path in written  # core wrote the contributed backbone's seeded weights
    return tmp_path / "store"


def test_core_contributes_its_backbone_through_its_own_hook() -> None:
    registry = PluginManager().registry
    assert registry.backbone_names() and all(registry.backbone(n).plugin_name == "berg_core.defaults" for n in registry.backbone_names())


def test_models_of_two_plugins_naming_one_backbone_share_one_pass(store: Path, pm: PluginManager) -> None:
    berg = BERG(store, plugin_manager=pm)
    a = berg.get_encoding_model("pool-a", subject=1, device="cpu")
    b = berg.get_encoding_model("pool-b", subject=1, device="cpu")
    assert a.feature_extractor is b.feature_extractor and a.feature_key == b.feature_key
    saved = torch.load(store / SPEC.store_path, weights_only=True)["scale"]
    torch.testing.assert_close(a.feature_extractor.scale.detach(), saved, rtol=0, atol=0)  # weights from the store
    before = Pool.calls
    together = berg.encode([a, b], IMAGES, batch_size=2, show_progress=False)
    assert Pool.calls - before == 3  # 3 batches, one backbone pass each, for both plugins' models
    for model in (a, b):
        alone = berg.encode(model, IMAGES, batch_size=2, show_progress=False)
        np.testing.assert_allclose(together[f"{model.model_id}/subject-01"].values, alone.values, rtol=1e-6)


def test_a_plugins_own_preprocessing_applies_in_a_multi_model_run(store: Path, tmp_path: Path) -> None:
    """Sharing a backbone never skips an owner's berg_preprocess: its models get a pass of their own."""
    pm = PluginManager()
    pm.register(Plugin(_card("pool-a"), ModelA, [SPEC]), name="pool-a")
    pm.register(FlippingPlugin(_card("pool-b"), ModelB, []), name="pool-b")
    berg = BERG(store, plugin_manager=pm)
    a, b = (berg.get_encoding_model(m, subject=1, device="cpu") for m in ("pool-a", "pool-b"))
    before = Pool.calls
    together = berg.encode([a, b], IMAGES, batch_size=2, show_progress=False)
    assert Pool.calls - before == 6  # other inputs: one pass per batch for each plugin's models
    flipped = berg.encode(b, IMAGES, batch_size=2, show_progress=False)
    np.testing.assert_allclose(together["pool-b/subject-01"].values, flipped.values, rtol=1e-6)
    from berg_core.stimuli.inputs import as_stimuli

    unflipped = b.encode_features(b.feature_extractor(b.preprocess(as_stimuli(IMAGES).decoded())), list(range(5)))
    assert not np.allclose(unflipped.values, flipped.values)  # the override changed b's responses
    alone = berg.encode(a, IMAGES, batch_size=2, show_progress=False)
    np.testing.assert_allclose(together["pool-a/subject-01"].values, alone.values, rtol=1e-6)


def test_synthetic_backbone_weights_are_seeded_whole_and_leave_the_callers_random_state(tmp_path: Path, pm: PluginManager) -> None:
    from berg_core.workflows.synthetic import write_synthetic_backbone

    torch.manual_seed(11)
    state = torch.get_rng_state()
    paths = [write_synthetic_backbone(tmp_path / name, seed, "toy_pool", plugin_manager=pm) for name, seed in
             (("a", 1), ("b", 1), ("c", 2))]
    assert torch.equal(torch.get_rng_state(), state)
    assert paths == [SPEC.store_path] * 3
    scale = [torch.load(tmp_path / n / SPEC.store_path, weights_only=True)["scale"] for n in "abc"]
    assert torch.equal(scale[0], scale[1]) and not torch.equal(scale[0], scale[2])
    assert not list(tmp_path.rglob("*.part"))
    with pytest.raises(ModelLoadError, match=r"no installed plugin contributes the backbone 'toy_poll'\. Did you mean 'toy_pool'"):
        write_synthetic_backbone(tmp_path / "d", 1, "toy_poll", plugin_manager=pm)


def test_download_and_convert_carry_the_named_backbones_weights(store: Path, pm: PluginManager, tmp_path: Path) -> None:
    from berg_core.workflows.convert import convert_store
    from berg_core.workflows.download import download_model

    report = download_model("pool-b", dest=tmp_path / "copy", berg_dir=str(store), show_progress=False, plugin_manager=pm)
    assert SPEC.store_path in report.fetched
    assert (tmp_path / "copy" / SPEC.store_path).read_bytes() == (store / SPEC.store_path).read_bytes()
    converted = convert_store(str(store), str(tmp_path / "converted"), models=["pool-a"], plugin_manager=pm, show_progress=False)
    assert SPEC.store_path in converted.copied and "backbones/berg-manifest.json" in converted.manifests
    model = BERG(tmp_path / "converted", plugin_manager=pm).get_encoding_model("pool-a", subject=1, device="cpu")
    torch.testing.assert_close(model.feature_extractor.scale.detach(), torch.load(store / SPEC.store_path, weights_only=True)["scale"])


def test_a_backbone_name_given_by_two_plugins_is_an_error_naming_both(pm: PluginManager) -> None:
    pm.register(Plugin(_card("pool-c"), ModelB, [SPEC]), name="pool-c")
    with pytest.raises(PluginError, match=r"backbone 'toy_pool' is contributed by two plugins: 'pool-a' and 'pool-c'"):
        pm.registry  # noqa: B018


def test_a_card_naming_a_backbone_nobody_contributes_fails_to_load_naming_the_installed_ones(tmp_path: Path) -> None:
    pm = PluginManager()
    pm.register(Plugin(_card("pool-x", backbone="nope"), ModelA, []), name="pool-x")
    from berg_core.workflows.synthetic import write_synthetic_store

    written = write_synthetic_store(tmp_path, seed=0, plugin_manager=pm)
    assert not any(p.startswith("backbones/") for p in written)  # nothing to write for an unknown backbone
    with pytest.raises(ModelLoadError, match=r"no installed plugin contributes the backbone 'nope'.*Installed backbones: .+"):
        BERG(tmp_path, plugin_manager=pm).get_encoding_model("pool-x", subject=1, device="cpu")


# ---- core names no backbone and no bundled model ------------------------------------------
HARD_WIRED = re.compile(r"vit_b_32|VIT_B_32|eeg-things|fmri-nsd", re.IGNORECASE)
#: The backbones themselves, and the SDK that re-exports core's backbone for plugins.
OWNERS = ("backbones", "plugin")


def _code_strings_and_names(tree: ast.AST, keep_strings: bool) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    # a field's description is documentation too (it goes to the card schema)
    docstrings |= {id(n) for kw in ast.walk(tree) if isinstance(kw, ast.keyword) and kw.arg == "description" for n in ast.walk(kw.value)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and keep_strings and id(node) not in docstrings:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.alias):
            found.append((getattr(node, "lineno", 0), node.name))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
    return found


def test_core_outside_the_backbones_names_no_backbone_and_no_bundled_model() -> None:
    offending = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE)
        if rel.parts[0] in OWNERS:
            continue
        # the command line's help and examples are documentation: there only code counts
        strings = rel.parts[0] != "cli"
        for line, text in _code_strings_and_names(ast.parse(path.read_text()), strings):
            if HARD_WIRED.search(text):
                offending.append(f"{rel}:{line}: {text[:80]}")
    assert not offending, "\n".join(offending)
