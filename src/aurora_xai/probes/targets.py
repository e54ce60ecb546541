"""Probe targets and raw-input control features, computed from the model's input batch.

For every sample (the ``aurora.Batch`` the extraction feeds the model, read by
:class:`~aurora_xai.data.era5.ERA5Source` with the same settings) the physical
quantities of its current time step over one region:

================  ===========================================  ==============  ===================================
quantity          what                                         units           CF standard name
================  ===========================================  ==============  ===================================
``t850``          area-weighted mean temperature at 850 hPa    K               air_temperature
``z500``          area-weighted mean geopotential height,      m               geopotential_height
                  500 hPa (geopotential / g0, g0 = 9.80665)
``msl``           area-weighted mean sea-level pressure        Pa              air_pressure_at_mean_sea_level
``t2m``           area-weighted mean 2 m temperature           K               air_temperature
``wind10_max``    maximum over the region's cells of the       m s-1           wind_speed
                  10 m wind speed sqrt(10u^2 + 10v^2)
``jet_lat_u250``  latitude of the maximum of the 250 hPa       degrees_north   latitude
                  zonal wind averaged over the region's
                  longitudes (refined by a parabola through
                  the maximum row and its two neighbours)
================  ===========================================  ==============  ===================================

Area weights are the exact cell areas of :func:`aurora_xai.grid.lat_weights` (the
project's only copy) restricted to the region's cells. The raw-input control features
(:func:`input_region_means`) are the same area-weighted region means of every input
variable at every level and both history steps. Torch-free at import: batches are only
indexed (:func:`~aurora_xai.data.batch.select_field`) and copied to numpy.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.batch import select_field
from ..grid import region_cell_weights
from ..regions import Region

__all__ = [
    "G0",
    "QUANTITIES",
    "Quantity",
    "input_region_means",
    "input_targets",
    "jet_latitude",
    "probe_inputs",
    "region_weights",
]

log = logging.getLogger(__name__)

#: Standard gravity (m s-2), WMO: geopotential height = geopotential / G0.
G0 = 9.80665


@dataclasses.dataclass(frozen=True)
class Quantity:
    """A probe target: its units, CF standard name and description."""

    name: str
    units: str
    standard_name: str
    description: str


#: The probe targets, by name (``probes.quantities``).
QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity("t850", "K", "air_temperature", "area-weighted mean temperature at 850 hPa"),
        Quantity("z500", "m", "geopotential_height", "area-weighted mean geopotential height at 500 hPa"),
        Quantity("msl", "Pa", "air_pressure_at_mean_sea_level", "area-weighted mean sea-level pressure"),
        Quantity("t2m", "K", "air_temperature", "area-weighted mean 2 m temperature"),
        Quantity("wind10_max", "m s-1", "wind_speed", "maximum 10 m wind speed over the region's cells"),
        Quantity(
            "jet_lat_u250",
            "degrees_north",
            "latitude",
            "latitude of the maximum of the 250 hPa zonal wind averaged over the region's longitudes",
        ),
    )
}


def region_weights(lat: np.ndarray, lon: np.ndarray, region: Region) -> np.ndarray:
    """Area weights ``(H, W)`` of the grid cells inside ``region``, summing to 1.

    Raises:
        ValueError: if no grid cell centre lies in the region.
    """
    return region_cell_weights(region, lat, lon, grid="input grid")


def _np(x: Any) -> np.ndarray:
    """A tensor (or array) as a float64 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").double().numpy()
    return np.asarray(x, dtype=np.float64)


def jet_latitude(u: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Latitude ``(B,)`` of the maximum of zonal-mean wind profiles ``u`` ``(B, H)`` on ``lat`` ``(H,)``.

    The row of the maximum, refined by the vertex of the parabola through it and its two
    neighbours (kept within half a row spacing of the row; rows at either end of the
    profile keep their own latitude). Degrees north.

    Raises:
        ValueError: for shapes that do not match or profiles with non-finite values.
    """
    u = np.asarray(u, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != len(lat):
        raise ValueError(f"u must be (batch, {len(lat)}) to match the latitudes, got {u.shape}")
    if not np.all(np.isfinite(u)):
        raise ValueError("the 250 hPa zonal-wind profile holds non-finite values")
    i = np.argmax(u, axis=1)
    out = lat[i].copy()
    inner = (i > 0) & (i < len(lat) - 1)
    for b in np.flatnonzero(inner):
        k = i[b]
        y0, y1, y2 = u[b, k - 1], u[b, k], u[b, k + 1]
        denom = y0 - 2.0 * y1 + y2
        if denom < 0:  # a true maximum: the vertex lies within one row of k
            shift = float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5))
            step = 0.5 * (lat[k + 1] - lat[k - 1])
            out[b] = lat[k] + shift * step
    return out


def input_targets(batch: Any, region: Region, quantities: Sequence[str], history: int = -1) -> dict[str, np.ndarray]:
    """The probe targets of every sample of a batch, at one history step.

    Args:
        batch: ``aurora.Batch`` (the model's inputs; surface ``(B, T, H, W)``,
            atmospheric ``(B, T, C, H, W)``), ERA5 units (K, m2 s-2, Pa, m s-1).
        region: Region the quantities are computed over.
        quantities: Names from :data:`QUANTITIES`.
        history: History step (default ``-1``: the current time, the sample's date).

    Returns:
        Quantity -> ``(B,)`` float64 values in the units of :data:`QUANTITIES`.

    Raises:
        KeyError: for an unknown quantity, or a variable or level the batch lacks
            (naming it).
        ValueError: if the region holds no grid cell.
    """
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise KeyError(f"probes.quantities: unknown quantities {unknown}; choose from {list(QUANTITIES)}")
    lat = _np(batch.metadata.lat)
    lon = _np(batch.metadata.lon)
    w = region_weights(lat, lon, region)
    mask = region.mask(lat, lon)

    def mean(field: Any) -> np.ndarray:
        return np.einsum("bhw,hw->b", _np(field), w)

    out: dict[str, np.ndarray] = {}
    for q in quantities:
        if q == "t850":
            out[q] = mean(select_field(batch, "t", 850, history))
        elif q == "z500":
            out[q] = mean(select_field(batch, "z", 500, history)) / G0
        elif q == "msl":
            out[q] = mean(select_field(batch, "msl", None, history))
        elif q == "t2m":
            out[q] = mean(select_field(batch, "2t", None, history))
        elif q == "wind10_max":
            speed = np.hypot(
                _np(select_field(batch, "10u", None, history)), _np(select_field(batch, "10v", None, history))
            )
            out[q] = speed[:, mask].max(axis=1)
        elif q == "jet_lat_u250":
            u = _np(select_field(batch, "u", 250, history))
            rows = mask.any(axis=1)
            cols = region.lon_mask(lon)
            profile = u[:, rows][:, :, cols].mean(axis=2)
            out[q] = jet_latitude(profile, lat[rows])
    return out


def input_region_means(batch: Any, region: Region) -> tuple[np.ndarray, pd.DataFrame]:
    """Area-weighted region means ``(B, F)`` of every input variable, level and history step.

    Features are ordered surface variables (sorted), then atmospheric variables (sorted)
    by level (the batch's order), each at every history step (oldest first).

    Returns:
        ``(X, meta)``: ``X`` float64 ``(B, F)`` in the store's units; ``meta`` a table of
        ``F`` rows with ``feature`` (``"<var>"`` or ``"<var>@<level>hPa"`` then
        ``"@t<hours>h"``), ``variable``, ``level`` (hPa, NaN for surface variables) and
        ``step`` (history index, 0 oldest).
    """
    lat = _np(batch.metadata.lat)
    lon = _np(batch.metadata.lon)
    w = region_weights(lat, lon, region)
    cols: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for var in sorted(batch.surf_vars):
        x = _np(batch.surf_vars[var])  # (B, T, H, W)
        for t in range(x.shape[1]):
            cols.append(np.einsum("bhw,hw->b", x[:, t], w))
            rows.append({"feature": f"{var}@step{t}", "variable": var, "level": np.nan, "step": t})
    levels = [float(v) for v in batch.metadata.atmos_levels]
    for var in sorted(batch.atmos_vars):
        x = _np(batch.atmos_vars[var])  # (B, T, C, H, W)
        for c, lev in enumerate(levels):
            for t in range(x.shape[1]):
                cols.append(np.einsum("bhw,hw->b", x[:, t, c], w))
                rows.append({"feature": f"{var}@{lev:g}hPa@step{t}", "variable": var, "level": lev, "step": t})
    return np.stack(cols, axis=1), pd.DataFrame(rows)


def probe_inputs(
    source: Any,
    times: Sequence[pd.Timestamp],
    region: Region,
    quantities: Sequence[str],
    chunk: int = 8,
    skip_missing: bool = False,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Probe targets and raw-input control features of every date, read from the store.

    Args:
        source: Opened :class:`~aurora_xai.data.era5.ERA5Source` (the extraction's
            settings: variables, levels, history step).
        times: Current times of the samples (the date table).
        region: Region of the targets and features.
        quantities: Names from :data:`QUANTITIES`.
        chunk: Samples read per store read (memory: ``chunk`` samples at once).
        skip_missing: Leave out dates missing from the store or stored as NaN (as the
            extraction does with ``data.on_missing: skip``); recorded in the attribute
            ``skipped_dates``.

    Returns:
        ``(targets, inputs)``: ``targets`` holds ``target`` ``(date, quantity)`` with
        coordinates ``units``, ``standard_name`` and ``description`` per quantity and the
        attribute ``region``; ``inputs`` holds ``pooled_input`` ``(date, feature)`` with
        coordinates ``variable``, ``level`` and ``step`` per feature. Dates naive UTC.

    Raises:
        ValueError: if no date is left, or a target is not finite (naming the date and
            the quantity).
    """
    times = [pd.Timestamp(t) for t in times]
    skipped: list[pd.Timestamp] = []
    if skip_missing:
        skipped = [t for t in times if not source.has_time(t)]
        times = [t for t in times if source.has_time(t)]
    done: list[pd.Timestamp] = []
    tvals: dict[str, list[np.ndarray]] = {q: [] for q in quantities}
    xvals: list[np.ndarray] = []
    meta = None
    for i in range(0, len(times), chunk):
        part = times[i : i + chunk]
        for t, batch in zip(part, source.batches(part, skip_empty=skip_missing)):
            if batch is None:
                skipped.append(t)
                continue
            for q, v in input_targets(batch, region, quantities).items():
                tvals[q].append(v)
            x, meta = input_region_means(batch, region)
            xvals.append(x)
            done.append(t)
        log.info("[%d/%d] probe targets read", min(i + chunk, len(times)), len(times))
    if not done:
        raise ValueError("no dates to compute probe targets for (all skipped or none given)")
    dates = pd.DatetimeIndex(done)
    if dates.tz is not None:
        dates = dates.tz_convert("UTC").tz_localize(None)
    y = np.stack([np.concatenate(tvals[q]) for q in quantities], axis=1)
    bad = ~np.isfinite(y)
    if bad.any():
        d, q = np.argwhere(bad)[0]
        raise ValueError(f"probe target {quantities[q]} is not finite on {dates[d]:%Y-%m-%dT%H:%M}")
    qs = [QUANTITIES[q] for q in quantities]
    skipped_txt = ",".join(f"{t:%Y-%m-%dT%H:%M}" for t in sorted(skipped))
    targets = xr.Dataset(
        {"target": (("date", "quantity"), y)},
        coords={
            "date": dates,
            "quantity": list(quantities),
            "units": ("quantity", [q.units for q in qs]),
            "standard_name": ("quantity", [q.standard_name for q in qs]),
            "description": ("quantity", [q.description for q in qs]),
        },
        attrs={
            "region": region.name,
            "skipped_dates": skipped_txt,
            "source": "the model's input batch, current time step",
        },
    )
    assert meta is not None
    inputs = xr.Dataset(
        {"pooled_input": (("date", "feature"), np.concatenate(xvals))},
        coords={
            "date": dates,
            "feature": meta["feature"].tolist(),
            "variable": ("feature", meta["variable"].tolist()),
            "level": ("feature", meta["level"].to_numpy(dtype=np.float64)),
            "step": ("feature", meta["step"].to_numpy(dtype=np.int64)),
        },
        attrs={
            "region": region.name,
            "skipped_dates": skipped_txt,
            "description": "area-weighted region means of every input variable, level and history step "
            "(step 0 the oldest), store units",
        },
    )
    return targets, inputs
