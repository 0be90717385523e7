"""Integrity manifests: the size and SHA-256 of every file of a model folder.

``berg convert`` and ``berg download`` write ``berg-manifest.json`` at the
root of each folder they produce (see :func:`manifest_root`); :class:`~berg_core.store.model_store.Store`
checks every file it hands out against it, so a truncated or altered file
raises :class:`~berg_core.IntegrityError` naming it before any of its bytes
are used. Folders without a manifest (BERG 2.0's own store) are read as they
are, through the restricted loaders.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from berg_core.errors import IntegrityError

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "FileEntry",
    "Manifest",
    "manifest_root",
    "sha256_bytes",
    "sha256_file",
]

MANIFEST_NAME = "berg-manifest.json"
MANIFEST_VERSION = 1
_BLOCK = 1 << 22


@dataclass(frozen=True)
class FileEntry:
    """What a file must be: its size in bytes and its SHA-256 (hex)."""

    path: str
    size: int
    sha256: str


def manifest_root(relpath: str) -> str | None:
    """The folder (relative to the store root) whose manifest covers ``relpath``.

    Manifests sit in model folders (``encoding_models/modality-*/train_dataset-*/model-*``),
    in ``backbones`` and in the image-set folders of pre-generated responses
    (``pregenerated_insilico_neural_responses/modality-*/train_dataset-*/model-*/imageset-*``).
    Returns ``None`` for paths outside those folders.
    """
    parts = [p for p in relpath.strip("/").split("/") if p]
    if len(parts) >= 5 and parts[0] == "encoding_models":
        return "/".join(parts[:4])
    if len(parts) >= 2 and parts[0] == "backbones":
        return "backbones"
    if len(parts) >= 6 and parts[0] == "pregenerated_insilico_neural_responses":
        return "/".join(parts[:5])
    return None


def sha256_bytes(data: bytes | memoryview) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(fh: IO[bytes] | str | os.PathLike[str]) -> tuple[int, str]:
    """``(size, hex SHA-256)`` of a file, read in blocks."""
    if isinstance(fh, (str, os.PathLike)):
        with open(fh, "rb") as f:
            return sha256_file(f)
    h = hashlib.sha256()
    size = 0
    while block := fh.read(_BLOCK):
        h.update(block)
        size += len(block)
    return size, h.hexdigest()


class Manifest:
    """The files of one folder, keyed by path relative to that folder.

    Parameters
    ----------
    entries
        The files.
    source
        Where the manifest was read from, for messages.
    """

    def __init__(self, entries: Iterable[FileEntry] = (), source: str = "<manifest>") -> None:
        self.source = source
        self.files: dict[str, FileEntry] = {e.path: e for e in entries}
        self._dirs: set[str] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, path: object) -> bool:
        return path in self.files

    def entry(self, path: str) -> FileEntry | None:
        """The entry of ``path`` (relative to the manifest's folder), if listed."""
        return self.files.get(path)

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a folder holding listed files."""
        if self._dirs is None:
            dirs: set[str] = {""}
            for p in self.files:
                parent = posixpath.dirname(p)
                while parent not in dirs:
                    dirs.add(parent)
                    parent = posixpath.dirname(parent)
            self._dirs = dirs
        return path.strip("/") in self._dirs

    def add(self, entry: FileEntry) -> None:
        self.files[entry.path] = entry
        self._dirs = None

    def remove(self, path: str) -> None:
        self.files.pop(path, None)
        self._dirs = None

    def merged(self, other: Manifest) -> Manifest:
        """A manifest with this one's entries updated by ``other``'s."""
        return Manifest([*self.files.values(), *other.files.values()], self.source)

    # ---- checks ---------------------------------------------------------------------------
    def check_bytes(self, path: str, data: bytes | memoryview, source: str) -> None:
        """Raise :class:`IntegrityError` unless ``data`` is the listed content of ``path``."""
        entry = self._require(path, source)
        if len(data) != entry.size:
            raise IntegrityError(
                f"{source} is {'truncated' if len(data) < entry.size else 'too long'}: "
                f"{len(data)} bytes, the manifest says {entry.size}. Nothing from it was used; "
                "delete it (or run 'berg cache clear') and fetch it again."
            )
        digest = sha256_bytes(data)
        if digest != entry.sha256:
            raise IntegrityError(
                f"{source} does not match its manifest: SHA-256 {digest}, expected {entry.sha256}. "
                "Nothing from it was used; delete it (or run 'berg cache clear') and fetch it again."
            )

    def check_file(self, path: str, local_path: str | os.PathLike[str], source: str) -> None:
        """Raise :class:`IntegrityError` unless the local file is the listed content of ``path``."""
        entry = self._require(path, source)
        actual = os.path.getsize(local_path)
        if actual != entry.size:
            raise IntegrityError(
                f"{source} is {'truncated' if actual < entry.size else 'too long'}: "
                f"{actual} bytes, the manifest says {entry.size}. Nothing from it was used; "
                "delete it (or run 'berg cache clear') and fetch it again."
            )
        _, digest = sha256_file(local_path)
        if digest != entry.sha256:
            raise IntegrityError(
                f"{source} does not match its manifest: SHA-256 {digest}, expected {entry.sha256}. "
                "Nothing from it was used; delete it (or run 'berg cache clear') and fetch it again."
            )

    def _require(self, path: str, source: str) -> FileEntry:
        entry = self.files.get(path)
        if entry is None:
            raise IntegrityError(
                f"{source} is not listed in {self.source}; a folder with a manifest may only hold the files "
                "it lists (re-run 'berg convert' or 'berg download' to refresh it)"
            )
        return entry

    # ---- serialisation --------------------------------------------------------------------
    def to_json(self) -> str:
        files = [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in sorted(self.files.values(), key=lambda e: e.path)]
        return json.dumps({"berg_manifest": MANIFEST_VERSION, "files": files}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> Manifest:
        """Parse a manifest; a malformed one raises :class:`IntegrityError`."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # not JSON, not UTF-8, a number of more digits than Python converts, or nesting too deep to parse
            raise IntegrityError(f"{source} is not a valid manifest (not JSON: {type(exc).__name__}: {str(exc)[:200]})") from None
        if not isinstance(data, Mapping) or data.get("berg_manifest") != MANIFEST_VERSION or not isinstance(data.get("files"), list):
            raise IntegrityError(
                f"{source} is not a berg manifest version {MANIFEST_VERSION}: expected an object with "
                "'berg_manifest' and a 'files' list"
            )
        entries = []
        for i, item in enumerate(data["files"]):
            entries.append(_entry_from(item, i, source))
        return cls(entries, source)


def _entry_from(item: Any, i: int, source: str) -> FileEntry:
    ok = (
        isinstance(item, Mapping)
        and isinstance(item.get("path"), str)
        and type(item.get("size")) is int
        and item["size"] >= 0
        and isinstance(item.get("sha256"), str)
        and len(item["sha256"]) == 64
        and all(c in "0123456789abcdef" for c in item["sha256"])
    )
    if not ok:
        given = repr(item) if isinstance(item, (str, int, float, bool, type(None))) else type(item).__name__
        if isinstance(item, Mapping):
            given = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(item.items())[:10])
        raise IntegrityError(
            f"{source}: files[{i}] must be {{'path': str, 'size': int >= 0, 'sha256': 64 lowercase hex digits}}, "
            f"got {given[:200]}"
        )
    path = item["path"]
    if path.startswith("/") or ".." in path.split("/"):
        raise IntegrityError(f"{source}: files[{i}] has path {path!r}; paths must stay inside the manifest's folder")
    return FileEntry(path, item["size"], item["sha256"])
