"""Files berg writes for its user (stores, exports, pictures): one way to make them, one error.

A folder that cannot be created or a file that cannot be written is a
:class:`~berg_core.errors.StoreError` naming the path and the reason, wherever
it happens, in core or in a plugin.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from berg_core.errors import StoreError

__all__ = ["make_folder", "output_errors", "write_atomically"]


def make_folder(folder: str | os.PathLike[str], what: str = "output folder") -> Path:
    """``folder`` (``~`` expanded), created with its parents if needed.

    Raises
    ------
    StoreError
        It cannot be created: ``"cannot create the {what} '...': reason"``.
    """
    out = Path(folder).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the {what} {str(out)!r}: {exc.strerror or exc}") from None
    return out


@contextlib.contextmanager
def output_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Inside the block, failing to write ``path`` is a :class:`StoreError` ``"cannot write '...': reason"``.

    For writers that take a file name (``nibabel.save``, ``Figure.savefig``).
    """
    try:
        yield
    except OSError as exc:
        raise StoreError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def write_atomically(root: str | os.PathLike[str], relpath: str, write: Callable[[IO[bytes]], Any]) -> str:
    """Create ``root/relpath`` with ``write(file)``; the file appears under its name only once complete.

    Written beside its place, then renamed: an interrupted writer never leaves a truncated
    file that a later load would take for a damaged weight file.

    Returns
    -------
    str
        ``relpath``.

    Raises
    ------
    StoreError
        The file cannot be written.
    """
    path = Path(root).expanduser() / relpath
    tmp = path.with_name(path.name + ".part")
    make_folder(path.parent, "folder")
    try:
        with output_errors(path):
            with open(tmp, "wb") as fh:
                write(fh)
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # left only when writing failed
    return relpath
