"""torchvision ViT-B/32 as BERG's feature extractor.

Features are the outputs of the 12 encoder blocks (graph nodes
``encoder.layers.encoder_layer_{i}.add_1``), each 50 tokens x 768, flattened
per block and concatenated in block order: 460,800 values per image.

Weights resolve, in order, from an explicit path, the store
(``backbones/vit_b_32-d86f8d99.pth``), and the torch hub cache under
torchvision's own file name. One extractor is built per weights file and
device and shared by every model that uses it; it is freed when the last
model holding it is cleaned up.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import torch
from torch import nn

from berg_core.errors import BERGError, IntegrityError, ModelLoadError, StoreError

if TYPE_CHECKING:
    from berg_core.store.model_store import Store

__all__ = [
    "VIT_B_32_FILENAME",
    "VIT_B_32_N_FEATURES",
    "VIT_B_32_STORE_PATH",
    "VIT_B_32_URL",
    "ViTB32Features",
    "WeightsSource",
    "get_vit_b_32",
    "resolve_vit_b_32_weights",
]

VIT_B_32_FILENAME = "vit_b_32-d86f8d99.pth"
VIT_B_32_STORE_PATH = f"backbones/{VIT_B_32_FILENAME}"
VIT_B_32_URL = f"https://download.pytorch.org/models/{VIT_B_32_FILENAME}"
N_BLOCKS, N_TOKENS, WIDTH = 12, 50, 768
VIT_B_32_N_FEATURES = N_BLOCKS * N_TOKENS * WIDTH  # 460,800


class ViTB32Features(nn.Module):
    """Concatenated encoder-block outputs of torchvision's ``vit_b_32``.

    The forward pass stops after the last block: the final layer norm and
    classification head are never computed.
    """

    n_features = VIT_B_32_N_FEATURES

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` normalised images -> ``(B, 460800)`` features."""
        vit: Any = self.vit
        tokens = vit._process_input(x)
        cls = vit.class_token.expand(tokens.shape[0], -1, -1)
        h = torch.cat([cls, tokens], dim=1) + vit.encoder.pos_embedding
        out = torch.empty((x.shape[0], N_BLOCKS, N_TOKENS, WIDTH), dtype=h.dtype, device=h.device)
        for i, layer in enumerate(vit.encoder.layers):
            h = layer(h)
            out[:, i] = h
        return out.reshape(x.shape[0], -1)


class WeightsSource:
    """Where backbone weights come from: a local file or a file of a store."""

    def __init__(self, description: str, path: str | None = None, store: Store | None = None, relpath: str | None = None):
        self.description = description
        self.path = path
        self.store = store
        self.relpath = relpath

    @property
    def key(self) -> str:
        if self.path is not None:
            return os.path.realpath(self.path)
        assert self.store is not None and self.relpath is not None
        return self.store.url_of(self.relpath)

    def _open(self) -> IO[bytes]:
        if self.path is not None:
            return open(self.path, "rb")
        assert self.store is not None and self.relpath is not None
        return self.store.open(self.relpath)

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict, read without running code from the file; every tensor finite.

        Raises
        ------
        IntegrityError
            The file is not a torch checkpoint, is damaged, or holds NaN or infinite weights.
        """
        from berg_core.io.torch_checkpoint import TorchCheckpoint

        try:
            with self._open() as fh:
                head = fh.read(4)
                fh.seek(0)
                if head == b"PK\x03\x04":  # the zip archive torch.save writes
                    with TorchCheckpoint(fh, self.key) as ckpt:
                        state = ckpt.get()
                elif head[:2] == b"\x80\x02":  # torch's legacy format, a pickle stream
                    state = torch.load(fh, map_location="cpu", weights_only=True)
                else:
                    raise IntegrityError(
                        f"it is not a torch checkpoint (it starts with {head!r}); expected "
                        f"{VIT_B_32_FILENAME}, the torchvision vit_b_32 IMAGENET1K_V1 weights"
                    )
        except IntegrityError as exc:
            raise IntegrityError(f"cannot read ViT-B/32 weights from {self.key}: {exc}") from None
        except BERGError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot read ViT-B/32 weights from {self.key}: {exc}") from None
        except Exception as exc:  # torch.load's errors on damaged legacy files have no common base
            raise IntegrityError(f"cannot read ViT-B/32 weights from {self.key}: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise IntegrityError(f"cannot read ViT-B/32 weights from {self.key}: it holds a {type(state).__name__}, not a state dict of tensors")
        for name, tensor in state.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise IntegrityError(f"cannot read ViT-B/32 weights from {self.key}: weight {name!r} holds NaN or infinite values")
        return state


def _hub_checkpoint() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VIT_B_32_FILENAME


def resolve_vit_b_32_weights(explicit: str | os.PathLike[str] | None = None, store: Store | None = None) -> WeightsSource:
    """Find the ViT-B/32 weights (explicit path, then store, then torch hub cache).

    Raises
    ------
    ModelLoadError
        Nowhere holds them; the message says how to get them.
    """
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ModelLoadError(f"backbone_weights={str(explicit)!r} is not a file; expected the path of {VIT_B_32_FILENAME}")
        return WeightsSource(f"explicit path {p}", path=str(p))
    if store is not None:
        try:
            if store.exists(VIT_B_32_STORE_PATH):
                return WeightsSource(f"store {store.url_of(VIT_B_32_STORE_PATH)}", store=store, relpath=VIT_B_32_STORE_PATH)
        except StoreError:
            pass  # an unreachable store must not hide a usable local cache
    hub = _hub_checkpoint()
    if hub.is_file():
        return WeightsSource(f"torch hub cache {hub}", path=str(hub))
    raise ModelLoadError(
        "the ViT-B/32 backbone weights were not found. Looked for: an explicit backbone_weights= path, "
        f"{VIT_B_32_STORE_PATH} in the store, and the torch hub cache at {hub}. "
        "To get them once, on a machine with internet access run:\n"
        "    python -c \"import torchvision; torchvision.models.vit_b_32(weights='IMAGENET1K_V1')\"\n"
        f"or download {VIT_B_32_URL} into {hub.parent} (set TORCH_HOME to change it), "
        "or pass backbone_weights='/path/to/" + VIT_B_32_FILENAME + "'."
    )


_CACHE: weakref.WeakValueDictionary[tuple[str, str], ViTB32Features] = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def build_vit_b_32(state_dict: dict[str, torch.Tensor], source: str = "<state dict>") -> ViTB32Features:
    """Build the extractor from a torchvision ``vit_b_32`` state dict."""
    from torchvision.models import vit_b_32

    vit = vit_b_32(weights=None)
    try:
        vit.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise IntegrityError(f"{source} does not hold torchvision vit_b_32 weights: {exc}") from None
    # the head is never used; dropping it saves memory
    vit.heads = nn.Identity()
    return ViTB32Features(vit).eval()


def get_vit_b_32(
    device: torch.device | str = "cpu",
    weights: str | os.PathLike[str] | None = None,
    store: Store | None = None,
) -> ViTB32Features:
    """The shared ViT-B/32 extractor for ``device`` (built once, then reused)."""
    source = resolve_vit_b_32_weights(weights, store)
    dev = torch.device(device)
    key = (source.key, str(dev))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        model = build_vit_b_32(source.load_state_dict(), source.description).to(dev)
        _CACHE[key] = model
        return model


def _cached_count() -> int:
    """Number of live shared extractors (used by tests to prove they are freed)."""
    return len(_CACHE)
