"""The backbones core contributes itself (through its own ``berg_backbones`` hook).

ViT-B/32 (``vit_b_32``), AlexNet with its ImageNet weights (``alexnet``) and
BERG 2.0's untrained AlexNet (``alexnet_untrained``: torch's default
initialisation after ``torch.manual_seed(20200220)``, no weights file). Trained
and untrained AlexNet compute different features: they are two backbones, with
two keys, each shared by the models naming it.

Reading this module imports no torch: the builders are named, and imported from
:mod:`berg_core.backbones.vit_b_32` / :mod:`berg_core.backbones.alexnet` when an
extractor is first built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berg_core.backbones.seeded import SeededBackboneSpec
from berg_core.backbones.spec import BackboneSpec

__all__ = [
    "ALEXNET",
    "ALEXNET_FILENAME",
    "ALEXNET_LAYERS",
    "ALEXNET_N_FEATURES",
    "ALEXNET_STORE_PATH",
    "ALEXNET_UNTRAINED",
    "ALEXNET_UNTRAINED_SEED",
    "CORE_BACKBONES",
    "VIT_B_32",
    "VIT_B_32_FILENAME",
    "VIT_B_32_N_FEATURES",
    "VIT_B_32_STORE_PATH",
    "VIT_B_32_URL",
]

VIT_B_32_FILENAME = "vit_b_32-d86f8d99.pth"
VIT_B_32_STORE_PATH = f"backbones/{VIT_B_32_FILENAME}"
VIT_B_32_URL = f"https://download.pytorch.org/models/{VIT_B_32_FILENAME}"
N_BLOCKS, N_TOKENS, WIDTH = 12, 50, 768
VIT_B_32_N_FEATURES = N_BLOCKS * N_TOKENS * WIDTH  # 460,800


def _random_state_dict() -> Mapping[str, Any]:
    from torchvision.models import vit_b_32

    return vit_b_32(weights=None).state_dict()  # type: ignore[no-any-return]


VIT_B_32 = BackboneSpec(
    name="vit_b_32",
    title="ViT-B/32",
    build="berg_core.backbones.vit_b_32:build_vit_b_32",
    layers=tuple(f"encoder.layers.encoder_layer_{i}.add_1" for i in range(N_BLOCKS)),
    n_features=VIT_B_32_N_FEATURES,
    filename=VIT_B_32_FILENAME,
    store_path=VIT_B_32_STORE_PATH,
    random_state_dict=_random_state_dict,
    how_to_get=(
        "on a machine with internet access run:\n"
        "    python -c \"import torchvision; torchvision.models.vit_b_32(weights='IMAGENET1K_V1')\"\n"
        f"or download {VIT_B_32_URL}."
    ),
)

ALEXNET_FILENAME = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1
ALEXNET_STORE_PATH = f"backbones/{ALEXNET_FILENAME}"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILENAME}"
#: BERG 2.0's graph nodes (``create_feature_extractor`` return_nodes), in its order
ALEXNET_LAYERS = (
    "features.2", "features.5", "features.7", "features.9", "features.12", "classifier.2", "classifier.5", "classifier.6",
)
#: 64*27*27 + 192*13*13 + 384*13*13 + 256*13*13 + 256*6*6 + 4096 + 4096 + 1000
ALEXNET_N_FEATURES = 205_672
#: ``torch.manual_seed`` of BERG 2.0's untrained AlexNet (its model code and trainers)
ALEXNET_UNTRAINED_SEED = 20200220


def _random_alexnet_state_dict() -> Mapping[str, Any]:
    from torchvision.models import alexnet

    return alexnet(weights=None).state_dict()  # type: ignore[no-any-return]


ALEXNET = BackboneSpec(
    name="alexnet",
    title="AlexNet",
    build="berg_core.backbones.alexnet:build_alexnet",
    layers=ALEXNET_LAYERS,
    n_features=ALEXNET_N_FEATURES,
    filename=ALEXNET_FILENAME,
    store_path=ALEXNET_STORE_PATH,
    random_state_dict=_random_alexnet_state_dict,
    how_to_get=(
        "on a machine with internet access run:\n"
        "    python -c \"import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')\"\n"
        f"or download {ALEXNET_URL}."
    ),
)

#: Built, never read from a file: ``torch.manual_seed(20200220)`` then ``torchvision.models.alexnet(weights=None)``.
ALEXNET_UNTRAINED = SeededBackboneSpec(
    name="alexnet_untrained",
    title="untrained AlexNet",
    build="berg_core.backbones.alexnet:build_alexnet",
    layers=ALEXNET_LAYERS,
    n_features=ALEXNET_N_FEATURES,
    filename=f"alexnet_untrained-seed{ALEXNET_UNTRAINED_SEED}.pth",
    random_state_dict=_random_alexnet_state_dict,
    how_to_get=f"nothing: it is built from torch.manual_seed({ALEXNET_UNTRAINED_SEED}), as BERG 2.0 builds it.",
    seed=ALEXNET_UNTRAINED_SEED,
    seeded_state_dict="berg_core.backbones.alexnet:untrained_alexnet_state_dict",
)

#: What core's own ``berg_backbones`` hook contributes.
CORE_BACKBONES = (VIT_B_32, ALEXNET, ALEXNET_UNTRAINED)
