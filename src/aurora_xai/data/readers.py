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
    (``z, u, v, t, q``), one or several of each, split by time, variable or level.
    ``data.path`` is a file, a folder, a glob pattern or a list of those.

What a file holds is told from its content, never from its name
(:mod:`aurora_xai.data.formats`): NetCDF-4, NetCDF-3, zarr folders and ZIP archives are
read whatever they are called. A ZIP archive (the current CDS delivers requests that mix
instantaneous and accumulated streams as a ZIP of one NetCDF per stream, often saved as
``.nc``) is extracted once into a hidden folder beside it and each member becomes one part
of the store; a zipped zarr store is read in place. GRIB files are refused with how to
convert them; anything else (an HTML error page saved as ``.nc``, an empty or truncated
download) is refused with an error naming the file and quoting its first bytes.

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
  several forecast steps, or an ``expver`` dimension mixing ERA5 and ERA5T are refused.

Single-level ``z`` is the surface geopotential (a static field) and pressure-level ``z``
the geopotential; they are told apart by whether the variable has a pressure axis (a
dimension or a scalar coordinate). A ``z`` with some other vertical axis is neither and is
not used; a missing surface geopotential is an error naming the files searched.

Every source becomes a :class:`Store`: one or more *parts* (a zarr store is one part, each
NetCDF file or archive member is one), each canonicalised on its own (latitude decreasing,
longitude in [0, 360) increasing, dimensions ``(time, [level,] latitude, longitude)``),
with an index of which part holds each variable at each time and level. Nothing is read
until :meth:`Store.read`, which reads only the requested variable, times, levels and
(optionally) rows and columns. A time (at a level) stored twice, in one file or in two,
is an error naming the file(s), the variable and the time.

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

from .formats import (
    UnrecognisedFileError,
    check_netcdf3_size,
    explain_hdf5_failure,
    sniff,
    zip_holds_zarr,
    zip_members,
)
from .variables import WB2_NAMES

__all__ = [
    "SOURCES",
    "CDS_SURFACE_NAMES",
    "CDS_LEVEL_NAMES",
    "LEVEL_AXES",
    "Store",
    "open_store",
    "open_dataset",
    "open_parts",
    "cds_parts",
    "canonicalise_grid",
    "check_grid",
    "cds_files",
    "open_static",
    "arco_valid_span",
    "snap_times",
    "zarr_consolidated",
    "IMPRECISE_TIMES",
    "UnwrittenChunksError",
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
#: Names of a pressure axis, renamed to ``level`` (in hPa).
LEVEL_AXES: tuple[str, ...] = ("level", "pressure_level", "isobaricInhPa", "plev", "pressure", "air_pressure")

_STATIC_NAMES = set(WB2_NAMES["static"].values())
_GRID_RENAMES = {"lat": "latitude", "lon": "longitude"}
_CANONICAL_DIMS = ("time", "level", "latitude", "longitude")
_HPA_UNITS = {"hpa", "millibar", "millibars", "mbar", "mb", "hectopascal", "hectopascals"}
_PA_UNITS = {"pa", "pascal", "pascals"}
#: GRIB level types of pressure-level fields (cfgrib writes them as ``GRIB_typeOfLevel``).
_GRIB_PRESSURE_TYPES = {"isobaricInhPa", "isobaricInPa"}
#: File names a folder listing never takes: unfinished downloads.
_UNFINISHED_SUFFIXES = (".part", ".tmp", ".partial", ".download", ".crdownload")
#: File names a folder listing takes without looking inside (a bad one is an error).
_DATA_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf", ".zip", ".grib", ".grb", ".grib1", ".grib2", ".grb2")


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


def _open_netcdf(path: str, kind: str) -> xr.Dataset:
    if kind == "netcdf3":
        check_netcdf3_size(path)
    try:
        return xr.open_dataset(path, engine="netcdf4", chunks=None)
    except (OSError, ValueError, RuntimeError) as err:
        if kind == "netcdf4":  # a whole file held open elsewhere is not a damaged one
            raise explain_hdf5_failure(path, err) from err
        raise UnrecognisedFileError(
            f"{path}: a NetCDF-3 file that cannot be opened ({err}): truncated or damaged? fetch it again"
        ) from err


class _PartSource:
    """Where one part came from: the zarr group behind it (chunk listing), and how to reopen it undecoded.

    Attributes:
        label: The part's label (a file, a store, ``archive::member``).
        group: The ``zarr.Group`` of a zarr part, else None.
        reopen: Opens the part again with ``decode_cf=False`` (raw values and attributes).
        remote: Whether the zarr store is remote (listing costs a round trip).
    """

    def __init__(self, label: str, group=None, reopen=None, remote: bool = False) -> None:
        self.label = label
        self.group = group
        self.reopen = reopen
        self.remote = remote


def zarr_consolidated(group) -> bool:
    """Whether an open ``zarr.Group`` has consolidated metadata (v2 ``.zmetadata``, v3 in ``zarr.json``)."""
    return getattr(group.metadata, "consolidated_metadata", None) is not None


def _open_zarr(target, label: str, storage_options: Mapping | None = None) -> tuple[xr.Dataset, _PartSource]:
    """Open a zarr store lazily, as consolidated exactly when it has consolidated metadata.

    (Asking xarray to guess prints a multi-line warning into every log for an
    unconsolidated store.) ``target``: a path, URL or ``zarr`` store.
    """
    import zarr

    opts = dict(storage_options) if storage_options else None
    group = zarr.open_group(target, mode="r", storage_options=opts) if opts else zarr.open_group(target, mode="r")
    consolidated = zarr_consolidated(group)
    kw = {"chunks": None, "consolidated": consolidated}
    if opts:
        kw["storage_options"] = opts
    ds = xr.open_zarr(target, **kw)
    remote = not isinstance(group.store, (zarr.storage.LocalStore, zarr.storage.ZipStore, zarr.storage.MemoryStore))
    return ds, _PartSource(label, group, lambda: xr.open_zarr(target, decode_cf=False, **kw), remote)


def open_parts(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> list[tuple[str, xr.Dataset]]:
    """Open one path lazily (without dask) as ``(label, dataset)`` parts, by its content.

    A zarr folder, a NetCDF file (any name) or a zipped zarr store is one part labelled
    with the path; each member of a ZIP archive of NetCDF files is one part labelled
    ``<archive>::<member>`` (members are extracted once, see
    :func:`aurora_xai.data.formats.zip_members`; ``cache_dir`` overrides where). ``gs://``
    URLs are zarr stores opened anonymously through gcsfs (imported only then). A zarr
    store is opened as consolidated exactly when it has consolidated metadata, so no
    warning is printed for one that has none.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        UnrecognisedFileError: (a ``ValueError``) a GRIB file, or content that is none of
            these formats, naming the file and quoting its first bytes; a truncated file.
        FileAccessError: (an ``OSError``) a NetCDF-4 file that looks whole (a valid HDF5
            superblock, at least the size it records) but cannot be opened: held open for
            writing by another process (HDF5's file lock) or a file system without locking.
    """
    return [(label, ds) for label, ds, _ in _open_parts(path, cache_dir)]


def _open_parts(
    path: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> list[tuple[str, xr.Dataset, _PartSource]]:
    """:func:`open_parts`, with each part's :class:`_PartSource`."""
    p = str(path)
    if p.startswith("gs://"):
        try:
            import gcsfs  # only needed for cloud stores
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(f"data.path {p}: reading gs:// stores needs gcsfs (pip install gcsfs)") from err
        del gcsfs
        return [(p, *_open_zarr(p, p, storage_options={"token": "anon"}))]
    if not Path(p).exists():
        raise FileNotFoundError(f"data.path: no store or file at {p}")
    kind = sniff(p)
    if kind == "zarr":
        return [(p, *_open_zarr(p, p))]
    if kind in ("netcdf4", "netcdf3"):
        reopen = lambda: xr.open_dataset(p, engine="netcdf4", chunks=None, decode_cf=False)  # noqa: E731
        return [(p, _open_netcdf(p, kind), _PartSource(p, reopen=reopen))]
    if kind == "grib":
        raise UnrecognisedFileError(
            f"{p}: a GRIB file; these readers take NetCDF: convert it (cfgrib's `cfgrib to_netcdf` or ecCodes' "
            "`grib_to_netcdf`; both outputs are read) or request 'data_format': 'netcdf' from the CDS"
        )
    # a ZIP archive
    if zip_holds_zarr(p):
        import zarr

        return [(p, *_open_zarr(zarr.storage.ZipStore(p, mode="r"), p))]
    parts: list[tuple[str, xr.Dataset, _PartSource]] = []
    for name, member in zip_members(p, cache_dir):
        try:
            inner = _open_parts(member, cache_dir)
        except UnrecognisedFileError as err:
            raise UnrecognisedFileError(f"{p}: member {name!r} of the ZIP archive: {err}") from err
        for label, ds, src in inner:
            label = f"{p}::{name}{label[len(str(member)) :]}"
            src.label = label
            parts.append((label, ds, src))
    return parts


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Open one zarr store, NetCDF file or ZIP archive lazily as one dataset, without dask.

    The format is told from the content, not the name (see :func:`open_parts`). The
    members of an archive are merged; they must share their coordinates exactly.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        ValueError: Unrecognised or unreadable content, or archive members that do not
            merge (each naming the file).
    """
    parts = open_parts(path)
    if len(parts) == 1:
        return parts[0][1]
    try:
        return xr.merge([ds for _, ds in parts], join="exact", compat="no_conflicts", combine_attrs="drop_conflicts")
    except (ValueError, xr.MergeError) as err:
        raise ValueError(
            f"{path}: the {len(parts)} members of the archive ({', '.join(lb.split('::')[-1] for lb, _ in parts)}) "
            f"do not merge into one dataset ({err}); read it with data.source: cds, which takes each member as a part"
        ) from err


def _listed(folder: Path) -> list[str]:
    """The data files of a folder: by name, and by content for names without a data suffix."""
    found = []
    for f in sorted(folder.iterdir()):
        name = f.name
        if name.startswith(".") or not f.is_file():
            continue
        if name.endswith(_UNFINISHED_SUFFIXES):
            log.warning("skipping %s: an unfinished download", f)
            continue
        if name.lower().endswith(_DATA_SUFFIXES):
            found.append(str(f))
            continue
        try:
            kind = sniff(f)
        except (UnrecognisedFileError, OSError):
            log.debug("skipping %s: not a data file", f)
            continue
        if kind != "zarr":
            found.append(str(f))
    return found


def cds_files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The data files named by ``path``: a file, a folder, a glob pattern or a list of those.

    A folder gives its files named ``*.nc``, ``*.nc4``, ``*.netcdf``, ``*.cdf``, ``*.zip``
    and ``*.grib``/``*.grb*``, and any other file whose content is NetCDF, GRIB or ZIP;
    hidden files and unfinished downloads (``*.part``, ``*.tmp``, ...) are left out. A
    zarr folder is taken as one store. Content is checked when the files are opened.

    Raises:
        FileNotFoundError: An item names nothing, or a folder or pattern holds no data file.
    """
    if isinstance(path, (str, os.PathLike)):
        items = [str(path)]
    else:
        items = [str(p) for p in path]
    out: list[str] = []
    for item in items:
        if any(ch in item for ch in "*?["):
            found = sorted(f for f in glob.glob(item) if not f.endswith(_UNFINISHED_SUFFIXES))
        elif Path(item).is_dir():
            try:
                found = [item] if sniff(item) == "zarr" else []
            except UnrecognisedFileError:
                found = _listed(Path(item))
        elif Path(item).exists():
            found = [item]
        else:
            raise FileNotFoundError(f"data.path: no CDS NetCDF file or folder at {item}")
        if not found:
            raise FileNotFoundError(f"data.path: no NetCDF files (nor ZIP or GRIB) in {item}")
        out.extend(found)
    return out


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------


def _fmt_time(t) -> str:
    return f"{pd.Timestamp(t):%Y-%m-%d %H:%M}"


def _fmt_stamp(t) -> str:
    """A time to the second (or finer when it has a fraction), for stored times that are not round."""
    t = pd.Timestamp(t)
    return f"{t:%Y-%m-%d %H:%M:%S}" + (f".{t.microsecond:06d}" if t.microsecond else "")


def _plain(value) -> object:
    """A numpy scalar as a plain Python number for messages (``0.0`` rather than ``np.float32(0.0)``)."""
    return value.item() if isinstance(value, np.generic) else value


class UnwrittenChunksError(KeyError):
    """A zarr chunk (or shard) holding a requested time step was never written: missing data."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


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


def _time_encoding(coord: xr.DataArray) -> tuple[np.dtype, str, float, pd.Timestamp] | None:
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
    enc = _time_encoding(coord)
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
            f"{label}: stored time {_fmt_stamp(values[first])} stands for {_fmt_time(out[first])}: {cause}{more}; "
            "no requested time matches it. Rewrite the time axis as integers or datetime64 (e.g. "
            "encoding={'time': {'dtype': 'int64', 'units': 'hours since 1900-01-01'}}), or set "
            "data.imprecise_times: snap to read each such time as the round time it stands for"
        )
    log.warning(
        "%s: stored time %s read as %s: %s%s; each is read as the round time its stored value stands for "
        "(data.imprecise_times: error refuses instead)",
        label,
        _fmt_stamp(values[first]),
        _fmt_time(out[first]),
        cause,
        more,
    )
    return pd.DatetimeIndex(out)


# --------------------------------------------------------------------------------------
# Chunks never written
# --------------------------------------------------------------------------------------


#: Local zarr arrays of at most this many storage keys are listed whole (once); larger ones,
#: and remote ones, are asked whether the keys of the time steps read exist.
LIST_AT_MOST = 20000


class _ChunkIndex:
    """Which chunks (shards) of the arrays of one zarr store were ever written.

    A chunk that does not exist reads as the array's fill value: with ``fill_value`` 0 a
    time step whose chunks were never written (a region write that did not happen, a copy
    that died) would read as 0 K, 0 Pa, calm. With a NaN fill value (xarray's default for
    floats) such chunks read as NaN, which the NaN checks already treat as missing data
    (zarr does not even write a chunk that is all fill value), so they are not listed.

    Cost: a local array of at most :data:`LIST_AT_MOST` keys is listed once per store open
    (measured: 9-20 ms for 124 chunks, against 30-50 ms for reading one sample of 2 steps
    on a 1.5 deg grid; later reads cost nothing more). Larger local arrays and remote ones
    are asked per read whether the storage keys of the time steps read exist, concurrently
    (a stat per key locally; on a remote store as many requests as the chunks the read
    fetches anyway, in one round of concurrent requests), so no job lists a whole remote
    variable (ARCO-ERA5 has over a million time steps).

    Limits: with sharding (zarr v3) a shard that exists may still lack inner chunks; those
    read as the fill value unseen here (the plausibility bands catch a constant 0 K or
    0 Pa). A chunk that zarr skipped because it equalled a non-NaN fill value
    (``write_empty_chunks=False``) is indistinguishable from one never written and counts
    as missing; no field Aurora reads is exactly constant over a whole chunk.
    """

    def __init__(self, source: _PartSource) -> None:
        self.source = source
        self._arrays: dict[str, object] = {}
        self._listed: dict[str, frozenset[str]] = {}

    def array(self, name: str):
        if name not in self._arrays:
            self._arrays[name] = self.source.group[name]
        return self._arrays[name]

    def fill_value(self, name: str):
        return _plain(self.array(name).metadata.fill_value)

    def _dims(self, name: str) -> tuple[str, ...]:
        arr = self.array(name)
        dims = getattr(arr.metadata, "dimension_names", None)
        if dims is None:
            dims = arr.attrs.get("_ARRAY_DIMENSIONS")
        return tuple(str(d) for d in dims) if dims is not None else ()

    def _present(self, name: str, keys: list[str]) -> np.ndarray:
        """Whether each storage key (relative to the array) exists."""
        from zarr.core.sync import sync

        arr = self.array(name)
        store, prefix = arr.store_path.store, arr.store_path.path
        if not self.source.remote and int(np.prod(arr._shard_grid_shape)) <= LIST_AT_MOST:
            if name not in self._listed:

                async def listing() -> list[str]:
                    return [k async for k in store.list_prefix(prefix)]

                cut = len(prefix) + 1 if prefix else 0
                self._listed[name] = frozenset(k[cut:] for k in sync(listing()))
            listed = self._listed[name]
            return np.array([k in listed for k in keys], dtype=bool)

        async def ask() -> list[bool]:
            import asyncio

            full = [f"{prefix}/{k}" if prefix else k for k in keys]
            return list(await asyncio.gather(*(store.exists(k) for k in full)))

        return np.array(sync(ask()), dtype=bool)

    def unwritten(self, name: str, positions: np.ndarray | None) -> tuple[dict[int, int], int]:
        """The time positions of ``name`` whose chunks were not all written.

        Args:
            name: Array name in the store.
            positions: Positions along its time axis; None: the whole array (a static field).

        Returns:
            ``({position: unwritten chunks}, chunks per time step)``; for a static field the
            key is -1.
        """
        fill = self.fill_value(name)
        if isinstance(fill, float) and np.isnan(fill):
            return {}, 0  # chunks never written read as NaN: the NaN checks see them
        arr = self.array(name)
        grid = tuple(int(g) for g in arr._shard_grid_shape)
        per_step = int(np.prod(grid))
        dims = self._dims(name)
        axis = next((k for k, d in enumerate(dims) if d in ("time", "valid_time")), None)
        if positions is None or axis is None:
            keys = list(arr._iter_shard_keys())
            missing = int((~self._present(name, keys)).sum())
            return ({-1: missing} if missing else {}), per_step
        step = int((arr.shards or arr.chunks)[axis])
        per_step //= grid[axis]
        blocks = sorted({int(p) // step for p in np.atleast_1d(positions)})
        keys: list[str] = []
        for b in blocks:
            origin = [0] * len(grid)
            origin[axis] = b
            shape = list(grid)
            shape[axis] = 1
            keys.extend(arr._iter_shard_keys(origin=origin, selection_shape=shape))
        present = self._present(name, keys).reshape(len(blocks), per_step)
        lacking = {b: int(n) for b, n in zip(blocks, (~present).sum(axis=1)) if n}
        return {
            int(p): lacking[int(p) // step] for p in np.atleast_1d(positions) if int(p) // step in lacking
        }, per_step


class Store:
    """Lazily indexed fields of one source in WeatherBench 2 names and canonical grid.

    A variable may be spread over several parts by time (one file per month), by level
    (one file per pressure level) or both; a time counts as stored for a level variable
    when all of the variable's levels are stored at it. Variables with an axis other than
    ``time``, ``level``, ``latitude`` and ``longitude`` are not offered (the error for a
    missing variable says where such a variable was seen).

    Args:
        parts: ``(label, dataset)`` pairs; each dataset canonicalised already. The label
            names the part in messages (a file, or ``archive::member``).
        source: The adapter that built it (for messages).
        path: What the user gave as ``data.path``.
        valid: Optional ``(start, stop)``: only times in this closed span are offered.
        sources: Optional, one per part: where it came from (zarr parts: the chunk
            listing that tells time steps never written; see :meth:`read`).
        imprecise_times: ``"snap"`` or ``"error"``: a time axis stored with too little
            precision (see :func:`snap_times`).

    Raises:
        ValueError: No parts, or parts on different grids (naming both).
    """

    def __init__(
        self,
        parts: Sequence[tuple[str, xr.Dataset]],
        source: str,
        path: str,
        valid: tuple[pd.Timestamp, pd.Timestamp] | None = None,
        sources: Sequence[_PartSource | None] | None = None,
        imprecise_times: str = "snap",
    ) -> None:
        if not parts:
            raise ValueError(f"data.path {path}: nothing to read")
        if imprecise_times not in IMPRECISE_TIMES:
            raise ValueError(f"data.imprecise_times: expected one of {list(IMPRECISE_TIMES)}, got {imprecise_times!r}")
        self.imprecise_times = imprecise_times
        self.sources: list[_PartSource | None] = list(sources) if sources is not None else [None] * len(parts)
        self._chunks = {i: _ChunkIndex(src) for i, src in enumerate(self.sources) if src is not None and src.group}
        self._part_times: dict[int, pd.DatetimeIndex] = {}
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
        self._frames: dict[tuple, tuple[pd.DataFrame, dict[int, pd.DataFrame]]] = {}
        self._complete: dict[str, pd.DatetimeIndex] = {}
        self._part_levels: dict[int, np.ndarray] = {}
        self._level_vars: dict[str, bool] = {}
        holders: dict[str, list[int]] = {}
        for i, ds in enumerate(self.parts):
            for name, da in ds.data_vars.items():
                if "latitude" not in da.dims or "longitude" not in da.dims:
                    continue
                if any(d not in _CANONICAL_DIMS for d in da.dims):
                    continue  # an axis we cannot interpret: see _require
                if "time" not in da.dims:
                    self._static.setdefault(str(name), (i, da))
                else:
                    holders.setdefault(str(name), []).append(i)
        self._holders = {name: tuple(ids) for name, ids in holders.items()}

    # ----------------------------------------------------------------------------------
    def _levels_of(self, part: int) -> np.ndarray:
        """Pressure levels (whole hPa) of one part."""
        if part not in self._part_levels:
            ds = self.parts[part]
            values = ds["level"].values if "level" in ds.coords else []
            self._part_levels[part] = np.array([int(round(float(v))) for v in np.atleast_1d(values)], dtype=np.int64)
        return self._part_levels[part]

    def _has_levels(self, name: str) -> bool:
        if name not in self._level_vars:
            self._level_vars[name] = any("level" in self.parts[i][name].dims for i in self._holders[name])
        return self._level_vars[name]

    def _frames_of(self, name: str) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
        """``DataFrame(index=time, columns=[part, pos])`` of the valid times of ``name``, and one per part.

        Raises:
            ValueError: A time stored twice in one file, or (at a common level) in two
                files, naming the file(s), the variable and the time.
        """
        key = (self._holders[name], self._has_levels(name))
        if key not in self._frames:
            pieces: dict[int, pd.DataFrame] = {}
            for i in key[0]:
                times = self._times_of_part(i)
                if times.has_duplicates:
                    dup = times[times.duplicated()].unique()
                    more = f" ({len(dup)} times are stored more than once)" if len(dup) > 1 else ""
                    raise ValueError(
                        f"{self.labels[i]}: time {_fmt_time(dup[0])} is stored twice in this file "
                        f"(variable {name!r}){more}; drop the repeats (e.g. xarray's "
                        "ds.drop_duplicates('time')) or fetch the times once"
                    )
                keep = np.ones(len(times), dtype=bool)
                if self.valid is not None:
                    keep = (times >= self.valid[0]) & (times <= self.valid[1])
                pieces[i] = pd.DataFrame({"part": i, "pos": np.flatnonzero(keep)}, index=times[keep])
            frame = pd.concat(pieces.values()) if len(pieces) > 1 else next(iter(pieces.values()))
            if len(pieces) > 1 and frame.index.has_duplicates:
                self._check_overlaps(name, frame, key[1])
            self._frames[key] = (frame.sort_index(kind="stable"), pieces)
        return self._frames[key]

    def _times_of_part(self, i: int) -> pd.DatetimeIndex:
        """The stored times of one part, snapped where its axis cannot hold them exactly (:func:`snap_times`)."""
        if i not in self._part_times:
            coord = self.parts[i]["time"]
            self._part_times[i] = snap_times(
                pd.DatetimeIndex(coord.values), coord, self.labels[i], self.imprecise_times
            )
        return self._part_times[i]

    def time_axis_note(self, name: str) -> str:
        """How the time axis of ``name`` is stored, when it is floating point (for messages), else ``""``."""
        for i in self._holders.get(name, ()):
            enc = _time_encoding(self.parts[i]["time"])
            if enc is not None:
                return f"its time axis is stored as {enc[0].name} in {enc[1]!r}"
        return ""

    def fill_value(self, name: str):
        """The value a missing cell of ``name`` is stored as: the zarr array's ``fill_value``, or the
        ``_FillValue``/``missing_value`` the file declares; None if none."""
        self._require(name)
        ids = list(self._holders.get(name, ())) + ([self._static[name][0]] if name in self._static else [])
        for i in ids:
            if i in self._chunks:
                return self._chunks[i].fill_value(name)
            enc = self.parts[i][name].encoding
            for key in ("_FillValue", "missing_value"):
                if enc.get(key) is not None:
                    return _plain(np.asarray(enc[key]).ravel()[0])
        return None

    def unwritten_static(self, name: str) -> str | None:
        """A description of the chunks of static field ``name`` never written (zarr), or None."""
        if name not in self._static:
            return None
        i = self._static[name][0]
        if i not in self._chunks:
            return None
        lack, total = self._chunks[i].unwritten(name, None)
        if not lack:
            return None
        return (
            f"{lack[-1]} of {total} chunks of {name!r} were never written in {self.labels[i]} "
            f"(they read as the array's fill value {self._chunks[i].fill_value(name)})"
        )

    def unmasked_static(self, name: str) -> xr.DataArray | None:
        """Static field ``name`` decoded without masking its fill value (scale and offset applied).

        The same ``(latitude, longitude)`` orientation as :meth:`static_field`; None where the
        part cannot be reopened.
        """
        self._require(name)
        if name in self._static:
            i, pos = self._static[name][0], None
        else:
            frame = self._frame(name)
            if not len(frame):
                return None
            i, pos = int(frame["part"].iloc[0]), int(frame["pos"].iloc[0])
        src = self.sources[i]
        if src is None or src.reopen is None:
            return None
        raw = src.reopen()
        stored = name if name in raw.variables else None
        if stored is None:  # a CDS file: its own short name
            stored = next((s for s, n in CDS_SURFACE_NAMES.items() if n == name and s in raw.variables), None)
        if stored is None:
            return None
        for key in ("_FillValue", "missing_value"):
            raw[stored].attrs.pop(key, None)
            raw[stored].encoding.pop(key, None)
        decoded = xr.decode_cf(raw[[stored]])
        if stored == name:
            ds = canonicalise_grid(_standardise(decoded, self.labels[i]))
        else:
            ds = _cds_dataset(decoded, self.labels[i])
        if name not in ds:
            return None
        field = ds[name]
        return field.isel(time=pos).load() if pos is not None else field.load()

    def _frame(self, name: str) -> pd.DataFrame:
        return self._frames_of(name)[0]

    def _check_overlaps(self, name: str, frame: pd.DataFrame, has_levels: bool) -> None:
        """Raise unless parts sharing a time hold disjoint levels of ``name`` there."""
        dup = frame[frame.index.duplicated(keep=False)]
        combos = dup.groupby(level=0, sort=True)["part"].agg(tuple)
        seen: set[tuple[int, ...]] = set()
        for t, combo in combos.items():
            if combo in seen:
                continue
            seen.add(combo)
            for k, a in enumerate(combo):
                for b in combo[k + 1 :]:
                    common = np.intersect1d(self._levels_of(a), self._levels_of(b)) if has_levels else None
                    if has_levels and not common.size:
                        continue
                    at = f" at level(s) {common.tolist()} hPa" if has_levels else ""
                    raise ValueError(
                        f"variable {name!r}: time {_fmt_time(t)}{at} is stored in two files, "
                        f"{self.labels[a]} and {self.labels[b]}; keep one of them (overlapping downloads?)"
                    )

    # ----------------------------------------------------------------------------------
    @property
    def variables(self) -> list[str]:
        """Names of all fields (time-dependent and static), sorted."""
        return sorted(set(self._holders) | set(self._static))

    def has_variable(self, name: str) -> bool:
        return name in self._holders or name in self._static

    def times(self, name: str) -> pd.DatetimeIndex:
        """Valid times at which ``name`` is stored (at all of its levels), sorted, unique."""
        self._require(name)
        if name not in self._holders:
            return pd.DatetimeIndex([])
        if name not in self._complete:
            frame = self._frame(name)
            if not frame.index.has_duplicates:
                index = pd.DatetimeIndex(frame.index)
            else:  # split by level: a time is stored when every level is
                nlev = frame["part"].map(lambda i: len(self._levels_of(int(i))))
                counts = nlev.groupby(level=0).sum()
                index = pd.DatetimeIndex(counts.index[counts.values == len(self.levels(name))])
            self._complete[name] = index
        return self._complete[name]

    def levels(self, name: str) -> list[int]:
        """Pressure levels (hPa) of a level variable.

        The stored order when every part holding it has the same levels, else the union
        of its parts' levels, ascending. Empty for a variable without levels.
        """
        self._require(name)
        if name not in self._holders or not self._has_levels(name):
            return []
        sets = [self._levels_of(i) for i in self._holders[name] if "level" in self.parts[i][name].dims]
        if all(np.array_equal(s, sets[0]) for s in sets[1:]):
            return [int(v) for v in sets[0]]
        return sorted({int(v) for s in sets for v in s})

    def is_static(self, name: str) -> bool:
        return name in self._static and name not in self._holders

    def units(self, name: str) -> dict[str, str | None]:
        """The ``units`` attribute of ``name`` in each file holding it: ``{file: units or None}``."""
        self._require(name)
        ids = list(self._holders.get(name, ())) + ([self._static[name][0]] if name in self._static else [])
        return {self.labels[i]: self.parts[i][name].attrs.get("units") for i in dict.fromkeys(ids)}

    def _require(self, name: str) -> None:
        if self.has_variable(name):
            return
        files = self.labels if len(self.labels) <= 6 else [*self.labels[:5], f"... {len(self.labels) - 5} more"]
        msg = f"variable {name!r} not in {self.source} store {self.path}"
        if len(self.labels) > 1 or self.labels[0] != self.path:
            msg += f" (files: {', '.join(files)})"
        notes = []
        raw = {name} | {s for table in (CDS_SURFACE_NAMES, CDS_LEVEL_NAMES) for s, n in table.items() if n == name}
        for label, ds in zip(self.labels, self.parts):
            for r in sorted(raw & {str(v) for v in ds.data_vars}):
                dims = tuple(str(d) for d in ds[r].dims)
                odd = [d for d in dims if d not in _CANONICAL_DIMS]
                if odd:
                    notes.append(
                        f"{label} has {r!r} with dimensions {dims}: {odd} is not a pressure axis this reader "
                        f"knows ({', '.join(LEVEL_AXES)}) nor time"
                    )
                elif r != name and ds[r].attrs.get("GRIB_typeOfLevel") in _GRIB_PRESSURE_TYPES:
                    notes.append(f"{label} has {r!r} on a pressure level (GRIB_typeOfLevel) but no pressure coordinate")
        if name == "geopotential_at_surface" and "geopotential" in self._holders:
            where = ", ".join(self.labels[i] for i in self._holders["geopotential"][:3])
            notes.append(
                f"the 'z' in {where} has pressure levels: it is the geopotential, not the surface geopotential; "
                "the static 'z' comes from a single-level file ('geopotential' of reanalysis-era5-single-levels) "
                "or data.static_path"
            )
        if notes:
            msg += "; " + "; ".join(notes)
        raise KeyError(f"{msg}; available: {self.variables}")

    def static_field(self, name: str) -> xr.DataArray:
        """A static field as a lazy ``(latitude, longitude)`` array.

        Time-dependent copies (CDS single-level files and ARCO store the invariant
        fields at every time) give their first valid time.

        Raises:
            KeyError: ``name`` is in no part (the message names the files searched).
            ValueError: It has no valid time, or has pressure levels (naming the file).
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
            raise ValueError(f"{self.labels[part]}: {name!r} has pressure levels; it cannot be a static field")
        return da

    def read(
        self,
        name: str,
        times: Sequence[pd.Timestamp],
        levels: Sequence[int] | None = None,
        rows: np.ndarray | None = None,
        cols: np.ndarray | None = None,
        unwritten: dict | None = None,
    ) -> np.ndarray:
        """Read one variable at ``times``: float32 ``(time, [level,] lat, lon)``, C-contiguous.

        Only the requested times, levels (default: all, in :meth:`levels` order), rows and
        columns are indexed; a zarr store reads the chunks holding them, a NetCDF file the
        hyperslabs, each from the part that holds them.

        In a zarr store, a time step any of whose chunks (shards) of ``name`` was never
        written is missing data, not the fill value it would read as (see
        :class:`_ChunkIndex`): without ``unwritten`` it raises; with a dict, such steps are
        NaN in the result and recorded there as ``{time: why}``.

        Raises:
            KeyError: A time not stored (naming the first; callers check with
                :meth:`times` first) or a level in no part (naming it and the file).
            UnwrittenChunksError: (a ``KeyError``) chunks of a requested time step never
                written, naming the variable, the time, the store and the array's fill value.
        """
        self._require(name)
        frame, per_part = self._frames_of(name)
        times = pd.DatetimeIndex(times)
        missing = times.difference(self.times(name))
        if len(missing):
            raise KeyError(f"time {_fmt_time(missing[0])} not stored for {name!r}")
        want = None
        if self._has_levels(name):
            want = np.asarray(self.levels(name) if levels is None else [int(v) for v in levels], dtype=np.int64)
        if not len(times):
            shape = (0,) + (() if want is None else (len(want),))
            shape += (len(self.lat) if rows is None else len(rows), len(self.lon) if cols is None else len(cols))
            return np.empty(shape, dtype=np.float32)
        involved = pd.unique(frame.loc[times.unique(), "part"])
        out: np.ndarray | None = None
        lacking: dict[int, str] = {}
        filled = np.zeros((len(times), 1 if want is None else len(want)), dtype=bool)
        for part_id in involved:
            part_id = int(part_id)
            fp = per_part[part_id]
            hit = fp.index.get_indexer(times)
            j = np.flatnonzero(hit >= 0)
            pos = fp["pos"].values[hit[j]]
            order = np.argsort(pos, kind="stable")
            j, pos = j[order], pos[order]
            da = self.parts[part_id][name]
            if part_id in self._chunks:
                ci = self._chunks[part_id]
                lack, per_step = ci.unwritten(name, pos)
                for jj, pp in zip(j, pos):
                    if int(pp) in lack and int(jj) not in lacking:
                        lacking[int(jj)] = (
                            f"{lack[int(pp)]} of {per_step} chunks of {name!r} at time {_fmt_time(times[jj])} were "
                            f"never written in {self.labels[part_id]} (they read as the array's fill value "
                            f"{ci.fill_value(name)}): missing data"
                        )
            key: list = [pos]
            li = np.array([0])
            if want is not None:
                stored = self._levels_of(part_id)
                li = np.flatnonzero(np.isin(want, stored))
                if not li.size:
                    continue
                key.append(np.array([int(np.flatnonzero(stored == lv)[0]) for lv in want[li]]))
            key.append(slice(None) if rows is None else np.asarray(rows))
            key.append(slice(None) if cols is None else np.asarray(cols))
            arr = np.asarray(da.variable[_as_slices(key)].values)
            if out is None and np.array_equal(j, np.arange(len(times))) and (want is None or li.size == len(want)):
                # one part holds every time and level, in order: the read is the result (a copy
                # only if xarray holds the part in memory, whose views must not be handed out)
                in_memory = getattr(da.variable, "_in_memory", True)
                out = np.array(arr, dtype=np.float32, copy=True if in_memory else None)
                filled[:] = True
                continue
            if out is None:
                lead = (len(times),) if want is None else (len(times), len(want))
                out = np.empty(lead + arr.shape[1 if want is None else 2 :], dtype=np.float32)
            if want is None:
                out[j] = arr
            else:
                out[j[:, None], li[None, :]] = arr
            filled[j[:, None], li[None, :]] = True
        if out is None or not filled.all():  # only a level can be missing here
            jj, kk = np.argwhere(~filled)[0]
            holders = [self.labels[int(p)] for p in involved]
            stored = {int(v) for p in involved for v in self._levels_of(int(p))}
            raise KeyError(
                f"data.levels: level {int(want[kk])} hPa of {name!r} at {_fmt_time(times[jj])} "
                f"not in {', '.join(holders)} (it has {sorted(stored)})"
            )
        if lacking:
            if unwritten is None:
                first = min(lacking)
                more = f" ({len(lacking)} of the times read are)" if len(lacking) > 1 else ""
                raise UnwrittenChunksError(f"{lacking[first]}{more}")
            rows_bad = np.array(sorted(lacking))
            out[rows_bad] = np.nan
            for jj in rows_bad:
                unwritten.setdefault(pd.Timestamp(times[jj]), lacking[int(jj)])
        return np.ascontiguousarray(out)


def _as_slices(key: Sequence) -> tuple:
    """Index arrays that are ascending runs (``[4, 5, 6]``) as slices (``4:7``), others as given.

    The same selection; a zarr store then copies whole chunks instead of fancy-indexing each
    (measured: 2.5 times less CPU per chunk, all of it in zarr's single I/O thread).
    """
    out = []
    for k in key:
        if isinstance(k, np.ndarray) and k.ndim == 1 and k.size and k.dtype.kind in "iu" and np.all(np.diff(k) == 1):
            out.append(slice(int(k[0]), int(k[-1]) + 1))
        else:
            out.append(k)
    return tuple(out)


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


def _standardise(ds: xr.Dataset, label: str = "") -> xr.Dataset:
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
        want = tuple(d for d in _CANONICAL_DIMS if d in dims)
        if set(dims) <= set(_CANONICAL_DIMS) and dims != want:
            ds[name] = ds[name].transpose(*want)
    return ds


def _zarr_store(path: str, source: str, imprecise_times: str = "snap") -> Store:
    opened = _open_parts(path)
    parts = [(label, canonicalise_grid(_standardise(ds, label))) for label, ds, _ in opened]
    valid = None
    if source == "arco":
        valid = arco_valid_span(parts[0][1].attrs, path)
    return Store(
        parts, source=source, path=path, valid=valid, sources=[s for _, _, s in opened], imprecise_times=imprecise_times
    )


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


def _cds_dataset(ds: xr.Dataset, label: str) -> xr.Dataset:
    """One CDS part in WeatherBench 2 names and canonical grid.

    ``z`` with a pressure axis is the geopotential, ``z`` on ``(time, latitude,
    longitude)`` only the surface geopotential; a variable with any other axis, or marked
    as a pressure-level field without a pressure coordinate, keeps its CDS name and is
    not used.
    """
    ds = _standardise(ds, label)
    renames = {}
    for name, da in ds.data_vars.items():
        dims = set(da.dims)
        if "level" in dims:
            table = CDS_LEVEL_NAMES
        elif dims <= {"time", "latitude", "longitude"} and da.attrs.get("GRIB_typeOfLevel") not in _GRIB_PRESSURE_TYPES:
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


def cds_parts(
    path: str | os.PathLike | Sequence[str | os.PathLike], cache_dir: str | os.PathLike | None = None
) -> list[tuple[str, xr.Dataset]]:
    """The ``(label, dataset)`` parts of CDS file(s) in WeatherBench 2 names (see :func:`cds_files`, :func:`open_parts`).

    Raises:
        FileNotFoundError, ValueError: As :func:`cds_files`, :func:`open_parts` and
            :func:`canonicalise_grid`, naming the file.
    """
    return [(label, ds) for label, ds, _ in _cds_opened(path, cache_dir)]


def _cds_opened(path, cache_dir=None) -> list[tuple[str, xr.Dataset, _PartSource]]:
    return [
        (label, _cds_dataset(ds, label), src) for f in cds_files(path) for label, ds, src in _open_parts(f, cache_dir)
    ]


def _cds_store(path, source: str = "cds", imprecise_times: str = "snap") -> Store:
    opened = _cds_opened(path)
    return Store(
        [(label, ds) for label, ds, _ in opened],
        source=source,
        path=str(path) if isinstance(path, (str, os.PathLike)) else ",".join(map(str, path)),
        sources=[s for _, _, s in opened],
        imprecise_times=imprecise_times,
    )


def open_store(source: str, path, imprecise_times: str = "snap") -> Store:
    """Open ``path`` with the adapter of ``source`` (one of :data:`SOURCES`).

    ``imprecise_times``: ``"snap"`` or ``"error"`` for a time axis stored with too little
    precision (:func:`snap_times`).
    """
    if source not in SOURCES:
        raise ValueError(f"data.source: expected one of {list(SOURCES)}, got {source!r}")
    if source == "cds":
        return _cds_store(path, imprecise_times=imprecise_times)
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"data.path: a {source} source is one store, got {path!r}")
    return _zarr_store(str(path), source, imprecise_times)


def _is_zarr(path: str) -> bool:
    """Whether ``path`` is a zarr store (a folder, a zipped store or a ``gs://`` URL), by content."""
    if path.startswith("gs://"):
        return True
    try:
        kind = sniff(path)
        return kind == "zarr" or (kind == "zip" and zip_holds_zarr(path))
    except (OSError, ValueError):
        return False


def open_static(path, imprecise_times: str = "snap") -> Store:
    """Open a separate static-field source: a zarr store (WeatherBench 2 names) or CDS file(s).

    Which one is told from the content. In CDS files, only a ``z`` without a pressure
    axis is the surface geopotential.
    """
    if isinstance(path, (str, os.PathLike)) and _is_zarr(str(path)):
        return _zarr_store(str(path), "static", imprecise_times)
    return _cds_store(path, source="static", imprecise_times=imprecise_times)
