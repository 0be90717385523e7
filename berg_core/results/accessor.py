"""The ``.berg`` xarray accessor: exports and plots live with the data.

Registered when :mod:`berg_core` is imported. Everything model-specific is
answered by the plugin that made the result (``berg_export_result`` and
``berg_plot_result`` hooks), and only by it: core finds the plugin owning
the card of the result's ``model_id`` in the registry of the plugin manager
given (``plugin_manager=`` a ``BERG`` or a plugin manager), or of the
process-wide one when none is given.
"""

from __future__ import annotations

import os
from typing import Any

import xarray as xr

from berg_core.errors import InvalidParameterError, PluginError
from berg_core.registry.manager import manager_of

__all__ = ["BergAccessor"]

#: Coordinates that describe how reliable each output unit is, in order of preference.
RELIABILITY_COORDS = ("ncsnr", "noise_ceiling", "accuracy")


@xr.register_dataarray_accessor("berg")
class BergAccessor:
    """``result.berg``: exports, plots and reliability masks for berg results."""

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    @property
    def model_id(self) -> str:
        mid = self._obj.attrs.get("model_id")
        if not mid:
            raise InvalidParameterError(
                "this DataArray has no 'model_id' attribute; .berg works on results of BERG.encode "
                "(or read back from their Zarr store)"
            )
        return str(mid)

    def _owner_hook(self, hook_name: str, plugin_manager: Any, action: str) -> Any:
        """``hook_name`` of the plugin that owns the result's model, or an error naming what is missing."""
        model_id = self.model_id
        pm = manager_of(plugin_manager)
        if model_id not in pm.registry:
            raise (InvalidParameterError if action == "export" else PluginError)(
                f"no installed plugin can {action} {model_id} results: no plugin provides the model {model_id!r} "
                "(install its plugin, or pass plugin_manager= the BERG or plugin manager that has it)"
            )
        return pm.owner_hook(hook_name, pm.registry.get(model_id).plugin_name)

    def export(self, fmt: str, path: str | os.PathLike[str] | None = None, *, plugin_manager: Any = None, **options: Any) -> Any:
        """Convert to ``fmt`` (``"mne"``, ``"nifti"``, ``"gifti"``, ``"mgh"``...) or write it to ``path``.

        ``plugin_manager`` (a ``BERG`` or a plugin manager; default the process-wide one) says
        where the plugin that made the result is found; the other keywords are the format's options.
        """
        hook = self._owner_hook("berg_export_result", plugin_manager, "export")
        out = hook(result=self._obj, fmt=fmt, path=None if path is None else os.fspath(path), options=options)
        if out is None:
            raise InvalidParameterError(f"the plugin of {self.model_id} cannot export its results as {fmt!r}")
        return out

    def to_mne(self, *, plugin_manager: Any = None, **options: Any) -> Any:
        """An ``mne.EpochsArray`` (``kind="epochs"``) or ``mne.EvokedArray`` (``kind="evoked"``)."""
        return self.export("mne", None, plugin_manager=plugin_manager, **options)

    def to_nifti(self, path: str | os.PathLike[str], *, plugin_manager: Any = None, **options: Any) -> Any:
        """Write a NIfTI image (volume models), stimuli on the 4th axis."""
        return self.export("nifti", path, plugin_manager=plugin_manager, **options)

    def to_gifti(self, folder: str | os.PathLike[str], *, plugin_manager: Any = None, **options: Any) -> Any:
        """Write one GIFTI file per hemisphere (surface models)."""
        return self.export("gifti", folder, plugin_manager=plugin_manager, **options)

    def to_mgh(self, folder: str | os.PathLike[str], *, plugin_manager: Any = None, **options: Any) -> Any:
        """Write one MGH file per hemisphere (surface models)."""
        return self.export("mgh", folder, plugin_manager=plugin_manager, **options)

    def plot(self, path: str | os.PathLike[str] | None = None, *, plugin_manager: Any = None, **options: Any) -> Any:
        """Draw the result as its model's plugin does; returns the matplotlib figure.

        ``plugin_manager``: as for :meth:`export`; the other keywords are plot options.
        """
        hook = self._owner_hook("berg_plot_result", plugin_manager, "plot")
        fig = hook(result=self._obj, path=None if path is None else os.fspath(path), options=options)
        if fig is None:
            raise PluginError(f"the plugin of {self.model_id} gave no picture of its result")
        return fig

    def reliability(self) -> xr.DataArray:
        """The per-unit reliability coordinate (ncsnr where available)."""
        for name in RELIABILITY_COORDS:
            if name in self._obj.coords:
                return self._obj.coords[name]
        raise InvalidParameterError(
            f"this result has no reliability coordinate (expected one of {list(RELIABILITY_COORDS)}); "
            f"its coordinates are {sorted(map(str, self._obj.coords))}"
        )

    def reliable(self, threshold: float) -> xr.DataArray:
        """Only the units whose reliability (ncsnr where available) is at least ``threshold``."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise InvalidParameterError(f"threshold must be a number, got {type(threshold).__name__}")
        rel = self.reliability()
        if rel.ndim != 1:
            raise InvalidParameterError(f"reliability coordinate {rel.name!r} must be 1-D, has dims {rel.dims}")
        keep = (rel >= threshold).values
        return self._obj.isel({rel.dims[0]: keep})

