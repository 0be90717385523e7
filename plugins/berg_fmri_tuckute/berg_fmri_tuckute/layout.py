"""Where the Tuckute 2024 model's files live in a BERG store, and the fixed facts of the model."""

from __future__ import annotations

__all__ = ["LAYER", "METADATA_RELPATH", "MODEL_ID", "ROI_NAMES", "STORE_PATH", "WEIGHTS_FILENAME", "WEIGHTS_RELPATH"]

MODEL_ID = "fmri-tuckute_2024-GPT2_XL"
STORE_PATH = "encoding_models/modality-fmri/train_dataset-tuckute_2024/model-GPT2_XL"
#: BERG 2.0's constant WEIGHT_FILENAME: layer 22 ("SOURCE-22"), no X or y scaler ("None-False-False")
WEIGHTS_FILENAME = (
    "mapping-full_SOURCE-22_TARGET-20221214a-None_d-swr-5-0.05-bySessVoxZ_MAPPING-None-False-False.pkl"
)
WEIGHTS_RELPATH = f"{STORE_PATH}/encoding_models_weights/{WEIGHTS_FILENAME}"
METADATA_RELPATH = f"{STORE_PATH}/metadata/metadata.npy"
#: hidden_states index of GPT-2 XL (0 = embeddings): the output of block 22 of 48
LAYER = 22
#: the pickle's neuroid_order as published (docs order)
ROI_NAMES = (
    "lang_LH_AntTemp",
    "lang_LH_IFG",
    "lang_LH_IFGorb",
    "lang_LH_MFG",
    "lang_LH_PostTemp",
    "lang_LH_netw",
)
