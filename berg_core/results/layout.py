"""What a result-store location holds, and the few file operations berg does there.

berg deletes nothing it did not write: before writing, every location is
classified (:func:`inspect`), and only berg's own nodes are ever removed
(:func:`clear_result`). A location is berg's when its ``zarr.json`` is a group
marked by berg (``berg_result`` for a result, ``berg_store`` for the groups
above results), or when it holds berg's ``.berg`` record folder (a result whose
creation was interrupted). Names starting with ``.berg`` are berg's own
records and temporary files. See ``specs/store_layout.md`` (section 5).
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Any

from berg_core.errors import StoreError
from berg_core.store.network import bounded_filesystem

__all__ = [
    "BERG_RECORDS",
    "Location",
    "clear_result",
    "create_container",
    "inspect",
    "location",
]

#: The folder of a result group holding berg's bookkeeping (not a Zarr node: xarray never sees it).
BERG_RECORDS = ".berg"
REQUEST_FILE = f"{BERG_RECORDS}/request.json"
DONE_DIR = f"{BERG_RECORDS}/done"
TMP_PREFIX = ".berg-tmp-"
RESULT_ATTR = "berg_result"
STORE_ATTR = "berg_store"
#: Attributes of the first result layout (before 0.3): resume records inside the dataset.
LEGACY_MARKS = ("berg_request",)
LEGACY_DONE = "berg_done"

ABSENT, CONTAINER, RESULT, HALF, LEGACY, FOREIGN = "absent", "container", "result", "half", "legacy", "foreign"


@dataclass
class Location:
    """A place in a result store: canonical URL, its filesystem and path there."""

    url: str
    fs: Any
    path: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return "://" not in self.url

    def child(self, name: str) -> Location:
        return Location(f"{self.url}/{name}", self.fs, f"{self.path}/{name}", self.storage_options)

    def _p(self, rel: str) -> str:
        return f"{self.path}/{rel}" if rel else self.path

    def read_json(self, rel: str) -> Any:
        """The JSON at ``rel``, or ``None`` when it is missing or not whole (an interrupted write)."""
        try:
            if self.local:
                with open(self._p(rel), "rb") as fh:
                    data = fh.read()
            else:
                self.fs.invalidate_cache(self._p(rel))
                data = self.fs.cat_file(self._p(rel))
            return json.loads(data)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, UnicodeDecodeError):
            return None
        except StoreError:  # a request past the network deadline: its message names the URL
            raise
        except Exception as exc:  # remote filesystems raise their own types (botocore, aiohttp)
            raise StoreError(f"cannot read {self.url}/{rel}: {type(exc).__name__}: {exc}") from None

    def write_json(self, rel: str, value: Any) -> None:
        """Write ``rel`` whole or not at all (local: temporary file then rename; object stores write whole objects)."""
        data = json.dumps(value, sort_keys=True).encode()
        where = self._p(rel)
        try:
            if self.local:
                folder = os.path.dirname(where)
                os.makedirs(folder, exist_ok=True)
                tmp = os.path.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex}")
                try:
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                    os.replace(tmp, where)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:
                self.fs.pipe_file(where, data)
        except StoreError:  # a request past the network deadline: its message names the URL
            raise
        except Exception as exc:  # remote filesystems raise their own types (botocore, aiohttp)
            raise StoreError(f"cannot write {self.url}/{rel}: {type(exc).__name__}: {exc}") from None

    def names(self) -> list[str] | None:
        """Entry names of the folder, or ``None`` when nothing is there; a file there counts as foreign."""
        try:
            if self.local:
                if not os.path.lexists(self.path):
                    return None
                if not os.path.isdir(self.path):
                    raise NotADirectoryError(self.path)
                return sorted(os.listdir(self.path))
            self.fs.invalidate_cache(self.path)
            if not self.fs.exists(self.path):
                return None
            if not self.fs.isdir(self.path):
                raise NotADirectoryError(self.path)
            return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.path, detail=False))
        except NotADirectoryError:
            raise StoreError(f"{self.url} is a file, not a folder: berg writes results only into a new or berg-written folder") from None
        except StoreError:  # a request past the network deadline: its message names the URL
            raise
        except Exception as exc:  # remote filesystems raise their own types (botocore, aiohttp)
            raise StoreError(f"cannot read {self.url}: {type(exc).__name__}: {exc}") from None

    def remove(self, rel: str) -> None:
        where = self._p(rel)
        try:
            if self.local:
                if os.path.isdir(where) and not os.path.islink(where):
                    import shutil

                    shutil.rmtree(where)
                elif os.path.lexists(where):
                    os.unlink(where)
            elif self.fs.exists(where):
                self.fs.rm(where, recursive=True)
        except FileNotFoundError:
            pass
        except StoreError:  # a request past the network deadline: its message names the URL
            raise
        except Exception as exc:  # remote filesystems raise their own types (botocore, aiohttp)
            raise StoreError(f"cannot remove {self.url}/{rel}: {type(exc).__name__}: {exc}") from None


def canonical_url(url: str, storage_options: dict[str, Any] | None = None) -> str:
    """One spelling per place: the real path of a local folder (symlinks, ``.``, ``..``, trailing
    slashes resolved), or the normalised URL of an fsspec location."""
    if "://" not in url or url.startswith("file://"):
        return os.path.realpath(os.path.expanduser(url.removeprefix("file://")))
    try:
        fs, path = bounded_filesystem(url, storage_options)
    except (ValueError, TypeError, ImportError) as exc:
        raise StoreError(f"cannot open {url}: {exc}") from None
    return str(fs.unstrip_protocol(posixpath.normpath(path).rstrip("/")))


def location(url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> Location:
    """The :class:`Location` of ``url`` (local path or fsspec URL)."""
    raw = os.fspath(url)
    canon = canonical_url(raw, storage_options)
    if "://" not in canon:
        return Location(canon, None, canon, dict(storage_options or {}))
    fs, path = bounded_filesystem(canon, storage_options)
    return Location(canon, fs, posixpath.normpath(path), dict(storage_options or {}))


def inspect(loc: Location) -> tuple[str, list[str], dict[str, Any]]:
    """What ``loc`` holds: ``(kind, entry names, group attributes)``.

    kind is ``absent`` (nothing, an empty folder or only berg's temporary files), ``container``
    (a group berg made above results), ``result``, ``half`` (a result whose creation was
    interrupted), ``legacy`` (a result of the first layout) or ``foreign`` (anything else).
    """
    names = loc.names()
    if not names or ("zarr.json" not in names and BERG_RECORDS not in names and all(_ignorable(loc, n) for n in names)):
        return ABSENT, names or [], {}
    meta = loc.read_json("zarr.json") if "zarr.json" in names else None
    attrs = meta.get("attributes", {}) if isinstance(meta, dict) and meta.get("node_type") == "group" else None
    if isinstance(attrs, dict) and attrs.get(RESULT_ATTR):
        legacy = LEGACY_DONE in names or any(k in attrs for k in LEGACY_MARKS)
        return (LEGACY if legacy else RESULT), names, attrs
    if isinstance(attrs, dict) and attrs.get(STORE_ATTR):
        return CONTAINER, names, attrs
    if BERG_RECORDS in names:
        return HALF, names, {}
    return FOREIGN, names, attrs or {}


def _ignorable(loc: Location, name: str) -> bool:
    """Entries that hold nothing to lose: berg's temporary files and locks, folders of only those."""
    if name.startswith(TMP_PREFIX) or name.endswith((".lock", ".lock.break")):
        return True
    child = loc.child(name)
    try:
        is_dir = (os.path.isdir(child.path) and not os.path.islink(child.path)) if loc.local else loc.fs.isdir(child.path)
    except Exception:  # unreadable: not known to be empty
        return False
    return bool(is_dir) and inspect(child)[0] == ABSENT


def describe_foreign(loc: Location, names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{loc.url} already holds files berg did not write ({shown}); berg writes results only into a new "
        "folder or one it wrote itself, and never deletes other files (overwrite=True does not change that). "
        "Choose a new folder, e.g. run.zarr"
    )


def clear_result(loc: Location, names: list[str]) -> None:
    """Remove berg's own nodes of a result group: its ``zarr.json``, its arrays, its records.

    Other entries (none unless someone put them there) are left alone.
    """
    for name in names:
        if name in ("zarr.json", BERG_RECORDS) or name.startswith(TMP_PREFIX):
            loc.remove(name)
        elif _zarr_node(loc.child(name)):
            loc.remove(name)
    if BERG_RECORDS in names:
        return
    # the first layout kept its records inside the group
    if LEGACY_DONE in names:
        loc.remove(LEGACY_DONE)


def _zarr_node(child: Location) -> bool:
    """An array or group node of the result: readable metadata, or one a full disk cut short.

    A node whose ``zarr.json`` was left empty or truncated (or not written yet) holds only Zarr's own
    entries; left in place, it would make the next write of the same variable fail.
    """
    if isinstance(child.read_json("zarr.json"), dict):
        return True
    try:
        entries = child.names()
    except StoreError:  # a file, or unreadable: not known to be berg's
        return False
    return entries is not None and set(entries) <= {"zarr.json", "c"}


def create_container(loc: Location) -> None:
    """Write the group metadata of a level above results (root or model folder), whole or not at all."""
    loc.write_json("zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": {STORE_ATTR: 1}})
