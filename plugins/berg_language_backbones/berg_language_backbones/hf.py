"""Building the language backbones from a local Hugging Face model folder.

:class:`LanguageBackbone` wraps the base model (``GPT2Model`` / ``OPTModel``,
float32, eval mode) with its tokenizer. Its width and depth are read from the
folder's own ``config.json``; models check their read-outs against
:attr:`LanguageBackbone.n_features` and their layer against
:attr:`LanguageBackbone.n_layers`. Everything is read with
``local_files_only=True`` and ``trust_remote_code=False``: nothing is
downloaded and no code from the folder runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from berg_core.plugin import IntegrityError, InvalidParameterError, ModelLoadError

from .specs import GPT2_XL, OPT_1_3B, SYNTHETIC_WIDTH
from .tiny import write_tiny_gpt2, write_tiny_opt

__all__ = [
    "LanguageBackbone",
    "build_gpt2_xl",
    "build_opt_1_3b",
    "find_gpt2_xl",
    "find_in_hf_cache",
    "find_opt_1_3b",
    "write_random_gpt2_xl",
    "write_random_opt_1_3b",
]

#: Hub repositories whose cached snapshots hold each backbone (gpt2-xl moved to openai-community; both are cached names)
HUB_REPOS = {"gpt2_xl": ("openai-community/gpt2-xl", "gpt2-xl"), "opt_1_3b": ("facebook/opt-1.3b",)}
#: a folder holds weights when one of these is there
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def find_in_hf_cache(repos: tuple[str, ...]) -> str | None:
    """The cached snapshot folder of the first of ``repos`` that holds a config and weights, else ``None``.

    Reads only the local cache (``huggingface_hub.try_to_load_from_cache``); never the network.
    """
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    for repo in repos:
        try:
            config = try_to_load_from_cache(repo, "config.json")
        except Exception:  # an unreadable cache is a cache without the model
            continue
        if isinstance(config, str):
            folder = os.path.dirname(config)
            if any(os.path.exists(os.path.join(folder, f)) for f in WEIGHT_FILES):
                return folder
    return None


def find_gpt2_xl() -> str | None:
    """GPT-2 XL in the local Hugging Face cache, if there."""
    return find_in_hf_cache(HUB_REPOS["gpt2_xl"])


def find_opt_1_3b() -> str | None:
    """OPT-1.3B in the local Hugging Face cache, if there."""
    return find_in_hf_cache(HUB_REPOS["opt_1_3b"])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No per-tensor progress bar on stderr while a folder loads."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


class _Reached(Exception):
    """Raised by a forward hook once the wanted layer's output is in hand: the deeper blocks never run."""


class LanguageBackbone(torch.nn.Module):
    """A Hugging Face causal language model's base transformer with its tokenizer.

    Parameters
    ----------
    model
        The base model (``GPT2Model`` or ``OPTModel``), in eval mode.
    tokenizer
        Its tokenizer, from the same folder.
    title
        Name for messages (``"GPT-2 XL"``).
    source
        Where the folder came from, for messages.
    """

    def __init__(self, model: Any, tokenizer: Any, title: str, source: str) -> None:
        super().__init__()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.title = title
        self.source = source

    # ---- what the folder's config says ----------------------------------------------------
    @property
    def n_features(self) -> int:
        """Width of the hidden states (1600 for GPT-2 XL, 2048 for OPT-1.3B), from the config."""
        return int(self.model.config.hidden_size)

    @property
    def n_layers(self) -> int:
        """Number of transformer blocks (48, 24), from the config; hidden state ``k`` is block ``k``'s output."""
        return int(self.model.config.num_hidden_layers)

    @property
    def max_positions(self) -> int:
        """Longest token sequence the position embeddings cover."""
        config = self.model.config
        return int(getattr(config, "n_positions", None) or config.max_position_embeddings)

    def check_width(self, n: int, what: str) -> None:
        """Refuse a read-out of ``n`` features on this backbone (:class:`IntegrityError` naming both)."""
        if int(n) != self.n_features:
            raise IntegrityError(
                f"{what} reads {int(n)} features, but the {self.title} backbone ({self.source}) gives {self.n_features} "
                "(its config.json hidden size): the weights and the backbone do not belong together"
            )

    def check_layer(self, layer: int) -> None:
        """Refuse a hidden-state index the model does not have (:class:`IntegrityError`)."""
        if not 0 <= int(layer) <= self.n_layers:
            raise IntegrityError(
                f"hidden state {layer} does not exist: the {self.title} backbone ({self.source}) has {self.n_layers} "
                f"layers (hidden states 0..{self.n_layers})"
            )

    def _blocks(self) -> Any:
        inner = getattr(self.model, "h", None)  # GPT-2
        if inner is None:
            inner = self.model.decoder.layers  # OPT
        return inner

    # ---- computing ----------------------------------------------------------------------------
    @torch.no_grad()
    def hidden_state(self, input_ids: torch.Tensor, layer: int, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``hidden_states[layer]`` of the model for ``input_ids`` ``(B, T)``, float32 ``(B, T, n_features)``.

        As ``model(input_ids, output_hidden_states=True).hidden_states[layer]``: index 0 is the
        embedding output, ``k`` the output of block ``k`` (before the final layer norm unless ``k``
        is the last). Blocks after ``layer`` are not run.
        """
        self.check_layer(layer)
        if input_ids.ndim != 2:
            raise InvalidParameterError(f"input_ids must be (batch, tokens), got shape {tuple(input_ids.shape)}")
        if input_ids.shape[1] > self.max_positions:
            raise InvalidParameterError(
                f"{input_ids.shape[1]} tokens exceed the {self.max_positions} positions of the {self.title} backbone"
            )
        device = next(self.model.parameters()).device
        ids = input_ids.to(device)
        mask = None if attention_mask is None else attention_mask.to(device)
        if 0 < layer < self.n_layers:
            caught: list[torch.Tensor] = []
            # the backbone is shared: other threads (Dask workers in this process) run it at the same time,
            # and a hook fires for every caller's pass, so each hook acts only in the thread that set it
            owner = threading.get_ident()

            def grab(_module: Any, _args: Any, output: Any) -> None:
                if threading.get_ident() != owner or caught:
                    return
                caught.append(output[0] if isinstance(output, tuple) else output)
                raise _Reached

            handle = self._blocks()[layer - 1].register_forward_hook(grab)
            try:
                self.model(input_ids=ids, attention_mask=mask, use_cache=False)
            except _Reached:
                pass
            finally:
                handle.remove()
            return caught[0].float()
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
        return out.hidden_states[layer].float()

    def forward(self, input_ids: torch.Tensor, layer: int, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Same as :meth:`hidden_state`."""
        return self.hidden_state(input_ids, layer, attention_mask)


def _build(folder: str, source: str, model_type: str, title: str, how_to_get: str) -> LanguageBackbone:
    """Load the model and tokenizer of ``folder``, checking it holds a ``model_type`` model."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    where = Path(folder)
    missing = [f for f in ("config.json",) if not (where / f).is_file()]
    if missing or not any((where / f).exists() for f in WEIGHT_FILES):
        raise ModelLoadError(
            f"{source} is not a {title} model folder: it needs config.json and the weights "
            f"({' or '.join(WEIGHT_FILES)}). To get them once, {how_to_get}"
        )
    try:
        with _quiet():
            config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
            if config.model_type != model_type:
                raise IntegrityError(f"{source} holds a {config.model_type!r} model, not {title} ({model_type!r})")
            # float32 as upstream on CPU, whatever dtype the config was saved in (OPT's says float16)
            model = AutoModel.from_pretrained(folder, config=config, local_files_only=True, trust_remote_code=False,
                                              dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except (IntegrityError, ModelLoadError):
        raise
    except OSError as exc:
        raise ModelLoadError(f"cannot read the {title} model folder {source}: {str(exc)[:300]}") from None
    except Exception as exc:  # transformers' errors on a damaged folder have no common base
        raise IntegrityError(f"cannot build {title} from {source}: {type(exc).__name__}: {str(exc)[:300]}") from None
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise IntegrityError(f"{title} weights from {source}: {name!r} holds NaN or infinite values")
    return LanguageBackbone(model, tokenizer, title, source)


def build_gpt2_xl(folder: str, source: str) -> LanguageBackbone:
    """GPT-2 XL (or any GPT-2 of the folder's config) from a local model folder."""
    return _build(folder, source, "gpt2", GPT2_XL.title, GPT2_XL.how_to_get)


def build_opt_1_3b(folder: str, source: str) -> LanguageBackbone:
    """OPT-1.3B (or any OPT of the folder's config) from a local model folder."""
    return _build(folder, source, "opt", OPT_1_3B.title, OPT_1_3B.how_to_get)


def write_random_gpt2_xl(folder: str) -> None:
    """Synthetic stores: a seeded GPT-2 of GPT-2 XL's 48 layers, :data:`SYNTHETIC_WIDTH` wide."""
    write_tiny_gpt2(folder, n_layer=48, n_embd=SYNTHETIC_WIDTH)


def write_random_opt_1_3b(folder: str) -> None:
    """Synthetic stores: a seeded OPT of OPT-1.3B's 24 layers, :data:`SYNTHETIC_WIDTH` wide."""
    write_tiny_opt(folder, num_hidden_layers=24, hidden_size=SYNTHETIC_WIDTH, ffn_dim=2 * SYNTHETIC_WIDTH)
