"""The ``berg_export_result`` answers of this plugin (``result.berg.to_gifti(...)`` etc.).

fsaverage results: ``"gifti"`` and ``"mgh"`` (``path`` = folder, option
``name``), ``"hemispheres"`` (BERG 2.0's ``(lh, rh)`` tuple) and
``"surface"`` (option ``hemisphere``: a full-surface array).
fwRF results: ``"nifti"`` (``path`` = file), ``"volume"`` (4-D array) and
``"mask"`` (the 3-D mask).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from berg_core.plugin import InvalidParameterError

from .layout import FSAVERAGE_MODEL_ID, FSAVERAGE_MODEL_IDS, FWRF_MODEL_ID
from .params import check_options

__all__ = ["FORMATS", "export_result"]


def _needs_path(fmt: str, path: str | None) -> str:
    if path is None:
        raise InvalidParameterError(f"exporting as {fmt!r} writes files: give a path")
    return path


def _fsaverage(fmt: str, result: Any, path: str | None, options: Mapping[str, Any]) -> Any:
    from . import surface_export as surf

    if fmt in ("gifti", "mgh"):
        check_options(options, ("name",), FSAVERAGE_MODEL_ID, f"export({fmt!r})")
        write = surf.to_gifti if fmt == "gifti" else surf.to_mgh
        return write(result, _needs_path(fmt, path), **options)
    if fmt == "hemispheres":
        check_options(options, (), FSAVERAGE_MODEL_ID, "export('hemispheres')")
        return surf.split_hemispheres(result)
    check_options(options, ("hemisphere",), FSAVERAGE_MODEL_ID, "export('surface')")
    if "hemisphere" not in options:
        raise InvalidParameterError("export('surface') needs hemisphere='lh' or 'rh'")
    return surf.full_surface(result, options["hemisphere"])


def _fwrf(fmt: str, result: Any, path: str | None, options: Mapping[str, Any]) -> Any:
    from . import volume_export as vol

    check_options(options, (), FWRF_MODEL_ID, f"export({fmt!r})")
    if fmt == "nifti":
        return vol.to_nifti(result, _needs_path(fmt, path))
    return vol.to_volume(result) if fmt == "volume" else vol.roi_mask(result)


#: Export formats per model id.
FORMATS: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
    **{model_id: (("gifti", "mgh", "hemispheres", "surface"), _fsaverage) for model_id in FSAVERAGE_MODEL_IDS},
    FWRF_MODEL_ID: (("nifti", "volume", "mask"), _fwrf),
}


def export_result(result: Any, fmt: str, path: str | None, options: Mapping[str, Any]) -> Any:
    """Export a result of this plugin's models; ``None`` for other models' results."""
    model_id = getattr(result, "attrs", {}).get("model_id")
    if model_id not in FORMATS:
        return None
    formats, export = FORMATS[model_id]
    if fmt not in formats:
        raise InvalidParameterError(f"{model_id} results cannot be exported as {fmt!r}; formats: {list(formats)}")
    return export(fmt, result, path, options)
