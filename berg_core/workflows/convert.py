"""``berg convert``: a BERG 2.0 store, or part of it, into berg's native Zarr layout.

Each pickled ``.npy`` file becomes its Zarr twin (see :mod:`berg_core.store.zarr_layout`
and ``specs/store_layout.md``): ViT-feature weight files store the folded
projection and their regression weights chunked along output units, grouped and
sized as the plugin owning the model plans it (the ``berg_convert_plan`` hook:
say one EEG channel per chunk, or vertices grouped by ROI); metadata files
become groups of arrays and attributes. Other files of the
model folder (the fwRF ``.pt`` checkpoints, which are per ROI already) are
copied byte for byte; accuracy plots are left out (not needed to encode).
Each model folder gets its card (``berg-card.yaml``) and a manifest
(``berg-manifest.json``) of everything written.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from berg_core.cards.enforce import check_subject
from berg_core.errors import BERGError, InvalidParameterError, StoreError
from berg_core.store.fetch import store_error
from berg_core.store.manifest import MANIFEST_NAME, FileEntry, Manifest, sha256_bytes, sha256_file
from berg_core.store.model_store import Store
from berg_core.store.network import call
from berg_core.store.zarr_layout import (
    FOLDED_GROUP,
    LAYOUT_ATTR,
    LAYOUT_VERSION,
    ArraySpec,
    write_tree,
    zarr_twin,
)
from berg_core.workflows.convert_plan import REGRESSION_SUFFIX, weights_plan

if TYPE_CHECKING:
    from berg_core.cards.model_card import ModelCard
    from berg_core.registry.manager import PluginManager, RegisteredModel

__all__ = ["CARD_NAME", "ConvertReport", "convert_store", "subject_of", "wanted_subjects"]

CARD_NAME = "berg-card.yaml"
WEIGHTS_DIR = "encoding_models_weights"
METADATA_DIR = "metadata"
ACCURACY_DIR = "encoding_models_accuracy"
#: Rows per chunk of regression arrays when the owning plugin plans none.
DEFAULT_ROWS_PER_CHUNK = 4096
#: 1-D regression arrays (intercepts) take this many times more rows per chunk.
ROWS_1D_FACTOR = 16
_SUBJECT_RE = re.compile(r"(?:^|[_-])sub(?:ject)?-(\d+)")
#: the ways BERG file names spell a subject: subject-01, sub-01, sub-UTS01, monkeyN, P1 (THINGS-MEG)
_ANY_SUBJECT_RE = re.compile(r"(?:^|[_.-])(?:sub(?:ject)?-|monkey|P)([A-Za-z0-9]+)")


def subject_of(name: str, card: ModelCard | None = None) -> int | str | None:
    """The subject of a BERG file name, or ``None`` when it names none.

    Without ``card``: the number of ``weights_subject-01.npy``, ``metadata_sub-01_roi-V1.npy``.
    With ``card``, the subject as the card lists it, from any spelling BERG uses (``subject-01``,
    ``sub-01``, ``sub-UTS01``, ``monkeyN``, ``P1``, ``_UTS01.``): integer cards take the number, cards of named
    subjects the name (``sub-1`` and ``sub-01`` both name ``"01"``); a participant-averaged card none.
    """
    base = posixpath.basename(name.rstrip("/"))
    if card is None:
        m = _SUBJECT_RE.search(base)
        return int(m.group(1)) if m else None
    if card.subjects is None:
        return None
    named = all(isinstance(v, str) for v in card.subjects)
    for m in _ANY_SUBJECT_RE.finditer(base):
        text = m.group(1)
        if not named:
            if text.isascii() and text.isdecimal():
                return int(text)
            continue
        if text in card.subjects:
            return text
        if text.isascii() and text.isdecimal():
            same = [v for v in card.subjects if isinstance(v, str) and v.isascii() and v.isdecimal() and int(v) == int(text)]
            if same:
                return same[0]
    if named:  # a card's name standing alone between separators: LeBel's weights_UTS01.npy
        for part in re.split(r"[_.-]", base):
            if part in card.subjects:
                return part
    return None


_subject_of = subject_of


def wanted_subjects(card: ModelCard | None, subjects: Iterable[Any] | None) -> set[int | str] | None:
    """``subjects`` as ``card`` lists them (``1`` -> ``"01"`` for named ones); ones it lacks stay as given."""
    if subjects is None:
        return None
    out: set[int | str] = set()
    for s in subjects:
        if card is not None:
            try:
                resolved = check_subject(card, s)
            except InvalidParameterError:
                resolved = None
            if resolved is not None:
                out.add(resolved)
                continue
        out.add(int(s) if isinstance(s, str) and s.isascii() and s.isdecimal() else s)
    return out


@dataclass
class ConvertReport:
    """What ``convert_store`` did."""

    converted: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    bytes_written: int = 0


class _Recorder:
    """Size and SHA-256 of every file written under one folder, for its manifest."""

    def __init__(self) -> None:
        self.entries: dict[str, FileEntry] = {}

    def add(self, path: str, size: int, digest: str) -> None:
        self.entries[path] = FileEntry(path, size, digest)

    def drop_under(self, prefix: str) -> None:
        for p in [p for p in self.entries if p == prefix or p.startswith(prefix + "/")]:
            del self.entries[p]


def _recording_zarr_store(inner: Any, recorder: _Recorder, prefix: str) -> Any:
    from zarr.storage import WrapperStore

    class RecordingStore(WrapperStore):  # type: ignore[type-arg]
        """Passes writes through and records each key's size and hash."""

        async def set(self, key: str, value: Any) -> None:
            await self._store.set(key, value)
            data = value.to_bytes()
            recorder.add(f"{prefix}/{key}", len(data), sha256_bytes(data))

        async def delete(self, key: str) -> None:
            await self._store.delete(key)
            recorder.entries.pop(f"{prefix}/{key}", None)

        async def delete_dir(self, sub: str) -> None:
            await self._store.delete_dir(sub)
            recorder.drop_under(f"{prefix}/{sub}".rstrip("/"))

    return RecordingStore(inner)


def _open_dst_group(local_dir: Path, rel: str, recorder: _Recorder, folder: str) -> tuple[Any, Any]:
    import zarr

    from berg_core.store.zarr_store import quiet_zarr, writable_zarr_store

    if local_dir.exists():
        shutil.rmtree(local_dir)
    inner = writable_zarr_store(str(local_dir))
    zstore = _recording_zarr_store(inner, recorder, rel[len(folder) + 1 :])
    recorder.drop_under(rel[len(folder) + 1 :])
    with quiet_zarr():
        return zarr.open_group(zstore, mode="w", zarr_format=3), zstore


def _consolidate(zstore: Any) -> None:
    import zarr

    from berg_core.store.zarr_store import quiet_zarr

    with quiet_zarr():
        zarr.consolidate_metadata(zstore)


# ---- recipes from the reference layout -----------------------------------------------------
def _metadata_for(folder: str, weights_rel: str) -> str:
    name = posixpath.basename(weights_rel).replace("weights_", "metadata_", 1)
    return f"{folder}/{METADATA_DIR}/{name}"


def _fold(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` with ``pca_param/components_`` replaced by the folded projection."""
    from berg_core.models.readout import fold_scaler_pca

    scaler, pca = data.get("scaler_param"), data.get("pca_param")
    if not (isinstance(scaler, dict) and isinstance(pca, dict) and isinstance(pca.get("components_"), np.ndarray)):
        return data
    # no mean_: sklearn's TruncatedSVD (fmri-bmd-s3d), whose components are not centred
    pca_mean = pca["mean_"] if "mean_" in pca else np.zeros(pca["components_"].shape[-1])
    W, c = fold_scaler_pca(scaler["mean_"], scaler["scale_"], pca_mean, pca["components_"], source=source)
    out = dict(data)
    out["pca_param"] = {k: v for k, v in pca.items() if k != "components_"}
    out[FOLDED_GROUP] = {"W": W, "c": c}
    return out


def _weights_policy(rows_per_chunk: int | None, orders: dict[str, np.ndarray]) -> Any:
    def policy(key: str, arr: np.ndarray) -> ArraySpec:
        top = key.split("/", 1)[0]
        if key == f"{FOLDED_GROUP}/W" and arr.ndim == 2:
            # one uncompressed chunk: a local load memory-maps it whole (read whole anyway, by every selection)
            return ArraySpec(chunks=tuple(arr.shape))
        if top.endswith(REGRESSION_SUFFIX) and arr.ndim >= 1 and arr.shape[0] > 1:
            rows = rows_per_chunk or DEFAULT_ROWS_PER_CHUNK
            if arr.ndim == 1:
                rows *= ROWS_1D_FACTOR  # intercepts: a row is 4-8 bytes, not a vector of components
            groups = top if top in orders and len(orders[top]) == arr.shape[0] else None
            return ArraySpec(chunks=(min(arr.shape[0], rows), *arr.shape[1:]), row_group=groups)
        return ArraySpec(compress=arr.dtype.kind in "iub")

    return policy


def _metadata_policy(key: str, arr: np.ndarray) -> ArraySpec:
    return ArraySpec(compress=True)


# ---- the conversion ------------------------------------------------------------------------
def convert_store(
    src: str | Store,
    dst: str | Store,
    models: Sequence[str] | None = None,
    subjects: Iterable[int | str] | None = None,
    src_options: dict[str, Any] | None = None,
    dst_options: dict[str, Any] | None = None,
    plugin_manager: PluginManager | None = None,
    show_progress: bool = True,
) -> ConvertReport:
    """Convert a BERG 2.0 store (or the given models and subjects) into the Zarr layout.

    Parameters
    ----------
    src
        The BERG 2.0 store (local folder or fsspec URL).
    dst
        Where to write (local folder or fsspec URL); may be ``src`` itself, to add Zarr twins.
    models
        Model ids (see ``berg models``); default: every model folder found in ``src``.
    subjects
        Subjects to convert; default: all.
    src_options, dst_options
        fsspec storage options of the two stores.
    plugin_manager
        Where model ids and cards come from; default: the installed plugins.
    show_progress
        Show a progress bar.

    Returns
    -------
    ConvertReport
    """
    from berg_core.registry.manager import get_plugin_manager

    src_store = src if isinstance(src, Store) else Store(src, src_options)
    dst_store = dst if isinstance(dst, Store) else Store(dst, dst_options, cache_dir=False)
    pm = plugin_manager or get_plugin_manager()
    owners = {r.card.store_path.strip("/"): r for r in pm.registry}
    if models:
        folders = [pm.registry.get(m).card.store_path.strip("/") for m in models]
    else:
        folders = _model_folders(src_store)
        if not folders:
            raise StoreError(f"no model folders (encoding_models/modality-*/train_dataset-*/model-*) in {src_store.url}")
    same = _same_store(src_store, dst_store)
    report = ConvertReport()
    # the weights of the backbones the converted models name travel with them (the registry says where they live)
    backbone_files: set[str] = set()
    for folder in folders:
        owner = owners.get(folder)
        spec = None if owner is None else pm.registry.backbone_of(owner.card)
        if spec is not None and spec.folder:  # a model folder travels file by file
            if src_store.exists(spec.store_path):
                backbone_files.update(src_store.find(spec.store_path))
        elif spec is not None:
            backbone_files.add(spec.store_path)
        wanted = wanted_subjects(None if owner is None else owner.card, subjects)
        _convert_folder(src_store, dst_store, folder, pm, owner, wanted, same, report, show_progress)
    if backbone_files and not same:
        _copy_backbones(src_store, dst_store, sorted(backbone_files), report)
    return report


def _model_folders(store: Store) -> list[str]:
    pattern = store.path("encoding_models/modality-*/train_dataset-*/model-*")
    try:
        found = call(store.fs, "glob", pattern, url=store.url_of("encoding_models"), action="list")
    except Exception as exc:
        raise store_error(exc, store.url_of("encoding_models"), "list") from None
    base = store.root.rstrip("/") + "/"
    return sorted(store.fs._strip_protocol(p)[len(base) :] for p in found)


def _same_store(a: Store, b: Store) -> bool:
    if a.is_local and b.is_local:
        try:
            return Path(a.root).resolve() == Path(b.root).resolve()
        except OSError:
            return False
    return a.url.rstrip("/") == b.url.rstrip("/") and a.endpoint == b.endpoint


def _convert_folder(
    src: Store,
    dst: Store,
    folder: str,
    pm: PluginManager,
    owner: RegisteredModel | None,
    wanted: set[int | str] | None,
    same: bool,
    report: ConvertReport,
    show_progress: bool,
) -> None:
    files = src.find(folder)
    if not files:
        raise StoreError(f"model folder {src.url_of(folder)} is empty or missing")
    card = None if owner is None else owner.card

    def subject_of(name: str) -> int | str | None:  # as the owning card spells subjects, else numbers
        return _subject_of(name, card)

    recorder = _Recorder()
    plan: list[tuple[str, str]] = []  # (action, relpath)
    for rel in files:
        inner = rel[len(folder) + 1 :]
        subject = subject_of(inner.split(".zarr/", 1)[0])
        if inner.startswith(f"{ACCURACY_DIR}/") or inner in (MANIFEST_NAME, CARD_NAME) or inner.endswith((".part", ".tmp")):
            report.skipped.append(rel)
        elif wanted is not None and subject is not None and subject not in wanted:
            continue
        elif ".zarr/" in inner or not inner.endswith(".npy"):
            plan.append(("copy", rel))
        else:
            plan.append(("convert", rel))
    existing = dst.manifest(folder) if dst.exists(f"{folder}/{MANIFEST_NAME}") else None
    if existing is not None:
        for entry in existing.files.values():
            recorder.add(entry.path, entry.size, entry.sha256)
    if wanted is not None and not any(subject_of(r) in wanted for _, r in plan):
        raise InvalidParameterError(
            f"no files for subject(s) {sorted(wanted, key=str)} in {src.url_of(folder)}; subjects found: "
            f"{sorted({s for r in files if (s := subject_of(r)) is not None}, key=str)}"
        )
    for action, rel in tqdm(plan, desc=posixpath.basename(folder), unit="file", disable=not show_progress, leave=False):
        if action == "convert":
            _convert_npy(src, dst, folder, rel, recorder, report, pm, owner)
            if same:
                _record_existing(src, folder, rel, recorder)
        else:
            _copy(src, dst, folder, rel, recorder, report, same)
    if owner is not None:
        import yaml

        text = yaml.safe_dump(owner.card.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True).encode()
        _write_bytes(dst, f"{folder}/{CARD_NAME}", text)
        recorder.add(CARD_NAME, len(text), sha256_bytes(text))
        report.bytes_written += len(text)
    manifest = Manifest(recorder.entries.values(), dst.url_of(f"{folder}/{MANIFEST_NAME}"))
    _write_bytes(dst, f"{folder}/{MANIFEST_NAME}", manifest.to_json().encode())
    report.manifests.append(f"{folder}/{MANIFEST_NAME}")
    _remember_written(dst, folder, recorder, existing)


def _convert_npy(
    src: Store, dst: Store, folder: str, rel: str, recorder: _Recorder, report: ConvertReport, pm: PluginManager, owner: RegisteredModel | None
) -> None:
    from berg_core.models.weights import PickledNpyFile, read_metadata

    twin = zarr_twin(rel)
    assert twin is not None
    source = src.url_of(rel)
    data = PickledNpyFile(src, rel).data
    is_weights = rel[len(folder) + 1 :].startswith(f"{WEIGHTS_DIR}/")
    if is_weights:
        meta_rel = _metadata_for(folder, rel)
        metadata = read_metadata(src, meta_rel) if src.exists(meta_rel) else None
        orders, rows = weights_plan(pm, owner, data, metadata, source)
        data = _fold(data, source)
        policy, kind = _weights_policy(rows, orders), "weights"
    else:
        orders, policy, kind = {}, _metadata_policy, "metadata"
    before = sum(e.size for e in recorder.entries.values())
    # a remote destination gets the finished group in one concurrent upload: Zarr's own
    # writes to object stores cost several requests per array
    with tempfile.TemporaryDirectory(prefix="berg-convert-") as stage:
        local_dir = Path(dst.path(twin)) if dst.is_local else Path(stage) / "group.zarr"
        group, zstore = _open_dst_group(local_dir, twin, recorder, folder)
        try:
            write_tree(group, data, policy, orders or None, source)
            group.attrs.update({LAYOUT_ATTR: kind, "berg_layout_version": LAYOUT_VERSION, "berg_source": posixpath.basename(rel)})
            _consolidate(zstore)
            if not dst.is_local:
                _upload_folder(local_dir, dst, twin)
        except BERGError:
            raise
        except OSError as exc:
            raise store_error(exc, dst.url_of(twin), "write") from None
    report.converted.append(rel)
    report.bytes_written += max(0, sum(e.size for e in recorder.entries.values()) - before)


def _upload_folder(local_dir: Path, dst: Store, rel: str) -> None:
    target = dst.path(rel)
    try:
        if dst.fs.exists(target):
            dst.fs.rm(target, recursive=True)
        files = sorted(p for p in local_dir.rglob("*") if p.is_file())
        dst.fs.put([str(p) for p in files], [f"{target}/{p.relative_to(local_dir).as_posix()}" for p in files])
    except Exception as exc:
        raise store_error(exc, dst.url_of(rel), "write") from None


def _record_existing(store: Store, folder: str, rel: str, recorder: _Recorder) -> None:
    size, digest = sha256_file(store.local_file(rel))
    recorder.add(rel[len(folder) + 1 :], size, digest)


def _copy(src: Store, dst: Store, folder: str, rel: str, recorder: _Recorder, report: ConvertReport, same: bool) -> None:
    local = src.local_file(rel)
    size, digest = sha256_file(local)
    if not same:
        try:
            if dst.is_local:
                target = Path(dst.path(rel))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, target)
            else:
                dst.fs.put_file(local, dst.path(rel))
        except OSError as exc:
            raise store_error(exc, dst.url_of(rel), "write") from None
        report.copied.append(rel)
        report.bytes_written += size
    recorder.add(rel[len(folder) + 1 :], size, digest)


def _write_bytes(dst: Store, rel: str, data: bytes) -> None:
    try:
        if dst.is_local:
            from berg_core.store.fetch import write_atomic

            write_atomic(Path(dst.path(rel)), data)
        else:
            dst.fs.pipe_file(dst.path(rel), data)
    except OSError as exc:
        raise store_error(exc, dst.url_of(rel), "write") from None


def _copy_backbones(src: Store, dst: Store, files: list[str], report: ConvertReport) -> None:
    """Copy backbone weight files, each folder getting a manifest of what it holds."""
    recorders: dict[str, _Recorder] = {}
    for rel in files:
        if src.exists(rel):
            folder = posixpath.dirname(rel)
            _copy(src, dst, folder, rel, recorders.setdefault(folder, _Recorder()), report, same=False)
    for folder, recorder in sorted(recorders.items()):
        existing = dst.manifest(folder) if dst.exists(f"{folder}/{MANIFEST_NAME}") else None
        entries = {**(existing.files if existing else {}), **recorder.entries}
        _write_bytes(dst, f"{folder}/{MANIFEST_NAME}", Manifest(entries.values()).to_json().encode())
        report.manifests.append(f"{folder}/{MANIFEST_NAME}")
        _remember_written(dst, folder, recorder, None)


def _remember_written(dst: Store, folder: str, recorder: _Recorder, existing: Manifest | None) -> None:
    """Tell the derived cache the SHA-256 of each large local file just written and hashed.

    A load on this machine then maps or opens them without hashing them again (a converted
    ViT-B/32 model's first load would otherwise hash 800 MB, about 0.8 s). Entries carried over
    from an earlier manifest are not vouched for: those files were not written now.
    """
    from berg_core.store import derived_cache

    if not dst.is_local or dst.cache is not None:
        return
    for entry in recorder.entries.values():
        if entry.size < derived_cache.MIN_BYTES or (existing is not None and existing.entry(entry.path) == entry):
            continue
        path = dst.path(f"{folder}/{entry.path}")
        try:
            if os.path.getsize(path) != entry.size:
                continue
        except OSError:
            continue
        derived_cache.remember_sha256(path, entry.sha256)
