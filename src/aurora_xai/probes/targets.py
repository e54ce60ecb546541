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

Planted quantities (only for a synthetic store that records planted dynamics,
:mod:`aurora_xai.data.dynamics`; the anomaly ``a`` of a driven field is the input minus
the analytic background :func:`aurora_xai.truth.background_state` at the sample's time):

==========================  ======================================================  =======
quantity                    what                                                    units
==========================  ======================================================  =======
``planted_tanh_t850``       area-weighted mean of ``beta * tanh(a_T850 / t_scale)``  m s-1
                            (F's non-linear term: the 6 h increment of 10 m v)
``planted_tanh_t850_``      area-weighted mean of                                   m s-1
``nonlinear``               ``beta * (tanh(a_T850 / t_scale) - a_T850 / t_scale)``
                            (the term minus its linearisation at zero anomaly)
``planted_z500_upstream``   area-weighted mean of ``a_Z500`` read ``upstream_deg``   m2 s-2
                            west of each cell (what F's cross-level term reads:
                            msl gains ``kappa`` times it per 6 h)
==========================  ======================================================  =======

The region means of the inputs (the calibration quantities and the raw-input control
features) are linear in the inputs; the planted non-linear term is not (``tanh`` of an
anomaly per cell, then the mean), and the coupling reads cells west of the region and
subtracts a background that the region means do not contain.

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
from ..data.dynamics import DEFAULT_DYNAMICS, PlantedDynamics, upstream_cells
from ..data.synthetic import SyntheticSpec
from ..grid import region_cell_weights
from ..regions import Region

__all__ = [
    "CALIBRATION",
    "G0",
    "PLANTED",
    "QUANTITIES",
    "PlantedContext",
    "Quantity",
    "check_planted",
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
        Quantity(
            "planted_tanh_t850",
            "m s-1",
            "tendency_of_eastward_wind",
            "area-weighted mean of beta tanh(T850 anomaly / t_scale), the planted non-linear 6 h increment of 10 m v",
        ),
        Quantity(
            "planted_tanh_t850_nonlinear",
            "m s-1",
            "tendency_of_eastward_wind",
            "area-weighted mean of beta (tanh(T850 anomaly / t_scale) - T850 anomaly / t_scale), the planted "
            "non-linear term minus its linearisation at zero anomaly",
        ),
        Quantity(
            "planted_z500_upstream",
            "m2 s-2",
            "geopotential",
            "area-weighted mean of the 500 hPa geopotential anomaly upstream_deg upstream of each cell, "
            "what the planted msl coupling reads (msl gains kappa times it per 6 h)",
        ),
    )
}

#: Quantities of F's planted dynamics (need a store that records them, :class:`PlantedContext`).
PLANTED: frozenset[str] = frozenset({"planted_tanh_t850", "planted_tanh_t850_nonlinear", "planted_z500_upstream"})
#: Region means of single input fields: equal to a raw-input feature (calibration rows).
CALIBRATION: frozenset[str] = frozenset({"t850", "z500", "msl", "t2m"})


@dataclasses.dataclass(frozen=True)
class PlantedContext:
    """What the planted quantities need: the synthetic store's spec and its dynamics.

    Attributes:
        spec: The store's :class:`~aurora_xai.data.synthetic.SyntheticSpec` (its grid and
            the analytic background).
        dynamics: The coefficients of F (the store's: :data:`DEFAULT_DYNAMICS`).
    """

    spec: SyntheticSpec
    dynamics: PlantedDynamics = DEFAULT_DYNAMICS

    def background(self, times: Sequence[pd.Timestamp], lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The background of the driven fields ``(len(times), 4, H, W)`` on the grid ``(lat, lon)``.

        Raises:
            ValueError: if a latitude or longitude of the grid is not one of the spec's
                (within 1e-6 degrees).
        """
        from ..truth import background_state

        b = background_state(self.spec, list(times))
        rows = _match(np.asarray(lat, np.float64), np.asarray(self.spec.latitudes, np.float64), "latitude")
        cols = _match(
            np.asarray(lon, np.float64) % 360.0, np.asarray(self.spec.longitudes, np.float64) % 360.0, "longitude"
        )
        return b[:, :, rows][:, :, :, cols]


def _match(values: np.ndarray, grid: np.ndarray, what: str) -> np.ndarray:
    """Indices into ``grid`` of ``values`` (each within 1e-6 of a grid value)."""
    idx = np.abs(values[:, None] - grid[None, :]).argmin(axis=1)
    off = np.abs(grid[idx] - values)
    if np.any(off > 1e-6):
        raise ValueError(
            f"probes.quantities: the input grid's {what} {values[np.argmax(off)]} is not on the synthetic "
            "spec's grid (the planted quantities need the store the spec wrote)"
        )
    return idx


def _times(batch: Any, history: int) -> list[pd.Timestamp]:
    """Naive UTC times ``(B,)`` of a batch's history step ``history`` (-1: the current time)."""
    step = pd.Timedelta(hours=6)
    meta = batch.metadata
    n_hist = next(iter(batch.surf_vars.values())).shape[1]
    k = history % n_hist
    back = n_hist - 1 - k
    out = []
    for t in meta.time:
        ts = pd.Timestamp(t)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        out.append(ts - back * step)
    return out


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


def input_targets(
    batch: Any,
    region: Region,
    quantities: Sequence[str],
    history: int = -1,
    planted: PlantedContext | None = None,
) -> dict[str, np.ndarray]:
    """The probe targets of every sample of a batch, at one history step.

    Args:
        batch: ``aurora.Batch`` (the model's inputs; surface ``(B, T, H, W)``,
            atmospheric ``(B, T, C, H, W)``), ERA5 units (K, m2 s-2, Pa, m s-1).
        region: Region the quantities are computed over.
        quantities: Names from :data:`QUANTITIES`.
        history: History step (default ``-1``: the current time, the sample's date).
        planted: The store's planted dynamics (:data:`PLANTED` quantities only); history
            steps are 6 h apart.

    Returns:
        Quantity -> ``(B,)`` float64 values in the units of :data:`QUANTITIES`.

    Raises:
        KeyError: for an unknown quantity, or a variable or level the batch lacks
            (naming it).
        ValueError: if the region holds no grid cell, or (naming ``probes.quantities``)
            a planted quantity is asked for without ``planted``.
    """
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise KeyError(f"probes.quantities: unknown quantities {unknown}; choose from {list(QUANTITIES)}")
    check_planted(quantities, planted is not None)
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
        elif q in PLANTED:
            assert planted is not None
            b = planted.background(_times(batch, history), lat, lon)  # (B, 4, H, W)
            dyn = planted.dynamics
            if q in ("planted_tanh_t850", "planted_tanh_t850_nonlinear"):
                a = (_np(select_field(batch, "t", 850, history)) - b[:, 2]) / dyn.t_scale
                term = np.tanh(a) - a if q.endswith("_nonlinear") else np.tanh(a)
                out[q] = np.einsum("bhw,hw->b", dyn.beta * term, w)
            else:
                a = _np(select_field(batch, "z", 500, history)) - b[:, 0]
                order = np.argsort(np.mod(lon, 360.0))
                shifted = np.empty_like(a)
                shifted[..., order] = np.roll(a[..., order], upstream_cells(dyn, planted.spec.resolution), axis=-1)
                out[q] = np.einsum("bhw,hw->b", shifted, w)
    return out


def check_planted(quantities: Sequence[str], available: bool) -> None:
    """Raise unless the planted quantities among ``quantities`` can be computed.

    Raises:
        ValueError: naming ``probes.quantities`` and the planted quantities when the store
            records no planted dynamics (``available`` False).
    """
    asked = [q for q in quantities if q in PLANTED]
    if asked and not available:
        raise ValueError(
            f"probes.quantities: {asked} are terms of the synthetic store's planted dynamics; they exist only "
            "with data.source synthetic and a store that records them (its planted_dynamics attribute). "
            "Remove them from probes.quantities for this store"
        )


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
    planted: PlantedContext | None = None,
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
        planted: The store's planted dynamics (for :data:`PLANTED` quantities).

    Returns:
        ``(targets, inputs)``: ``targets`` holds ``target`` ``(date, quantity)`` with
        coordinates ``units``, ``standard_name`` and ``description`` per quantity and the
        attribute ``region``; ``inputs`` holds ``pooled_input`` ``(date, feature)`` with
        coordinates ``variable``, ``level`` and ``step`` per feature. Dates naive UTC.

    Raises:
        ValueError: if no date is left, or a target is not finite (naming the date and
            the quantity).
    """
    check_planted(quantities, planted is not None)
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
            for q, v in input_targets(batch, region, quantities, planted=planted).items():
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
