"""Finding, building and sharing any contributed backbone, and writing its synthetic weights.

Weights resolve, in order, from an explicit path, the store (the spec's
``store_path``) and the torch hub cache (``<hub>/checkpoints/<filename>``), or
instead of the hub the spec's own ``find_local`` (e.g. the Hugging Face cache).
A folder backbone (``spec.folder``) is built from a local folder: a remote
store's folder is first fetched, file by file and checked, into the cache.
One extractor is built per backbone, weights file and device and shared by
every model that uses it, whichever plugin the model comes from; it is freed
when the last model holding it is cleaned up.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from berg_core.backbones.spec import BackboneSpec
from berg_core.errors import BERGError, IntegrityError, InvalidParameterError, ModelLoadError, StoreError

if TYPE_CHECKING:
    from berg_core.store.model_store import Store

__all__ = ["WeightsSource", "cached_count", "get_backbone", "resolve_weights", "write_synthetic_weights"]


class WeightsSource:
    """Where backbone weights come from: a local file or a file of a store."""

    def __init__(self, spec: BackboneSpec, description: str, path: str | None = None, store: Store | None = None,
                 relpath: str | None = None) -> None:
        self.spec = spec
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

    def local_folder(self) -> str:
        """A local folder holding a folder backbone's files (a remote store's are fetched into its cache)."""
        if self.path is not None:
            return self.path
        assert self.store is not None and self.relpath is not None
        files = self.store.find(self.relpath)
        if not files:
            raise StoreError(f"the {self.spec.title} backbone folder {self.key} is empty")
        folder = ""
        for rel in files:
            local = self.store.local_file(rel)  # fetched and checked against the folder's manifest
            # the folder is the local path of rel minus the part inside the backbone folder
            inner = rel[len(self.relpath.rstrip("/")) + 1 :]
            folder = local[: len(local) - len(inner)].rstrip("/\\") if local.endswith(inner) else os.path.dirname(local)
        return folder

    def _open(self) -> IO[bytes]:
        if self.path is not None:
            return open(self.path, "rb")
        assert self.store is not None and self.relpath is not None
        return self.store.open(self.relpath)

    def load_state_dict(self) -> dict[str, Any]:
        """The state dict, read without running code from the file; every tensor finite.

        Raises
        ------
        IntegrityError
            The file is not a torch checkpoint, is damaged, or holds NaN or infinite weights.
        """
        import torch

        from berg_core.io.torch_checkpoint import TorchCheckpoint

        cached = _cached_state(self._derived_entry())
        if cached is not None:  # a local checkpoint read before, in any process: memory-mapped, checked then
            return cached
        what = f"cannot read {self.spec.title} weights from {self.key}"
        mapped = False
        try:
            with self._open() as fh:
                head = fh.read(4)
                fh.seek(0)
                if head == b"PK\x03\x04":  # the zip archive torch.save writes
                    with TorchCheckpoint(fh, self.key) as ckpt:
                        state = ckpt.get()
                        mapped = ckpt.all_mapped
                elif head[:2] == b"\x80\x02":  # torch's legacy format, a pickle stream
                    state = torch.load(fh, map_location="cpu", weights_only=True)
                else:
                    raise IntegrityError(
                        f"it is not a torch checkpoint (it starts with {head!r}); expected {self.spec.filename}"
                    )
        except IntegrityError as exc:
            raise IntegrityError(f"{what}: {exc}") from None
        except BERGError:
            raise
        except OSError as exc:
            raise StoreError(f"{what}: {exc}") from None
        except Exception as exc:  # torch.load's errors on damaged legacy files have no common base
            raise IntegrityError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise IntegrityError(f"{what}: it holds a {type(state).__name__}, not a state dict of tensors")
        from berg_core.io.torch_checkpoint import all_finite

        for name, tensor in state.items():
            if not all_finite(tensor):
                raise IntegrityError(f"{what}: weight {name!r} holds NaN or infinite values")
        if not mapped:  # a mapped checkpoint loads as fast as the derived copy would
            _remember_state(self._derived_entry(), state)
        return state

    def _derived_entry(self) -> Any:
        """The derived-cache entry of a local checkpoint file (:mod:`berg_core.store.derived_cache`), or ``None``."""
        from berg_core.store.derived_cache import source_entry

        if self.path is not None:
            return source_entry(self.path)
        if self.store is not None and self.relpath is not None and self.store.is_local and getattr(self.store, "cache", None) is None:
            return source_entry(self.store.path(self.relpath))
        return None


_STATE_INDEX = "state_dict"


def _cached_state(entry: Any) -> dict[str, Any] | None:
    """The state dict kept by :func:`_remember_state`, each tensor sharing a copy-on-write map of its file."""
    if entry is None:
        return None
    index = entry.get_json(_STATE_INDEX)
    if not isinstance(index, list):
        return None
    import torch

    state = {}
    for item in index:
        if not (isinstance(item, list) and len(item) == 3):
            return None
        name, dtype, shape = item
        try:
            arr = entry.get(f"state:{name}", tuple(shape), dtype)
        except (TypeError, ValueError):
            return None
        if arr is None:
            return None
        state[str(name)] = torch.from_numpy(arr)
    return state


def _remember_state(entry: Any, state: dict[str, Any]) -> None:
    """Keep a checked state dict as plain ``.npy`` files, so a later load (any process) maps instead of unzipping.

    Only for dtypes NumPy holds (not bfloat16) and checkpoints worth it; the index is written last.
    """
    if entry is None:
        return
    from berg_core.store import derived_cache

    try:
        arrays = {name: t.detach().cpu().contiguous().numpy() for name, t in state.items()}
    except (TypeError, RuntimeError):  # a dtype NumPy has no match for
        return
    total = sum(a.nbytes for a in arrays.values())
    if total < derived_cache.MIN_BYTES:
        return
    index = []
    entry.reserve(total)
    for name, arr in arrays.items():
        if not entry.put(f"state:{name}", arr):
            return
        index.append([name, arr.dtype.str, list(arr.shape)])
    entry.put_json(_STATE_INDEX, index)


def _hub_checkpoint(spec: BackboneSpec) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / spec.filename


def resolve_weights(spec: BackboneSpec, explicit: str | os.PathLike[str] | None = None, store: Store | None = None) -> WeightsSource:
    """Find ``spec``'s weights (explicit path, then store, then torch hub cache).

    Raises
    ------
    ModelLoadError
        Nowhere holds them; the message says where it looked and how to get them.
    """
    what = f"the {spec.filename} model folder" if spec.folder else spec.filename
    if explicit is not None:
        if not isinstance(explicit, (str, os.PathLike)):
            raise InvalidParameterError(
                f"{spec.weights_option} must be the path of {what}, got {type(explicit).__name__} {explicit!r:.100}"
            )
        p = Path(explicit).expanduser()
        if not (p.is_dir() if spec.folder else p.is_file()):
            kind = "folder" if spec.folder else "file"
            raise ModelLoadError(f"{spec.weights_option}={str(explicit)!r} is not a {kind}; expected the path of {what}")
        return WeightsSource(spec, f"explicit path {p}", path=str(p))
    if store is not None:
        try:
            if store.exists(spec.store_path):
                return WeightsSource(spec, f"store {store.url_of(spec.store_path)}", store=store, relpath=spec.store_path)
        except StoreError:
            pass  # an unreachable store must not hide a usable local cache
    how = f"To get them once, {spec.how_to_get}\n" if spec.how_to_get else ""
    finder = spec.local_finder()
    if finder is not None:
        found = finder()
        if found is not None:
            return WeightsSource(spec, f"{spec.local_description or 'local cache'} {found}", path=str(found))
        raise ModelLoadError(
            f"the {spec.title} backbone weights were not found. Looked for: an explicit {spec.weights_option}= path, "
            f"{spec.store_path} in the store, and {spec.local_description or 'the local cache'}. {how}"
            f"Or pass {spec.weights_option}='/path/to/{spec.filename}' ({what}); berg never downloads them itself."
        )
    hub = _hub_checkpoint(spec)
    if hub.is_file():
        return WeightsSource(spec, f"torch hub cache {hub}", path=str(hub))
    raise ModelLoadError(
        f"the {spec.title} backbone weights were not found. Looked for: an explicit {spec.weights_option}= path, "
        f"{spec.store_path} in the store, and the torch hub cache at {hub}. {how}"
        f"Or put {spec.filename} into {hub.parent} (set TORCH_HOME to change it), "
        f"or pass {spec.weights_option}='/path/to/{spec.filename}'."
    )


_CACHE: weakref.WeakValueDictionary[tuple[str, str, str], Any] = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def get_backbone(
    spec: BackboneSpec,
    device: Any = "cpu",
    weights: str | os.PathLike[str] | None = None,
    store: Store | None = None,
) -> Any:
    """The shared extractor of ``spec`` for ``device`` (built once per weights file and device, then reused)."""
    import torch

    source = resolve_weights(spec, weights, store)
    dev = torch.device(device)
    key = (spec.name, source.key, str(dev))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        built: str | dict[str, Any] = source.local_folder() if spec.folder else source.load_state_dict()
        model = spec.builder()(built, source.description).to(dev)
        # models of this backbone group by it: one forward pass per batch for all of them
        model.berg_backbone_key = spec.key
        _CACHE[key] = model
        return model


def cached_count() -> int:
    """Number of live shared extractors (tests use it to prove they are freed)."""
    return len(_CACHE)


def write_synthetic_weights(spec: BackboneSpec, root: str | os.PathLike[str], seed: int = 0) -> str:
    """Write seeded weights of ``spec``'s architecture to its ``store_path`` under ``root``.

    The caller's random state is left alone, and the file appears whole under its
    name or not at all.

    Returns
    -------
    str
        The path written, relative to ``root``.
    """
    import torch

    path = Path(root).joinpath(*spec.store_path.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.folder:
        return _write_synthetic_folder(spec, path, seed)
    assert spec.random_state_dict is not None  # a file backbone has one (checked when the spec was made)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        state = dict(spec.random_state_dict())
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return spec.store_path


def _write_synthetic_folder(spec: BackboneSpec, path: Path, seed: int) -> str:
    """A folder backbone's seeded copy: written into a side folder, then moved into place whole."""
    import shutil

    import torch

    tmp = path.with_name(path.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        spec.random_writer()(str(tmp))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return spec.store_path
