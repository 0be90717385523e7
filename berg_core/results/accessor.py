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
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
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

    def unit_reliability(self, dim: str | None = None, how: str = "mean") -> xr.DataArray:
        """One reliability value per unit along ``dim``: the reliability coordinate summarised over its other dims.

        Parameters
        ----------
        dim
            The dimension whose units are judged (``"sensor"``, ``"electrode"``, ``"voxel"``...). Default: the
            reliability coordinate's first dimension (its only one for 1-D reliability).
        how
            How the values along the coordinate's other dimensions (e.g. the ``time`` of MEG and TVSD ncsnr)
            are summarised: ``"mean"`` (default), ``"median"``, ``"min"`` (reliable at every time point) or
            ``"max"`` (reliable at some time point). NaN values are skipped; a unit with no finite value gets
            NaN, which never reaches a threshold. Ignored for 1-D reliability, which is returned as it is.

        Returns
        -------
        xarray.DataArray
            1-D along ``dim``, named after the reliability coordinate.

        Raises
        ------
        InvalidParameterError
            No reliability coordinate, ``dim`` is not one of its dimensions, or ``how`` is unknown.
        """
        rel = self.reliability()
        unit = _unit_dim(rel, dim)
        if how not in SUMMARIES:
            raise InvalidParameterError(f"how must be one of {list(SUMMARIES)}, got {how!r}")
        others = [d for d in rel.dims if d != unit]
        if not others:
            return rel
        values = np.asarray(rel.transpose(unit, *others).values, dtype=np.float64).reshape(rel.sizes[unit], -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN units give NaN, which is the intent
            summary = SUMMARIES[how](values, axis=1) if values.shape[1] else np.full(values.shape[0], np.nan)
        return xr.DataArray(summary, dims=(unit,), coords={unit: rel[unit]} if unit in rel.coords else None,
                            name=rel.name, attrs={**rel.attrs, "summary": f"{how} over {others}"})

    def reliable(self, threshold: float, *, dim: str | None = None, how: str = "mean", mask: bool = False) -> xr.DataArray:
        """Only the units whose reliability (ncsnr where available) is at least ``threshold``.

        The rule: with a 1-D reliability coordinate (one value per voxel or vertex), the units along its
        dimension whose value reaches ``threshold`` are kept. With a multi-dimensional one (MEG ncsnr per
        sensor x time, TVSD per electrode x time) a unit along ``dim`` (default: the coordinate's first
        dimension, so sensors or electrodes) is kept when its reliability summarised over the coordinate's
        other dimensions by ``how`` (default the mean; see :meth:`unit_reliability`) reaches ``threshold``.
        The other dimensions are kept whole. NaN reliability never reaches a threshold.

        Parameters
        ----------
        threshold
            Lowest reliability kept.
        dim, how
            Which units are judged and how a multi-dimensional reliability is summarised per unit.
        mask
            ``False`` (default): drop the units below the threshold. ``True``: keep the result's shape and set
            to NaN every value whose own reliability (not summarised: per sensor *and* time for MEG) is below
            ``threshold`` (``result.where(reliability >= threshold)``); ``dim`` and ``how`` do not apply.

        Raises
        ------
        InvalidParameterError
            ``threshold`` is not a number, the result has no reliability coordinate, or ``dim``/``how`` are wrong.
        """
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
            raise InvalidParameterError(f"threshold must be a number, got {type(threshold).__name__}")
        if not isinstance(mask, bool):
            raise InvalidParameterError(f"mask must be True or False, got {mask!r}")
        if mask:
            if dim is not None or how != "mean":
                raise InvalidParameterError(
                    "mask=True hides each value by its own reliability; dim= and how= only apply when units are dropped"
                )
            rel = self.reliability()
            return self._obj.where(rel >= threshold)
        summary = self.unit_reliability(dim, how)
        keep = (summary >= threshold).values
        return self._obj.isel({summary.dims[0]: keep})


#: How :meth:`BergAccessor.unit_reliability` summarises reliability over the dims other than the unit's.
SUMMARIES: dict[str, Callable[..., np.ndarray]] = {
    "mean": np.nanmean, "median": np.nanmedian, "min": np.nanmin, "max": np.nanmax,
}


def _unit_dim(rel: xr.DataArray, dim: str | None) -> str:
    """The dimension of ``rel`` whose units are judged (``dim``, or the coordinate's first dimension)."""
    if rel.ndim == 0:
        raise InvalidParameterError(f"reliability coordinate {rel.name!r} is a single value, not one per unit")
    if dim is None:
        return str(rel.dims[0])
    if dim not in rel.dims:
        raise InvalidParameterError(
            f"dim must be a dimension of the reliability coordinate {rel.name!r}, which has dims {list(rel.dims)}; "
            f"got {dim!r}"
        )
    return dim
