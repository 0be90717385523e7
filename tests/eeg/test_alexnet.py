"""THINGS EEG2 AlexNet models (``eeg-things_eeg_2-alexnet``, ``-alexnet_untrained``).

Stores are written by the plugin's ``berg_write_synthetic_store`` hook in the newest
trainers' layout (one PCA per repetition, float64 dicts; 8 components). The
reference is independent: torchvision's ``create_feature_extractor`` on BERG 2.0's
eight nodes, images prepared as BERG 2.0 does (its preset on the uint8 batch) or
as its trainers did (each image as a PIL image through the same preset), then the
reference document's math in NumPy float64 on the weights as ``np.load`` reads
them. The other documented weight forms (one shared PCA; per-repetition pickled
sklearn ``PCA`` objects) are written by the tests themselves.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from berg_core import BERG
from berg_core.errors import IntegrityError, ModelLoadError

from .eeg_reference import assert_matches_reference, load_pickled

TRAINED, UNTRAINED = "eeg-things_eeg_2-alexnet", "eeg-things_eeg_2-alexnet_untrained"
N_COMPONENTS = 8
NODES = ["features.2", "features.5", "features.7", "features.9", "features.12", "classifier.2", "classifier.5",
         "classifier.6"]


def _dir(model_id: str) -> str:
    return f"encoding_models/modality-eeg/train_dataset-things_eeg_2/model-{model_id.rsplit('-', 1)[-1]}"


def _weights(root: Path, model_id: str, subject: int = 1) -> Path:
    return root / _dir(model_id) / "encoding_models_weights" / f"weights_subject-{subject:02d}.npy"


def _write(root: Path, model_id: str, subjects: list[int]) -> list[str]:
    from berg_core.registry.manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry.get(model_id)
    hook = pm.owner_hook("berg_write_synthetic_store", reg.plugin_name)
    return hook(card=reg.card, root=str(root), subjects=subjects, seed=5, options={"n_components": N_COMPONENTS})  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eeg_alexnet")
    _write(root, TRAINED, [1, 2])
    _write(root, UNTRAINED, [1])
    return root


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Non-square uint8 images: the short-side resize and the crop matter."""
    return np.random.default_rng(21).integers(0, 256, size=(3, 3, 230, 280), dtype=np.uint8)


# ---- independent reference ------------------------------------------------------------------------
def _reference_net(weights_file: Path | None) -> torch.nn.Module:
    from torchvision.models import alexnet

    if weights_file is None:  # BERG 2.0's untrained model: seed, then build
        state = torch.random.get_rng_state()
        torch.manual_seed(20200220)
        net = alexnet(weights=None)
        torch.random.set_rng_state(state)
    else:
        net = alexnet(weights=None)
        net.load_state_dict(torch.load(weights_file, weights_only=True))
    return net.eval()


def _reference_features(net: torch.nn.Module, images: np.ndarray, mode: str) -> np.ndarray:
    from PIL import Image
    from torchvision.models import AlexNet_Weights
    from torchvision.models.feature_extraction import create_feature_extractor

    tf = AlexNet_Weights.IMAGENET1K_V1.transforms()
    if mode == "berg-2.0":
        x = tf(torch.from_numpy(images))  # BERG 2.0's inference: the preset on the uint8 batch
    else:  # its trainers: each image as a PIL image
        x = torch.stack([tf(Image.fromarray(np.ascontiguousarray(im.transpose(1, 2, 0))).convert("RGB")) for im in images])
    extractor = create_feature_extractor(net, return_nodes=NODES)
    with torch.no_grad():
        out = extractor(x)
    return torch.hstack([torch.flatten(out[n], start_dim=1) for n in NODES]).double().numpy()


def _pca(weights: dict[str, Any], r: int) -> Any:
    pca = weights["pca_param"]
    if "components_" in pca:  # the older single PCA shared by the repetitions
        return pca
    p = pca[f"rep-{r}"]
    return p if isinstance(p, dict) else {"mean_": p.mean_, "components_": p.components_}


def reference_eeg(features: np.ndarray, weights: dict[str, Any]) -> np.ndarray:
    """Per repetition r: ``z_r = ((f - scaler.mean_) / scaler.scale_ - pca_r.mean_) @ pca_r.components_.T``,
    ``y_r = z_r @ coef_r.T + intercept_r`` (float64), as ``(images, 4, 63, 140)``."""
    sc = weights["scaler_param"]
    x = (features - sc["mean_"]) / sc["scale_"]
    reps = []
    for r in range(1, 5):
        pca, reg = _pca(weights, r), weights["reg_param"][f"rep-{r}"]
        z = (x - pca["mean_"]) @ pca["components_"].T
        reps.append(z @ reg["coef_"].T + reg["intercept_"])
    return np.stack(reps, axis=1).reshape(len(features), 4, 63, 140)


# ---- outputs equal the reference ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "berg-2.0"])
def test_trained_model_equals_reference(store: Path, images: np.ndarray, alexnet_weights_file: Path, mode: str) -> None:
    berg = BERG(store)
    model = berg.get_encoding_model(TRAINED, subject=1, preprocessing=mode, backbone_weights=str(alexnet_weights_file))
    got = berg.encode(model, images)
    assert got.dims == ("stimulus", "repetition", "channel", "time")
    want = reference_eeg(_reference_features(_reference_net(alexnet_weights_file), images, mode), load_pickled(_weights(store, TRAINED)))
    assert_matches_reference(got.values, want)
    # the four repetitions have their own PCAs: never all equal
    assert not np.allclose(got.values[:, 0], got.values[:, 1])


@pytest.mark.parametrize("mode", ["train", "berg-2.0"])
def test_untrained_model_equals_reference_without_any_weights_file(
    store: Path, images: np.ndarray, empty_torch_home: Path, mode: str
) -> None:
    berg = BERG(store)  # no backbones/ in the store, nothing in the torch hub cache
    model = berg.get_encoding_model(UNTRAINED, subject=1, preprocessing=mode, selection={"channels": ["Oz", "O1"]})
    got = berg.encode(model, images)
    want = reference_eeg(_reference_features(_reference_net(None), images, mode), load_pickled(_weights(store, UNTRAINED)))
    assert list(got["channel"].values) == ["Oz", "O1"]  # the selection keeps the given order
    from berg_eeg_things.layout import CHANNEL_NAMES

    idx = [CHANNEL_NAMES.index(c) for c in ("Oz", "O1")]
    assert_matches_reference(got.values, want[:, :, idx])


def test_default_preprocessing_is_the_training_one(store: Path, images: np.ndarray, alexnet_weights_file: Path) -> None:
    berg = BERG(store)
    default = berg.encode(berg.get_encoding_model(TRAINED, subject=1, backbone_weights=str(alexnet_weights_file)), images)
    train = berg.encode(berg.get_encoding_model(TRAINED, subject=1, preprocessing="train",
                                                backbone_weights=str(alexnet_weights_file)), images)
    np.testing.assert_array_equal(default.values, train.values)
    assert default.attrs["preprocessing"] in ("train", "")


# ---- the other documented weight forms --------------------------------------------------------------
def _copy_store(store: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(store / _dir(TRAINED), root / _dir(TRAINED))
    return root


def test_pickled_sklearn_pca_objects_read_safely_and_equal_the_dict_form(
    store: Path, tmp_path: Path, images: np.ndarray, alexnet_weights_file: Path
) -> None:
    sklearn_pca = pytest.importorskip("sklearn.decomposition").PCA
    root = _copy_store(store, tmp_path)
    path = _weights(root, TRAINED)
    weights = load_pickled(path)
    for r in range(1, 5):  # what the newest trainers save: a deep-copied, fitted PCA per repetition
        d, p = weights["pca_param"][f"rep-{r}"], sklearn_pca(n_components=N_COMPONENTS, random_state=20201220 + r * 10)
        for key in ("components_", "mean_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
                    "n_components_", "n_samples_", "noise_variance_", "n_features_in_"):
            setattr(p, key, d[key])
        weights["pca_param"][f"rep-{r}"] = p
    np.save(path, np.array(weights, dtype=object), allow_pickle=True)
    berg = BERG(root)
    got = berg.encode(berg.get_encoding_model(TRAINED, subject=1, backbone_weights=str(alexnet_weights_file)), images)
    dict_form = BERG(store).encode(BERG(store).get_encoding_model(TRAINED, subject=1,
                                                                   backbone_weights=str(alexnet_weights_file)), images)
    np.testing.assert_array_equal(got.values, dict_form.values)


def test_older_single_shared_pca_is_accepted(store: Path, tmp_path: Path, images: np.ndarray, alexnet_weights_file: Path) -> None:
    root = _copy_store(store, tmp_path)
    path = _weights(root, TRAINED)
    weights = load_pickled(path)
    weights["pca_param"] = weights["pca_param"]["rep-2"]  # the older trainers: one PCA for every repetition
    np.save(path, np.array(weights, dtype=object), allow_pickle=True)
    berg = BERG(root)
    got = berg.encode(berg.get_encoding_model(TRAINED, subject=1, backbone_weights=str(alexnet_weights_file)), images)
    want = reference_eeg(_reference_features(_reference_net(alexnet_weights_file), images, "train"), weights)
    assert_matches_reference(got.values, want)


def test_missing_pca_lists_the_forms_looked_for(store: Path, tmp_path: Path, alexnet_weights_file: Path) -> None:
    root = _copy_store(store, tmp_path)
    path = _weights(root, TRAINED)
    weights = load_pickled(path)
    weights["pca_param"] = {"rep-1": weights["pca_param"]["rep-1"]}  # three repetitions' PCAs missing
    np.save(path, np.array(weights, dtype=object), allow_pickle=True)
    with pytest.raises(IntegrityError) as err:
        BERG(root).get_encoding_model(TRAINED, subject=1, backbone_weights=str(alexnet_weights_file))
    for key in ("pca_param/rep-1/components_", "pca_param/rep-4/components_", "'pca_param/components_'", "found"):
        assert key in str(err.value), key


def test_a_pca_of_the_wrong_width_is_refused(store: Path, tmp_path: Path, vit_weights_file: Path) -> None:
    # ViT-B/32 weights are not AlexNet's: refused with the file named
    with pytest.raises(IntegrityError, match="does not hold torchvision alexnet weights"):
        BERG(store).get_encoding_model(TRAINED, subject=1, backbone_weights=str(vit_weights_file))


def test_trained_model_without_backbone_weights_says_how_to_get_them(store: Path, empty_torch_home: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"(?s)AlexNet backbone weights were not found.*IMAGENET1K_V1"):
        BERG(store).get_encoding_model(TRAINED, subject=1)


# ---- one backbone pass per batch ---------------------------------------------------------------------
def _count_forwards(models: list[Any]) -> dict[int, list[int]]:
    """Wrap each distinct shared extractor's forward with a counter (restored by the caller)."""
    counts: dict[int, list[int]] = {}
    for m in models:
        fe = m.feature_extractor
        if id(fe) in counts:
            continue
        counter = counts[id(fe)] = [0]
        original = fe.forward

        def counting(x: torch.Tensor, _o: Any = original, _c: list[int] = counter) -> torch.Tensor:
            _c[0] += 1
            return _o(x)

        fe.forward = counting
    return counts


def test_models_of_one_backbone_share_a_forward_per_batch(store: Path, images: np.ndarray, alexnet_weights_file: Path) -> None:
    berg = BERG(store)
    w = str(alexnet_weights_file)
    models = [berg.get_encoding_model(TRAINED, subject=1, backbone_weights=w),
              berg.get_encoding_model(TRAINED, subject=2, backbone_weights=w, selection={"channels": ["Cz"]}),
              berg.get_encoding_model(UNTRAINED, subject=1)]
    assert models[0].feature_extractor is models[1].feature_extractor
    assert models[0].feature_extractor is not models[2].feature_extractor  # trained and untrained: two backbones
    assert models[0].feature_key == models[1].feature_key != models[2].feature_key
    counts = _count_forwards(models)
    try:
        together = berg.encode(models, images, batch_size=2)
    finally:
        for m in models:
            m.feature_extractor.__dict__.pop("forward", None)
    assert sorted(c[0] for c in counts.values()) == [2, 2]  # 3 images in batches of 2: two forwards per backbone
    alone = berg.encode(models[1], images, batch_size=2)
    np.testing.assert_array_equal(together[f"{TRAINED}/subject-02"].values, alone.values)


def test_converted_zarr_layout_gives_the_same_outputs(
    store: Path, tmp_path: Path, images: np.ndarray, alexnet_weights_file: Path
) -> None:
    from berg_core.workflows.convert import convert_store

    dst = tmp_path / "zarr_store"
    convert_store(str(store), str(dst), models=[TRAINED], subjects=[1], show_progress=False)
    twin = _weights(dst, TRAINED).with_suffix(".zarr")
    assert (twin / "zarr.json").is_file()
    assert (twin / "pca_param" / "rep-4" / "components_").is_dir()  # per-repetition PCAs stored as they are
    w = str(alexnet_weights_file)
    for selection in (None, {"channels": ["Pz", "Oz"], "timepoints": slice(0.1, 0.2)}):
        from_npy = BERG(store).encode(BERG(store).get_encoding_model(TRAINED, subject=1, backbone_weights=w,
                                                                     selection=selection), images)
        from_zarr = BERG(dst).encode(BERG(dst).get_encoding_model(TRAINED, subject=1, backbone_weights=w,
                                                                  selection=selection), images)
        np.testing.assert_allclose(from_zarr.values, from_npy.values, rtol=1e-5, atol=1e-5)
