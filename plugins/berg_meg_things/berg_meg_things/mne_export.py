"""Turning an encoded MEG result into MNE objects, and sensor positions for topographies.

Channels: the result's ``sensor_name`` values (THINGS-MEG's CTF names, e.g.
``MLT23-1609``), typed ``"mag"`` (CTF's axial gradiometers; MNE types them as
magnetometer-like channels). Scaling: the predicted responses are handed to
MNE **unscaled**; their physical units are not stated upstream, while MNE
treats ``mag`` values as tesla. Pass ``scalings=dict(mag=1), units=dict(mag="a.u.")``
to ``plot``/``plot_joint`` and ``scalings=1, units="a.u."`` to ``plot_topomap``.

Positions: the result holds no digitisation or sensor geometry, so the MNE
objects carry no 3-D sensor locations. For topographies this plugin uses MNE's
shipped 2-D ``CTF-275`` layout, matching sensors by the part of the name before
``-`` (``MLT23``); :func:`meg_layout` gives it for any result, e.g.
``evoked.plot_topo(layout=meg_layout(result))`` or ``mne.viz.plot_topomap(values,
topomap_positions(names))``. A sensor the layout lacks is refused with its name.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr

from berg_core.plugin import InvalidParameterError, check_result, even_sampling_frequency, to_mne_arrays

from .layout import MODEL_ID, SFREQ

__all__ = ["DIMS", "DIMS_SPLITS", "LAYOUT", "check_meg_result", "meg_layout", "to_mne", "topomap_positions"]

DIMS = ("stimulus", "sensor", "time")
DIMS_SPLITS = ("stimulus", "split", "sensor", "time")
LAYOUT = "CTF-275"
#: Radius (m) the layout is scaled to, inside MNE's default head sphere (0.095 m).
_HEAD_RADIUS = 0.085


def check_meg_result(result: Any) -> xr.DataArray:
    """The result, once it has the dims of ``train_splits="all"`` or ``"single"`` and its sensor names."""
    dims = DIMS_SPLITS if isinstance(result, xr.DataArray) and "split" in result.dims else DIMS
    return check_result(result, dims, MODEL_ID, coords=("sensor_name", "time"))


def _stem(name: str) -> str:
    return name.split("-", 1)[0]


def _layout_index(names: list[str]) -> tuple[Any, list[int]]:
    import mne

    layout = mne.channels.read_layout(LAYOUT)
    where = {_stem(n): i for i, n in enumerate(layout.names)}
    unknown = [n for n in names if _stem(n) not in where]
    if unknown:
        raise InvalidParameterError(
            f"sensors {unknown[:10]} have no position in MNE's {LAYOUT} layout (matched by the name before '-'); "
            "topographies need CTF-275 sensor names"
        )
    return layout, [where[_stem(n)] for n in names]


def meg_layout(result_or_names: xr.DataArray | list[str]) -> Any:
    """MNE's ``CTF-275`` layout restricted to the result's sensors, named and ordered as they are."""
    names = _names(result_or_names)
    layout, idx = _layout_index(names)
    out = layout.copy()
    out.pos, out.names, out.ids = layout.pos[idx].copy(), list(names), np.arange(1, len(names) + 1)
    out.kind = f"{LAYOUT} ({len(names)} sensors)"
    return out


def topomap_positions(result_or_names: xr.DataArray | list[str]) -> np.ndarray:
    """``(n_sensors, 2)`` positions for ``mne.viz.plot_topomap``: the layout centred in MNE's default head circle.

    The scaling is fixed (the whole CTF-275 array fills the head outline), so topographies of
    different selections share one geometry.
    """
    names = _names(result_or_names)
    layout, idx = _layout_index(names)
    centres = layout.pos[:, :2] + layout.pos[:, 2:] / 2
    middle = (centres.max(axis=0) + centres.min(axis=0)) / 2
    scale = _HEAD_RADIUS / float(np.abs(centres - middle).max())
    return (centres[idx] - middle) * scale  # type: ignore[no-any-return]


def _names(result_or_names: xr.DataArray | list[str]) -> list[str]:
    if isinstance(result_or_names, xr.DataArray):
        return [str(n) for n in check_meg_result(result_or_names)["sensor_name"].values]
    return [str(n) for n in result_or_names]


def _info(names: list[str], sfreq: float) -> Any:
    import mne

    return mne.create_info(names, sfreq, ch_types="mag", verbose=False)


def to_mne(
    result: xr.DataArray,
    kind: Literal["epochs", "evoked"] = "epochs",
    average_splits: bool = True,
) -> Any:
    """An encode result as ``mne.EpochsArray`` or ``mne.EvokedArray`` (values unscaled, see module notes).

    Parameters
    ----------
    result
        ``(stimulus, sensor, time)`` or, for ``train_splits="single"``, ``(stimulus, split, sensor, time)``
        DataArray from ``BERG.encode``; times must be evenly spaced.
    kind
        ``"epochs"``: one epoch per stimulus (per stimulus and split when ``average_splits=False``),
        with ``epochs.metadata`` naming the stimulus (and split). ``"evoked"``: the mean over stimuli.
    average_splits
        For split results: average the 4 split models first. For ``"evoked"`` with ``False``, a
        list of one ``EvokedArray`` per split is returned. Ignored for ``train_splits="all"`` results.

    Returns
    -------
    mne.EpochsArray, mne.EvokedArray or list of mne.EvokedArray
    """
    da = check_meg_result(result)
    if not isinstance(average_splits, (bool, np.bool_)):
        raise InvalidParameterError(f"average_splits must be True or False, got {average_splits!r}")
    times = np.asarray(da["time"].values, dtype=np.float64)
    info = _info([str(c) for c in da["sensor_name"].values], even_sampling_frequency(times, SFREQ, "timepoints=slice(0.0, 0.5)"))
    data = np.asarray(da.values, dtype=np.float64)
    splits = da["split"].values.tolist() if "split" in da.dims else None
    if splits is None:
        data = data[:, None]  # one "split": the all-splits model
    return to_mne_arrays(data, info, float(times[0]), da["stimulus"].values, splits, kind, bool(average_splits),
                         "in silico MEG", group="split", group_label="training split")
