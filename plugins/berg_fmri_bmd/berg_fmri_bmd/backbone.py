"""The S3D backbone this plugin contributes (``berg_backbones`` hook); reading it imports no torch.

torchvision's ``s3d`` with BERG 2.0's ``create_feature_extractor`` nodes:
``features.2``, ``features.5.cat``, ``features.7``, ``features.9.cat``,
``features.11.cat``, ``features.13`` and ``avgpool``, each flattened C-major
and concatenated in that order. For one clip of 14 frames at 224 x 224 that is
64x7x56x56 + 256x7x28x28 + 480x4x14x14 + 512x4x14x14 + 528x4x14x14 + 832x2x7x7
+ 1024x1x1x1 = 4,084,096 values (the node shapes follow from the architecture
and the fixed input size; ``tests/bmd`` checks them against torchvision).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berg_core.plugin import BackboneSpec

__all__ = ["S3D", "S3D_FILENAME", "S3D_N_FEATURES", "S3D_NODES", "S3D_NODE_SHAPES", "S3D_URL"]

S3D_FILENAME = "s3d-d76dad2f.pth"
S3D_URL = f"https://download.pytorch.org/models/{S3D_FILENAME}"
#: BERG 2.0's return nodes, in order.
S3D_NODES = ("features.2", "features.5.cat", "features.7", "features.9.cat", "features.11.cat", "features.13", "avgpool")
#: (channels, frames, height, width) of each node for a (3, 14, 224, 224) clip.
S3D_NODE_SHAPES = (
    (64, 7, 56, 56), (256, 7, 28, 28), (480, 4, 14, 14), (512, 4, 14, 14), (528, 4, 14, 14), (832, 2, 7, 7),
    (1024, 1, 1, 1),
)
S3D_N_FEATURES = sum(c * t * h * w for c, t, h, w in S3D_NODE_SHAPES)  # 4,084,096


def _random_state_dict() -> Mapping[str, Any]:
    from torchvision.models.video import s3d

    return s3d(weights=None).state_dict()  # type: ignore[no-any-return]


S3D = BackboneSpec(
    name="s3d",
    title="S3D (torchvision, Kinetics-400)",
    build="berg_fmri_bmd.s3d_features:build_s3d",
    layers=S3D_NODES,
    n_features=S3D_N_FEATURES,
    filename=S3D_FILENAME,
    random_state_dict=_random_state_dict,
    how_to_get=(
        "on a machine with internet access run:\n"
        "    python -c \"import torchvision; torchvision.models.video.s3d(weights='KINETICS400_V1')\"\n"
        f"or download {S3D_URL}."
    ),
)
