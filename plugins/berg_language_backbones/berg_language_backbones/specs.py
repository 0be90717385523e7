"""The backbones this plugin contributes, declared without importing torch or transformers.

Both are Hugging Face model folders (``config.json``, the weights, the tokenizer
files). berg reads them from, in order: ``backbone_weights=FOLDER``, the store's
``backbones/<name>/`` folder, and the local Hugging Face cache. It never
downloads them (Hugging Face is always asked with ``local_files_only=True``, so
``HF_HUB_OFFLINE`` makes no difference); the error when they are missing says
how to fetch them once.
"""

from __future__ import annotations

from berg_core.plugin import BackboneSpec

__all__ = ["GPT2_XL", "LANGUAGE_BACKBONES", "OPT_1_3B", "SYNTHETIC_WIDTH"]

#: width of the seeded tiny copies written into synthetic stores (the layer counts are the real ones)
SYNTHETIC_WIDTH = 32

_CACHE_TEXT = "the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)"


def _how_to_get(repo: str) -> str:
    return (
        "on a machine with internet access run:\n"
        f"    huggingface-cli download {repo}\n"
        "or in Python:\n"
        f"    python -c \"from huggingface_hub import snapshot_download; snapshot_download('{repo}')\"\n"
        "(it fills the Hugging Face cache, which berg then reads offline), or save the model folder anywhere with\n"
        f"    python -c \"from transformers import AutoModel, AutoTokenizer; AutoModel.from_pretrained('{repo}')"
        f".save_pretrained('FOLDER'); AutoTokenizer.from_pretrained('{repo}').save_pretrained('FOLDER')\""
    )


GPT2_XL = BackboneSpec(
    name="gpt2_xl",
    title="GPT-2 XL",
    build="berg_language_backbones.hf:build_gpt2_xl",
    layers=("hidden_states",),
    n_features=1600,
    filename="gpt2-xl",
    folder=True,
    find_local="berg_language_backbones.hf:find_gpt2_xl",
    local_description=_CACHE_TEXT,
    write_random="berg_language_backbones.hf:write_random_gpt2_xl",
    synthetic_n_features=SYNTHETIC_WIDTH,
    how_to_get=_how_to_get("openai-community/gpt2-xl"),
)

OPT_1_3B = BackboneSpec(
    name="opt_1_3b",
    title="OPT-1.3B",
    build="berg_language_backbones.hf:build_opt_1_3b",
    layers=("hidden_states",),
    n_features=2048,
    filename="opt-1.3b",
    folder=True,
    find_local="berg_language_backbones.hf:find_opt_1_3b",
    local_description=_CACHE_TEXT,
    write_random="berg_language_backbones.hf:write_random_opt_1_3b",
    synthetic_n_features=SYNTHETIC_WIDTH,
    how_to_get=_how_to_get("facebook/opt-1.3b"),
)

#: What the ``berg_backbones`` hook contributes.
LANGUAGE_BACKBONES = (GPT2_XL, OPT_1_3B)
