"""Schema adapters: every ERA5 source seen as one lazily indexed store in WeatherBench 2 names.

``data.source`` picks the adapter:

``synthetic`` / ``weatherbench2``
    A zarr store in the WeatherBench 2 schema (local path or ``gs://`` URL).
``arco``
    The ARCO-ERA5 zarr store (hourly, 37 levels, WeatherBench 2 variable names). Only the
    span between the store's attributes ``valid_time_start`` and ``valid_time_stop`` holds
    data; times outside it are reported as missing. A date-only ``valid_time_stop`` counts
    as the whole day.
``cds``
    NetCDF files downloaded from the Copernicus Climate Data Store: single-level files
    (``t2m, u10, v10, msl`` and the static ``z, lsm, slt``) and pressure-level files
    (``z, u, v, t, q``), one or several of each; new (``valid_time``, ``pressure_level``) and
    old (``time``, ``level``) coordinate names. Single-level ``z`` is the surface
    geopotential (a static field), pressure-level ``z`` the geopotential; they are kept
    apart by whether the variable has a level dimension. ``data.path`` is a file, a folder
    (every ``*.nc`` in it), a glob pattern or a list of those.

Every source becomes a :class:`Store`: one or more *parts* (a zarr store is one part, each
NetCDF file is one), each canonicalised on its own (latitude decreasing, longitude in
[0, 360) increasing, dimensions ``(time, [level,] latitude, longitude)``), with an index of
which part holds each variable at each time. Nothing is read until :meth:`Store.read`, which
reads only the requested variable, times, levels and (optionally) rows and columns.

What "per time step" orientation handling can see:

* each NetCDF file carries its own latitude coordinate, so files whose latitudes run the
  other way are normalised file by file (a multi-file download may mix them);
* a zarr store has one latitude coordinate for all times: a time step whose *data* were
  written north-south mirrored (the ARCO-ERA5 reports) is invisible in the coordinates and
  is detected from the data in :mod:`aurora_xai.data.era5` (see
  :func:`aurora_xai.data.era5.latitude_flip_score`).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .variables import WB2_NAMES

__all__ = [
    "SOURCES",
    "CDS_SURFACE_NAMES",
    "CDS_LEVEL_NAMES",
    "Store",
    "open_store",
    "open_dataset",
    "canonicalise_grid",
    "check_grid",
    "cds_files",
    "open_static",
    "arco_valid_span",
]

log = logging.getLogger(__name__)

#: The values ``data.source`` accepts.
SOURCES: tuple[str, ...] = ("synthetic", "weatherbench2", "arco", "cds")

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
_STATIC_NAMES = set(WB2_NAMES["static"].values())
_COORD_RENAMES = {"valid_time": "time", "pressure_level": "level", "lat": "latitude", "lon": "longitude"}


# --------------------------------------------------------------------------------------
# Grid conventions
# --------------------------------------------------------------------------------------


def canonicalise_grid(ds: xr.Dataset) -> xr.Dataset:
    """Return ``ds`` with latitude decreasing and longitude in [0, 360) increasing.

    Works lazily (index operations only). Accepts ascending latitude and -180..180
    longitude, as some stores and CDS downloads have them.
    """
    if "latitude" not in ds.dims or "longitude" not in ds.dims:
        raise ValueError(f"the store needs latitude and longitude dimensions, found {list(ds.dims)}")
    lat = ds["latitude"].values
    if lat.size > 1 and lat[0] < lat[-1]:
        ds = ds.isel(latitude=slice(None, None, -1))
    lon = ds["longitude"].values
    if np.any(lon < 0) or np.any(lon >= 360):
        ds = ds.assign_coords(longitude=np.mod(lon, 360.0))
        ds = ds.isel(longitude=np.argsort(ds["longitude"].values, kind="stable"))
    lat = ds["latitude"].values
    if lat.size > 1 and not np.all(np.diff(lat) < 0):
        raise ValueError("latitude is not strictly monotonic in the store")
    if not np.all(np.diff(ds["longitude"].values) > 0):
        raise ValueError("longitude has duplicate values after wrapping to [0, 360)")
    return ds


def check_grid(nlat: int, nlon: int, patch_size: int = 4) -> None:
    """Raise ``ValueError`` unless Aurora can take an ``nlat x nlon`` grid.

    Aurora needs the longitude count to be a multiple of the patch size; the latitude
    count must be a multiple of it or one more (then the model itself crops the
    southernmost row, the south pole on a pole-to-pole grid: 721 -> 720 at 0.25 deg).
    Any other size is refused here rather than cropped silently.
    """
    if nlon % patch_size:
        raise ValueError(f"grid has {nlon} longitudes: Aurora needs a multiple of the patch size {patch_size}")
    if nlat % patch_size not in (0, 1):
        raise ValueError(
            f"grid has {nlat} latitudes: Aurora needs a multiple of the patch size {patch_size} or one more "
            f"(the last row is cropped); crop the store to {nlat - nlat % patch_size} latitudes"
        )


# --------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Open one zarr store or NetCDF file lazily, without dask.

    ``gs://`` URLs are opened anonymously through gcsfs (imported only then).
    """
    p = str(path)
    if p.startswith("gs://"):
        try:
            import gcsfs  # only needed for cloud stores
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(f"data.path {p}: reading gs:// stores needs gcsfs (pip install gcsfs)") from err
        del gcsfs
        return xr.open_zarr(p, chunks=None, storage_options={"token": "anon"})
    if p.endswith((".nc", ".nc4", ".netcdf")):
        if not Path(p).exists():
            raise FileNotFoundError(f"data.path: no file at {p}")
        return xr.open_dataset(p, chunks=None)
    if not Path(p).exists():
        raise FileNotFoundError(f"data.path: no store at {p}")
    return xr.open_zarr(p, chunks=None)


def cds_files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The NetCDF files named by ``path``: a file, a folder, a glob pattern or a list of those."""
    if isinstance(path, (str, os.PathLike)):
        items = [str(path)]
    else:
        items = [str(p) for p in path]
    out: list[str] = []
    for item in items:
        if any(ch in item for ch in "*?["):
            found = sorted(glob.glob(item))
        elif Path(item).is_dir():
            found = sorted(str(p) for p in Path(item).iterdir() if p.suffix in (".nc", ".nc4", ".netcdf"))
        elif Path(item).exists():
            found = [item]
        else:
            raise FileNotFoundError(f"data.path: no CDS NetCDF file or folder at {item}")
        if not found:
            raise FileNotFoundError(f"data.path: no NetCDF files in {item}")
        out.extend(found)
    return out


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------


class Store:
    """Lazily indexed fields of one source in WeatherBench 2 names and canonical grid.

    Args:
        parts: ``(label, dataset)`` pairs; each dataset canonicalised already.
        source: The adapter that built it (for messages).
        path: What the user gave as ``data.path``.
        valid: Optional ``(start, stop)``: only times in this closed span are offered.
    """

    def __init__(
        self,
        parts: Sequence[tuple[str, xr.Dataset]],
        source: str,
        path: str,
        valid: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    ) -> None:
        if not parts:
            raise ValueError(f"data.path {path}: nothing to read")
        self.source = source
        self.path = path
        self.valid = valid
        self.parts = [ds for _, ds in parts]
        self.labels = [label for label, _ in parts]
        first = self.parts[0]
        self.lat = np.asarray(first["latitude"].values, dtype=np.float64)
        self.lon = np.asarray(first["longitude"].values, dtype=np.float64)
        for label, ds in zip(self.labels[1:], self.parts[1:]):
            lat, lon = ds["latitude"].values, ds["longitude"].values
            if (
                lat.shape != self.lat.shape
                or lon.shape != self.lon.shape
                or not (np.allclose(lat, self.lat) and np.allclose(lon, self.lon))
            ):
                raise ValueError(
                    f"{label}: grid {lat.size}x{lon.size} differs from {self.labels[0]} "
                    f"({self.lat.size}x{self.lon.size}); all files of one source need the same grid"
                )
        # time-dependent variable -> the parts holding it; the time index of a set of
        # parts is built on first use and shared (the ARCO store has ~270 variables on
        # an hourly axis of ~1.3 million times)
        self._holders: dict[str, tuple[int, ...]] = {}
        self._static: dict[str, tuple[int, xr.DataArray]] = {}
        self._frames: dict[tuple[int, ...], pd.DataFrame] = {}
        holders: dict[str, list[int]] = {}
        for i, ds in enumerate(self.parts):
            for name, da in ds.data_vars.items():
                if "latitude" not in da.dims or "longitude" not in da.dims:
                    continue
                if "time" not in da.dims:
                    self._static.setdefault(str(name), (i, da))
                else:
                    holders.setdefault(str(name), []).append(i)
        self._holders = {name: tuple(ids) for name, ids in holders.items()}

    def _frame(self, name: str) -> pd.DataFrame:
        """``DataFrame(index=time, columns=[part, pos])`` of the valid times of ``name``."""
        key = self._holders[name]
        if key not in self._frames:
            pieces = []
            for i in key:
                times = pd.DatetimeIndex(self.parts[i]["time"].values)
                keep = np.ones(len(times), dtype=bool)
                if self.valid is not None:
                    keep = (times >= self.valid[0]) & (times <= self.valid[1])
                pieces.append(pd.DataFrame({"part": i, "pos": np.flatnonzero(keep)}, index=times[keep]))
            frame = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
            if frame.index.has_duplicates:
                dup = frame.index[frame.index.duplicated()][0]
                raise ValueError(f"{self.path}: variable {name!r} has time {dup:%Y-%m-%d %H:%M} in more than one file")
            self._frames[key] = frame.sort_index()
        return self._frames[key]

    # ----------------------------------------------------------------------------------
    @property
    def variables(self) -> list[str]:
        """Names of all fields (time-dependent and static), sorted."""
        return sorted(set(self._holders) | set(self._static))

    def has_variable(self, name: str) -> bool:
        return name in self._holders or name in self._static

    def times(self, name: str) -> pd.DatetimeIndex:
        """Valid times at which ``name`` is stored."""
        self._require(name)
        if name not in self._holders:
            return pd.DatetimeIndex([])
        return pd.DatetimeIndex(self._frame(name).index)

    def levels(self, name: str) -> list[int]:
        """Pressure levels (hPa) of a level variable, from its first part."""
        self._require(name)
        part = self.parts[self._holders[name][0]] if name in self._holders else None
        if part is None or "level" not in part[name].dims:
            return []
        return [int(round(float(v))) for v in part["level"].values]

    def is_static(self, name: str) -> bool:
        return name in self._static and name not in self._holders

    def _require(self, name: str) -> None:
        if not self.has_variable(name):
            raise KeyError(f"variable {name!r} not in {self.source} store {self.path}; available: {self.variables}")

    def static_field(self, name: str) -> xr.DataArray:
        """A static field as a lazy ``(latitude, longitude)`` array.

        Time-dependent copies (CDS single-level files and ARCO store the invariant
        fields at every time) give their first valid time.
        """
        self._require(name)
        if name in self._static:
            return self._static[name][1]
        frame = self._frame(name)
        if not len(frame):
            raise ValueError(f"static field {name!r} has no valid time in {self.path}")
        part, pos = int(frame["part"].iloc[0]), int(frame["pos"].iloc[0])
        da = self.parts[part][name].isel(time=pos)
        if "level" in da.dims:
            raise ValueError(f"{name!r} has pressure levels; it cannot be a static field")
        return da

    def read(
        self,
        name: str,
        times: Sequence[pd.Timestamp],
        levels: Sequence[int] | None = None,
        rows: np.ndarray | None = None,
        cols: np.ndarray | None = None,
    ) -> np.ndarray:
        """Read one variable at ``times``: float32 ``(time, [level,] lat, lon)``, C-contiguous.

        Only the requested times, levels, rows and columns are indexed; a zarr store reads
        the chunks holding them, a NetCDF file the hyperslabs. Missing times raise
        ``KeyError`` naming the first one (callers check with :meth:`times` first).
        """
        self._require(name)
        frame = self._frame(name)
        times = pd.DatetimeIndex(times)
        missing = times.difference(frame.index)
        if len(missing):
            raise KeyError(f"time {missing[0]:%Y-%m-%d %H:%M} not stored for {name!r}")
        sel = frame.loc[times]
        out: list[np.ndarray | None] = [None] * len(times)
        for part_id in pd.unique(sel["part"]):
            where = np.flatnonzero(sel["part"].values == part_id)
            pos = sel["pos"].values[where]
            order = np.argsort(pos, kind="stable")
            da = self.parts[int(part_id)][name]
            key: list = [pos[order]]
            if "level" in da.dims:
                if levels is None:
                    key.append(slice(None))
                else:
                    key.append(self._level_positions(int(part_id), name, levels))
            key.append(slice(None) if rows is None else np.asarray(rows))
            key.append(slice(None) if cols is None else np.asarray(cols))
            arr = np.asarray(da.variable[tuple(key)].values)
            for k, j in enumerate(where[order]):
                out[j] = arr[k]
        return np.ascontiguousarray(np.stack(out), dtype=np.float32)

    def _level_positions(self, part_id: int, name: str, levels: Sequence[int]) -> np.ndarray:
        stored = np.array([int(round(float(v))) for v in self.parts[part_id]["level"].values])
        pos = []
        for lv in levels:
            hit = np.flatnonzero(stored == int(lv))
            if not hit.size:
                raise KeyError(
                    f"data.levels: level {lv} hPa of {name!r} not in {self.labels[part_id]} (it has {stored.tolist()})"
                )
            pos.append(int(hit[0]))
        return np.asarray(pos)


# --------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------


def _standardise(ds: xr.Dataset) -> xr.Dataset:
    """Common coordinate names, dimension order ``(time, [level,] latitude, longitude)``."""
    ds = ds.rename({k: v for k, v in _COORD_RENAMES.items() if k in ds.variables and v not in ds.variables})
    if "expver" in ds.dims:
        raise ValueError(
            "the file has an 'expver' dimension (ERA5 and preliminary ERA5T mixed); "
            "download final ERA5 only or select one expver before reading"
        )
    drop = [
        c for c in ("number", "expver", "step", "surface", "heightAboveGround") if c in ds.coords and c not in ds.dims
    ]
    ds = ds.drop_vars(drop)
    order = ("time", "level", "latitude", "longitude")
    for name in list(ds.data_vars):
        dims = ds[name].dims
        want = tuple(d for d in order if d in dims)
        if set(dims) <= set(order) and dims != want:
            ds[name] = ds[name].transpose(*want)
    return ds


def _zarr_store(path: str, source: str) -> Store:
    ds = _standardise(open_dataset(path))
    valid = None
    if source == "arco":
        valid = arco_valid_span(ds.attrs, path)
    return Store([(path, canonicalise_grid(ds))], source=source, path=path, valid=valid)


def arco_valid_span(attrs: Mapping, path: str = "") -> tuple[pd.Timestamp, pd.Timestamp]:
    """The ``(start, stop)`` span of an ARCO-ERA5 store from its attributes.

    A stop given as a date only (``2025-12-31``) includes that whole day.
    """
    try:
        start = pd.Timestamp(attrs["valid_time_start"])
        stop_raw = str(attrs["valid_time_stop"])
    except KeyError as err:
        raise KeyError(
            f"ARCO store {path} has no attribute {err.args[0]!r}; its valid span is unknown "
            "(use data.source: weatherbench2 for a store without padding)"
        ) from None
    stop = pd.Timestamp(stop_raw)
    if len(stop_raw.strip()) <= 10:  # a date: the whole day is valid
        stop = stop + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return start, stop


def _cds_part(path: str) -> xr.Dataset:
    ds = _standardise(xr.open_dataset(path, chunks=None))
    renames = {}
    for name in ds.data_vars:
        has_level = "level" in ds[name].dims
        table = CDS_LEVEL_NAMES if has_level else CDS_SURFACE_NAMES
        if name in table:
            renames[name] = table[name]
    ds = ds.rename(renames)
    return canonicalise_grid(ds)


def _cds_store(path, source: str = "cds") -> Store:
    files = cds_files(path)
    parts = [(f, _cds_part(f)) for f in files]
    return Store(
        parts, source=source, path=str(path) if isinstance(path, (str, os.PathLike)) else ",".join(map(str, path))
    )


def open_store(source: str, path) -> Store:
    """Open ``path`` with the adapter of ``source`` (one of :data:`SOURCES`)."""
    if source not in SOURCES:
        raise ValueError(f"data.source: expected one of {list(SOURCES)}, got {source!r}")
    if source == "cds":
        return _cds_store(path)
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"data.path: a {source} source is one store, got {path!r}")
    return _zarr_store(str(path), source)


def _is_zarr(path: str) -> bool:
    p = Path(path)
    return (
        path.startswith("gs://")
        or path.rstrip("/").endswith(".zarr")
        or any((p / marker).exists() for marker in (".zgroup", ".zmetadata", "zarr.json"))
    )


def open_static(path) -> Store:
    """Open a separate static-field source: a zarr store (WeatherBench 2 names) or CDS NetCDF file(s)."""
    if isinstance(path, (str, os.PathLike)) and _is_zarr(str(path)):
        return _zarr_store(str(path), "static")
    return _cds_store(path, source="static")
