"""``berg download``: fetch just the files some models need.

The file list comes from the card's ``store_path`` and the store layout:
the model folder's files (from its manifest, else a listing), minus the
accuracy plots, restricted to the requested subjects (``subject-SS`` /
``sub-SS`` in file names) and ROIs (``roi-NAME``, per-ROI models only), plus
the shared backbone weights when the store has them. Each file is copied
with :func:`berg_core.store.fetch.fetch_file`: resumable after an interruption and
verified before it takes its final name. A destination folder gets a
manifest of what it holds, so loads from it are verified; the default
destination is the cache of the source store, so ``BERG()`` then loads those
models without network.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from berg_core.errors import InvalidParameterError, StoreError
from berg_core.store.fetch import PARTIAL_SUFFIXES, fetch_file
from berg_core.store.manifest import MANIFEST_NAME, FileEntry, Manifest, manifest_root, sha256_file
from berg_core.store.model_store import Store, resolve_store

if TYPE_CHECKING:
    from berg_core.backbones.spec import BackboneSpec
    from berg_core.cards.model_card import ModelCard
    from berg_core.registry.manager import PluginManager

__all__ = ["DownloadReport", "card_rois", "download_model", "plan_download", "roi_of"]

ACCURACY_DIR = "encoding_models_accuracy"
DOWNLOAD_BLOCK = 4 << 20
_ROI_RE = re.compile(r"_roi-(.+?)(?:_split-\d+)?(?:\.(?:npy|pt|zarr))?$")


def roi_of(name: str) -> str | None:
    """The ROI in a per-ROI file name (``weights_sub-01_roi-FFA-1_split-2.pt`` -> ``FFA-1``)."""
    m = _ROI_RE.search(posixpath.basename(name.rstrip("/")))
    return m.group(1) if m else None


@dataclass
class DownloadReport:
    """What ``download_model`` fetched."""

    dest: str
    files: dict[str, int] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_total(self) -> int:
        return sum(self.files.values())


def card_rois(card: ModelCard) -> list[str] | None:
    """The ROI names of the card's ``roi`` selection key: the ``roi-NAME`` of BERG 2.0's per-ROI file names."""
    for key in card.selection_keys:
        if key.name == "roi" and key.valid_values:
            return [str(v) for v in key.valid_values]
    return None


def plan_download(
    store: Store,
    card: ModelCard,
    subjects: Iterable[int | str] | None = None,
    rois: Iterable[str] | None = None,
    backbone: BackboneSpec | None = None,
) -> tuple[dict[str, int], list[str]]:
    """The files (store-relative path -> size) to fetch, and notes for the user.

    ``backbone`` is the spec of the backbone the card names (from the registry): its
    weights file is fetched too when the store has it.

    Raises
    ------
    InvalidParameterError
        An ROI the model does not have, or no file for a requested subject.
    """
    from berg_core.workflows.convert import CARD_NAME, subject_of, wanted_subjects

    folder = card.store_path.strip("/")
    wanted = wanted_subjects(card, subjects)
    wanted_list = None if wanted is None else sorted(wanted, key=str)
    wanted_rois = None if rois is None else list(dict.fromkeys(str(r) for r in rois))
    notes: list[str] = []
    valid_rois = card_rois(card)
    if wanted_rois and valid_rois is not None:
        bad = [r for r in wanted_rois if r not in valid_rois]
        if bad:
            raise InvalidParameterError(f"ROI(s) {bad} are not available for {card.id}; valid ROIs: {valid_rois}")
    files = store.find(folder)
    if not files:
        raise StoreError(f"model folder {store.url_of(folder)} is empty or missing")
    per_roi = any(roi_of(r.split(".zarr/", 1)[0]) for r in files)
    if wanted_rois and not per_roi:
        notes.append(f"{card.id} stores all ROIs in one file per subject; --roi does not reduce the download "
                     "(a selection reads just the ROI's rows from the Zarr layout at load time)")
    chosen: dict[str, int] = {}
    for rel, size in files.items():
        inner = rel[len(folder) + 1 :]
        head = inner.split(".zarr/", 1)[0]
        if inner.startswith(f"{ACCURACY_DIR}/") or inner.endswith(PARTIAL_SUFFIXES):
            continue
        if inner not in (MANIFEST_NAME, CARD_NAME):
            subject = subject_of(head, card)
            if wanted is not None and subject is not None and subject not in wanted:
                continue
            roi = roi_of(head)
            if wanted_rois and per_roi and roi is not None and roi not in wanted_rois:
                continue
        chosen[rel] = size
    if wanted_list is not None:
        found = {subject_of(r[len(folder) + 1 :].split(".zarr/", 1)[0], card) for r in chosen}
        missing = [s for s in wanted_list if s not in found]
        if missing:
            raise InvalidParameterError(f"the store {store.url} has no files of {card.id} for subject(s) {missing}")
    from berg_core.backbones.seeded import is_seeded

    if backbone is not None and not is_seeded(backbone):  # a seeded backbone (untrained AlexNet) has no file
        if store.exists(backbone.store_path):
            if backbone.folder:  # a model folder (config, weights, tokenizer): every file of it
                chosen.update(store.find(backbone.store_path))
            else:
                chosen[backbone.store_path] = store.size(backbone.store_path)
        else:
            where = backbone.local_description or "the torch hub cache"
            notes.append(f"the store has no {backbone.store_path}; the backbone comes from {where} (see berg describe)")
    return dict(sorted(chosen.items())), notes


def download_model(
    model_id: str,
    subjects: Iterable[int | str] | None = None,
    rois: Iterable[str] | None = None,
    dest: str | os.PathLike[str] | None = None,
    berg_dir: str | os.PathLike[str] | Store | None = None,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
    plugin_manager: PluginManager | None = None,
) -> DownloadReport:
    """Fetch the files ``model_id`` needs for ``subjects`` (and ``rois``) from ``berg_dir``.

    Parameters
    ----------
    model_id
        See ``berg models``.
    subjects, rois
        What to fetch; default: every subject (and ROI).
    dest
        A local folder (becomes a local store with a manifest); default: the cache
        of the source store, which ``BERG(berg_dir)`` then reads without network.
    berg_dir, storage_options, cache_dir
        The source store, as for :class:`~berg_core.api.BERG`.

    Returns
    -------
    DownloadReport
    """
    from berg_core.cards.enforce import check_subject
    from berg_core.registry.manager import manager_of

    pm = manager_of(plugin_manager)
    card = pm.registry.get(model_id).card
    subject_list = None if subjects is None else [s for s in (check_subject(card, v) for v in subjects) if s is not None]
    store = berg_dir if isinstance(berg_dir, Store) else resolve_store(berg_dir, storage_options, cache_dir)
    files, notes = plan_download(store, card, subject_list, rois, pm.registry.backbone_of(card))
    into_cache = dest is None
    if into_cache:
        if store.cache is None:
            raise InvalidParameterError(f"{store.url} is a local store already; give a destination folder to copy models into")
        cache = store.cache
        root = cache.folder
    else:
        root = Path(dest).expanduser()  # type: ignore[arg-type]
        cache = None
    report = DownloadReport(dest=str(root), files=files, notes=notes)
    entries: dict[str, list[FileEntry]] = {}
    with tqdm(total=sum(files.values()), unit="B", unit_scale=True, unit_divisor=1024, desc=model_id, disable=not show_progress) as bar:
        for rel, size in files.items():
            folder = manifest_root(rel)
            inner = rel[len(folder) + 1 :] if folder else rel
            if inner == MANIFEST_NAME:
                continue
            manifest = store.manifest(folder) if folder else None
            url = store.url_of(rel)
            target = root.joinpath(*rel.split("/"))
            verify = None if manifest is None else (lambda p, m=manifest, i=inner, u=url: m.check_file(i, p, u))
            if target.is_file() and target.stat().st_size == size:
                if verify is not None:
                    verify(target)
                report.already_there.append(rel)
                bar.update(size)
            else:
                if target.is_file():
                    target.unlink()  # a different size: not this file
                fetch_file(store.fs, store.path(rel), target, size, url, verify=verify, progress=bar.update, block_size=DOWNLOAD_BLOCK)
                report.fetched.append(rel)
            if cache is not None and manifest is None:
                cache.remember(rel, size)  # what a manifest does not already say
            if folder and not into_cache:
                entry = manifest.entry(inner) if manifest is not None else None
                if entry is None:
                    n, digest = sha256_file(target)
                    entry = FileEntry(inner, n, digest)
                entries.setdefault(folder, []).append(entry)
    if not into_cache:
        # the cache mirrors the remote (its manifest, if any, is cached as it is); a folder gets its own
        for folder, new in entries.items():
            _write_manifest(root, folder, new)
    return report


def _write_manifest(root: Path, folder: str, new: list[FileEntry]) -> None:
    from berg_core.store.fetch import write_atomic

    target = root.joinpath(*folder.split("/"), MANIFEST_NAME)
    merged = Manifest(new, str(target))
    if target.is_file():
        merged = Manifest.from_json(target.read_bytes(), str(target)).merged(merged)
    write_atomic(target, merged.to_json().encode())
