"""Coordinate standardisation: the forms ERA5 files come in, renamed to ``time``, ``level``
(hPa), ``latitude``, ``longitude``; time axes stored with too little precision.

Coordinates are recognised in the forms ERA5 files come in:

* time: ``time`` or ``valid_time``; files converted from GRIB carry both (``time`` is the
  reference time, ``valid_time`` the time the field is valid at, which is used) and a
  ``step`` of one value; a single time may be a scalar coordinate;
* pressure: ``level``, ``pressure_level`` (new CDS), ``isobaricInhPa`` (converted from
  GRIB), ``plev``, ``pressure`` or ``air_pressure``, in hPa or Pa (the ``units``
  attribute decides; without one, values above 1100 are Pa), converted to hPa; a file for
  one level may have it as a scalar coordinate, without a level dimension;
* ``number``, ``expver``, ``step`` and other scalar or one-valued axes (``surface``,
  ``heightAboveGround``) are dropped; an ensemble (``number`` with several members),

Single-level ``z`` and pressure-level ``z`` are told apart by whether the variable has
a pressure axis (a dimension or a scalar coordinate).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .grid_conventions import canonicalise_grid
from .variables import WB2_NAMES

log = logging.getLogger(__name__)

__all__ = [
    "CANONICAL_DIMS",
    "CDS_LEVEL_NAMES",
    "CDS_SURFACE_NAMES",
    "GRIB_PRESSURE_TYPES",
    "cds_dataset",
    "time_encoding",
    "IMPRECISE_TIMES",
    "LEVEL_AXES",
    "MAX_SNAP",
    "fmt_stamp",
    "fmt_time",
    "plain_number",
    "snap_times",
    "standardise_coords",
]

#: Names of a pressure axis, renamed to ``level`` (in hPa).
LEVEL_AXES: tuple[str, ...] = ("level", "pressure_level", "isobaricInhPa", "plev", "pressure", "air_pressure")

#: CDS single-level NetCDF names -> WeatherBench 2 names (``z`` here is the surface geopotential).
CDS_SURFACE_NAMES: dict[str, str] = {
    "t2m": "2m_temperature",
    "u10": "10m_u_component_of_wind",
    "v10": "10m_v_component_of_wind",
    "msl": "mean_sea_level_pressure",
    "z": "geopotential_at_surface",
    "lsm": "land_sea_mask",
    "slt": "soil_type",
}
#: CDS pressure-level NetCDF names -> WeatherBench 2 names.
CDS_LEVEL_NAMES: dict[str, str] = {
    "z": "geopotential",
    "u": "u_component_of_wind",
    "v": "v_component_of_wind",
    "t": "temperature",
    "q": "specific_humidity",
}
#: GRIB level types of pressure-level fields (cfgrib writes them as ``GRIB_typeOfLevel``).
GRIB_PRESSURE_TYPES = {"isobaricInhPa", "isobaricInPa"}
_STATIC_NAMES = set(WB2_NAMES["static"].values())
_GRID_RENAMES = {"lat": "latitude", "lon": "longitude"}
CANONICAL_DIMS = ("time", "level", "latitude", "longitude")
_HPA_UNITS = {"hpa", "millibar", "millibars", "mbar", "mb", "hectopascal", "hectopascals"}
_PA_UNITS = {"pa", "pascal", "pascals"}


def fmt_time(t) -> str:
    return f"{pd.Timestamp(t):%Y-%m-%d %H:%M}"


def fmt_stamp(t) -> str:
    """A time to the second (or finer when it has a fraction), for stored times that are not round."""
    t = pd.Timestamp(t)
    return f"{t:%Y-%m-%d %H:%M:%S}" + (f".{t.microsecond:06d}" if t.microsecond else "")


def plain_number(value) -> object:
    """A numpy scalar as a plain Python number for messages (``0.0`` rather than ``np.float32(0.0)``)."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------------------
# Time axes stored with too little precision
# --------------------------------------------------------------------------------------

#: How ``data.imprecise_times`` treats a time axis that cannot hold its times exactly.
IMPRECISE_TIMES: tuple[str, ...] = ("snap", "error")
#: The furthest a stored time is moved to the round time it stands for.
MAX_SNAP = pd.Timedelta(minutes=10)
#: Round steps tried, coarsest first, when looking for the time a stored value stands for.
_ROUND_STEPS = ("1D", "6h", "3h", "1h", "30min", "15min", "10min", "5min", "1min", "1s")
_TIME_UNITS = {
    "days": 86400.0,
    "day": 86400.0,
    "d": 86400.0,
    "hours": 3600.0,
    "hour": 3600.0,
    "h": 3600.0,
    "minutes": 60.0,
    "minute": 60.0,
    "min": 60.0,
    "seconds": 1.0,
    "second": 1.0,
    "s": 1.0,
    "milliseconds": 1e-3,
    "millisecond": 1e-3,
    "ms": 1e-3,
}


def time_encoding(coord: xr.DataArray) -> tuple[np.dtype, str, float, pd.Timestamp] | None:
    """``(dtype, units, seconds per unit, reference)`` of a time axis stored as floating point, else None."""
    enc = coord.encoding
    dtype, units = enc.get("dtype"), enc.get("units")
    if dtype is None or units is None or np.dtype(dtype).kind != "f":
        return None
    unit, _, ref = str(units).partition(" since ")
    scale = _TIME_UNITS.get(unit.strip().lower())
    if scale is None or not ref:
        return None
    try:
        ref_t = pd.Timestamp(ref.strip())
    except ValueError:
        return None
    if ref_t.tzinfo is not None:
        ref_t = ref_t.tz_convert("UTC").tz_localize(None)
    return np.dtype(dtype), str(units), scale, ref_t


def snap_times(times: pd.DatetimeIndex, coord: xr.DataArray, label: str, mode: str = "snap") -> pd.DatetimeIndex:
    """Stored times as the round times they stand for, where the axis's precision cannot hold them.

    A time axis stored as floating point (``float32`` seconds since 1970 keeps 24 bits: a
    step of 128 s at today's dates, so 06:00 reads as 06:00:32) is decoded to times off the
    round ones. Each stored time off its round value is replaced by the coarsest round
    time (a day, 6 h, ... 1 min, 1 s) that the axis's dtype and units encode to the very
    same stored value, if that is within :data:`MAX_SNAP`; other times are kept as they
    are. Axes stored as integers or datetimes are exact and returned unchanged.

    Args:
        times: The decoded times of ``coord``.
        coord: The time coordinate (its ``encoding`` holds the stored dtype and units).
        label: The file or store, for messages.
        mode: ``"snap"`` (a warning naming the first stored time, the dtype and units) or
            ``"error"``.

    Raises:
        ValueError: ``mode="error"`` and a time was off its round value; the message names
            the stored time, the round time it stands for, the axis's dtype and units.
    """
    if mode not in IMPRECISE_TIMES:
        raise ValueError(f"data.imprecise_times: expected one of {list(IMPRECISE_TIMES)}, got {mode!r}")
    enc = time_encoding(coord)
    if enc is None or not len(times):
        return times
    dtype, units, scale, ref = enc
    values = np.asarray(times.values, dtype="datetime64[ns]")
    offsets = (values - np.datetime64(ref, "ns")).astype(np.int64) / 1e9 / scale
    stored = offsets.astype(dtype)
    out = values.copy()
    todo = np.ones(len(values), dtype=bool)
    for step in _ROUND_STEPS:
        if not todo.any():
            break
        cand = pd.DatetimeIndex(values[todo]).round(step).values.astype("datetime64[ns]")
        enc_cand = ((cand - np.datetime64(ref, "ns")).astype(np.int64) / 1e9 / scale).astype(dtype)
        same = (enc_cand == stored[todo]) & (np.abs(cand - values[todo]) <= MAX_SNAP.to_timedelta64())
        idx = np.flatnonzero(todo)[same]
        out[idx] = cand[same]
        todo[idx] = False
    moved = np.flatnonzero(out != values)
    if not moved.size:
        return times
    first = int(moved[0])
    spacing = float(np.spacing(np.abs(stored[first]).astype(dtype))) * scale
    cause = (
        f"the time axis is stored as {dtype.name} in {units!r}, which cannot hold the times exactly "
        f"(its precision at these dates is {spacing:g} s)"
    )
    more = f" ({moved.size} stored times are off their round values)" if moved.size > 1 else ""
    if mode == "error":
        raise ValueError(
            f"{label}: stored time {fmt_stamp(values[first])} stands for {fmt_time(out[first])}: {cause}{more}; "
            "no requested time matches it. Rewrite the time axis as integers or datetime64 (e.g. "
            "encoding={'time': {'dtype': 'int64', 'units': 'hours since 1900-01-01'}}), or set "
            "data.imprecise_times: snap to read each such time as the round time it stands for"
        )
    log.warning(
        "%s: stored time %s read as %s: %s%s; each is read as the round time its stored value stands for "
        "(data.imprecise_times: error refuses instead)",
        label,
        fmt_stamp(values[first]),
        fmt_time(out[first]),
        cause,
        more,
    )
    return pd.DatetimeIndex(out)


# --------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------


def _carries(da: xr.DataArray, names: Sequence[str]) -> bool:
    """Whether a variable carries a scalar coordinate known by any of ``names`` (its file's
    ``coordinates`` attribute, if it has one, says)."""
    listed = da.encoding.get("coordinates", da.attrs.get("coordinates"))
    return listed is None or any(n in str(listed).split() for n in names)


def _promote_scalar(ds: xr.Dataset, coord: str, aliases: Sequence[str] = ()) -> xr.Dataset:
    """Turn a scalar coordinate into a length-1 dimension of the gridded variables that carry it.

    ``aliases``: other names the coordinate had in the file (before renaming).
    """
    carriers = [
        str(n)
        for n, da in ds.data_vars.items()
        if {"latitude", "longitude"} <= set(da.dims) and _carries(da, (coord, *aliases))
    ]
    if not carriers:
        return ds
    expanded = {n: ds[n].expand_dims(coord) for n in carriers}
    return ds.drop_vars([*carriers, coord]).assign(expanded)


def _pressure_factor(axis: str, coord: xr.DataArray, label: str) -> float:
    """The factor from a pressure axis's units to hPa, from its ``units`` attribute (or its values)."""
    units = str(coord.attrs.get("units", "")).strip()
    u = units.lower().replace(" ", "")
    if u in _HPA_UNITS:
        return 1.0
    if u in _PA_UNITS:
        return 0.01
    if u == "kpa":
        return 10.0
    if not units:
        values = np.asarray(coord.values, dtype=np.float64)
        if values.size and np.nanmax(np.abs(values)) > 1100:
            log.info("%s: pressure axis %r has no units and values up to %g: read as Pa", label, axis, values.max())
            return 0.01
        return 1.0
    raise ValueError(
        f"{label}: pressure axis {axis!r} has units {units!r}; expected hPa or Pa "
        "(model levels or heights are not pressure levels)"
    )


def standardise_coords(ds: xr.Dataset, label: str = "") -> xr.Dataset:
    """Common coordinate names and units, dimension order ``(time, [level,] latitude, longitude)``.

    Recognises the time, pressure and auxiliary axes listed in the module docstring;
    ``label`` names the file in errors.

    Raises:
        ValueError: Several ensemble members, forecast steps or ``expver`` values; a
            pressure axis in unknown units or with values that are not pressures.
    """
    label = label or "the store"
    ds = ds.rename({k: v for k, v in _GRID_RENAMES.items() if k in ds.variables and v not in ds.variables})
    refusals = {
        "expver": "an 'expver' dimension of {n} (ERA5 and preliminary ERA5T mixed); download final ERA5 only "
        "or select one expver before reading",
        "number": "{n} ensemble members ('number'); request product_type 'reanalysis' or select one member",
        "step": "{n} forecast steps ('step'); an analysis has one: select it (step 0)",
    }
    for dim, why in refusals.items():
        if dim in ds.dims:
            if ds.sizes[dim] != 1:
                raise ValueError(f"{label}: the file has " + why.format(n=ds.sizes[dim]))
            ds = ds.isel({dim: 0})
    if "valid_time" in ds.variables:  # new CDS names, or files converted from GRIB (reference + valid time)
        vt = ds["valid_time"]
        if "time" not in ds.variables:
            ds = ds.rename(valid_time="time")
        elif vt.dims == ("time",):
            ds = ds.swap_dims(time="valid_time").drop_vars("time").rename(valid_time="time")
        elif vt.ndim == 0 and ds["time"].ndim == 0:
            ds = ds.drop_vars("time").rename(valid_time="time")
        else:
            raise ValueError(f"{label}: 'valid_time' has dimensions {vt.dims}; expected one value per time")
    if "time" in ds.coords and ds["time"].ndim == 0:  # a single time as a scalar coordinate
        ds = _promote_scalar(ds, "time", aliases=("valid_time",))
    axes = [str(a) for a in ds.coords if str(a) in LEVEL_AXES]
    axes += [
        str(a)
        for a in ds.coords
        if str(a) not in axes and ds[a].attrs.get("standard_name") == "air_pressure" and ds[a].ndim <= 1
    ]
    if len(axes) > 1:
        raise ValueError(f"{label}: several pressure axes {axes}; expected one")
    if axes:
        axis = axes[0]
        coord = ds[axis]
        if coord.ndim == 1 and coord.dims != (axis,):
            raise ValueError(
                f"{label}: pressure coordinate {axis!r} lies along {coord.dims[0]!r}; expected its own axis"
            )
        factor = _pressure_factor(axis, coord, label)
        hpa = np.asarray(coord.values, dtype=np.float64) * factor
        if hpa.size and not (np.all(hpa > 0) and np.all(hpa <= 1100)):
            raise ValueError(
                f"{label}: pressure axis {axis!r} holds {np.atleast_1d(hpa).tolist()[:5]} hPa after conversion; "
                "not pressure levels"
            )
        if factor != 1.0:
            log.info("%s: pressure axis %r in %s converted to hPa", label, axis, coord.attrs.get("units") or "Pa")
            ds = ds.assign_coords({axis: (coord.dims, hpa, {**coord.attrs, "units": "hPa"})})
        if ds[axis].ndim == 0:  # one level as a scalar coordinate: give its variables the axis
            ds = _promote_scalar(ds, axis)
        if axis != "level":
            ds = ds.rename({axis: "level"})
    drop = [c for c in ds.coords if c not in ds.dims and c not in ("latitude", "longitude")]
    ds = ds.drop_vars(drop)
    for name in list(ds.data_vars):
        dims = ds[name].dims
        want = tuple(d for d in CANONICAL_DIMS if d in dims)
        if set(dims) <= set(CANONICAL_DIMS) and dims != want:
            ds[name] = ds[name].transpose(*want)
    return ds


def cds_dataset(ds: xr.Dataset, label: str) -> xr.Dataset:
    """One CDS part in WeatherBench 2 names and canonical grid.

    ``z`` with a pressure axis is the geopotential, ``z`` on ``(time, latitude,
    longitude)`` only the surface geopotential; a variable with any other axis, or marked
    as a pressure-level field without a pressure coordinate, keeps its CDS name and is
    not used.
    """
    ds = standardise_coords(ds, label)
    renames = {}
    for name, da in ds.data_vars.items():
        dims = set(da.dims)
        if "level" in dims:
            table = CDS_LEVEL_NAMES
        elif dims <= {"time", "latitude", "longitude"} and da.attrs.get("GRIB_typeOfLevel") not in GRIB_PRESSURE_TYPES:
            table = CDS_SURFACE_NAMES
        else:
            continue
        if name in table and table[name] not in ds.variables:
            renames[name] = table[name]
    ds = ds.rename(renames)
    try:
        return canonicalise_grid(ds)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from err
