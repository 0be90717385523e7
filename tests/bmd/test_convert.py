"""``berg convert`` of the BMD files (a shared TruncatedSVD, flat regressions, ROI tuples) encodes the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .bmd_reference import MODEL_ID


def test_converted_store_encodes_the_same(bmd_store: Path, s3d_file: Path, tmp_path: Path, features: torch.Tensor,
                                          full_train: Any) -> None:
    from berg_core import BERG
    from berg_core.workflows.convert import convert_store

    convert_store(bmd_store, tmp_path, models=[MODEL_ID], subjects=[1], show_progress=False)
    assert not list(tmp_path.rglob("*.npy"))  # the twins alone must do
    berg = BERG(tmp_path)
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(s3d_file)) as model:
        out = model.encode_features(features, [0, 1])
    np.testing.assert_allclose(out.values, full_train.values, rtol=1e-6, atol=1e-6)
    with berg.get_encoding_model(MODEL_ID, subject=1, device="cpu", backbone_weights=str(s3d_file),
                                 selection={"roi": "lFFA"}) as model:
        roi = model.encode_features(features, [0, 1])
    np.testing.assert_array_equal(roi["voxel"].values, berg.get_model_metadata(MODEL_ID, subject=1)["fmri"]["rois"]["lFFA"][0])


def test_converted_metadata_keeps_the_headers(bmd_store: Path, tmp_path: Path) -> None:
    import nibabel as nib

    from berg_core import BERG
    from berg_core.workflows.convert import convert_store

    convert_store(bmd_store, tmp_path, models=[MODEL_ID], subjects=[2], show_progress=False)
    meta = BERG(tmp_path).get_model_metadata(MODEL_ID, subject=2)
    header = nib.Nifti1Header(binaryblock=bytes(np.asarray(meta["fmri"]["sub_mask_header"], dtype=np.uint8)))
    assert header.get_data_shape() == meta["fmri"]["sub_mask"].shape
