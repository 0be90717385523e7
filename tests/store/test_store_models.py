"""The same models from a local folder or S3, in BERG 2.0's layout or berg's Zarr layout.

Every store must give the same responses (read out from the same seeded
features: the backbone does not depend on the store); the fsaverage ROI
model is also encoded end to end from S3 and checked against the reference
math computed here in NumPy from the BERG 2.0 files themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berg_core.io import load_pickled_npy

from .conftest import EEG, FSAVERAGE, FWRF, StoreUnderTest, respond

CASES = {
    "eeg-channels": (EEG, {"channels": ["O2", "Oz", "Fp1"]}),
    "fsaverage-roi": (FSAVERAGE, {"roi": "FFA-1"}),
    "fwrf-roi": (FWRF, {"roi": "lateral"}),
}
_REFERENCE: dict[str, Any] = {}


def _responses(store: StoreUnderTest, case: str, images: np.ndarray, features: Any, weights: Path) -> Any:
    model_id, selection = CASES[case]
    berg = store.berg()
    opts = {} if model_id == FWRF else {"backbone_weights": str(weights)}
    with berg.get_encoding_model(model_id, subject=1, selection=selection, device="cpu", **opts) as model:
        return respond(berg, model, images, features)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_store_gives_the_same_responses(
    case: str, any_store: StoreUnderTest, legacy_root: Path, images: np.ndarray, features: Any, vit_weights_file: Path, shared_backbone: Any
) -> None:
    if case not in _REFERENCE:
        _REFERENCE[case] = _responses(StoreUnderTest("local", "legacy", str(legacy_root), None), case, images, features, vit_weights_file)
    ref = _REFERENCE[case]
    got = _responses(any_store, case, images, features, vit_weights_file)
    assert got.dims == ref.dims and got.shape == ref.shape
    for name in ref.coords:
        np.testing.assert_array_equal(got[name].values, ref[name].values)
    # the Zarr layout stores the projection folded, so values agree to float32 precision
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-5, atol=1e-5 * float(np.abs(ref.values).max()))


def test_fsaverage_roi_from_s3_zarr_matches_the_reference_math(
    s3: Any, s3_stores: dict[str, str], legacy_root: Path, images: np.ndarray, vit_weights_file: Path, shared_backbone: Any
) -> None:
    from berg_core import BERG
    from berg_core.stimuli.transforms import IMAGENET_MEAN, IMAGENET_STD, square_crop_resize

    from .conftest import s3_options

    berg = BERG(s3_stores["native"], storage_options=s3_options(s3))
    model = berg.get_encoding_model(FSAVERAGE, subject=1, selection={"roi": "OFA"}, device="cpu", backbone_weights=str(vit_weights_file))
    got = berg.encode(model, images, show_progress=False)

    folder = legacy_root / "encoding_models/modality-fmri/train_dataset-nsd_fsaverage/model-vit_b_32"
    with open(folder / "encoding_models_weights/weights_subject-01.npy", "rb") as fh:
        w = load_pickled_npy(fh, "weights")
    with open(folder / "metadata/metadata_subject-01.npy", "rb") as fh:
        meta = load_pickled_npy(fh, "metadata")
    import torch

    f = shared_backbone(square_crop_resize(torch.from_numpy(images), 224, IMAGENET_MEAN, IMAGENET_STD)).double().numpy()
    sc, pca = w["scaler_param"], w["pca_param"]
    z = ((f - sc["mean_"]) / sc["scale_"] - pca["mean_"]) @ pca["components_"].astype(np.float64).T
    parts = []
    for hemi in ("lh", "rh"):
        idx = np.sort(meta["fmri"][f"{hemi}_fsaverage_rois"]["OFA"])
        reg = w[f"{hemi}_reg_param"]
        parts.append(z @ reg["coef_"][idx].astype(np.float64).T + reg["intercept_"][idx])
    expected = np.concatenate(parts, axis=1)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.values, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
