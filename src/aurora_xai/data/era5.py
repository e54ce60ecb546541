"""Reading ERA5 stores into Aurora batches.

One store is opened once per job; static fields are read (and regridded if needed)
once; each sample then reads exactly the variables, levels and the two history times it
needs. The result is an ``aurora.Batch`` in Aurora's conventions: latitude strictly
decreasing, longitude increasing in [0, 360), float32, the configured pressure levels.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .variables import ATMOS_VARS, LEVELS, STATIC_VARS, SURF_VARS, WB2_NAMES

__all__ = ["ERA5Source", "MissingTimeError", "canonicalise_grid", "check_grid"]

log = logging.getLogger(__name__)


class MissingTimeError(KeyError):
    """A requested time is not in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


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
    count must be a multiple of it or one more (then the southernmost row, the south pole
    on a pole-to-pole grid, is cropped by the model).
    """
    if nlon % patch_size:
        raise ValueError(f"grid has {nlon} longitudes: Aurora needs a multiple of the patch size {patch_size}")
    if nlat % patch_size not in (0, 1):
        raise ValueError(
            f"grid has {nlat} latitudes: Aurora needs a multiple of the patch size {patch_size} or one more "
            f"(the last row is cropped); crop the store to {nlat - nlat % patch_size} latitudes"
        )


@dataclasses.dataclass
class ERA5Source:
    """An ERA5 store in the WeatherBench 2 schema, opened once.

    Args:
        path: Local zarr path or ``gs://`` URL (opened anonymously through gcsfs).
        levels: Pressure levels to read, hPa.
        history: Time between the two history steps.
        static_path: Optional separate store or NetCDF file with the static fields.
        on_missing: ``"error"`` (default) or ``"skip"`` for requested times not in the store.
    """

    path: str
    levels: Sequence[int] = LEVELS
    history: pd.Timedelta = pd.Timedelta(hours=6)
    static_path: str | None = None
    on_missing: str = "error"

    def __post_init__(self) -> None:
        if self.on_missing not in ("error", "skip"):
            raise ValueError(f"data.on_missing: expected 'error' or 'skip', got {self.on_missing!r}")
        self.ds = canonicalise_grid(_open(self.path))
        self.names = WB2_NAMES
        missing = [
            name
            for kind in ("surf", "atmos")
            for name in self.names[kind].values()
            if name not in self.ds.data_vars
        ]
        if missing:
            raise KeyError(
                f"variables {missing} not in store {self.path}; available: {sorted(self.ds.data_vars)}"
            )
        store_levels = [int(v) for v in self.ds["level"].values]
        absent = [lv for lv in self.levels if int(lv) not in store_levels]
        if absent:
            raise KeyError(f"data.levels: levels {absent} hPa not in store {self.path} (it has {store_levels})")
        self.levels = tuple(int(v) for v in self.levels)
        self.lat = self.ds["latitude"].values.astype(np.float64)
        self.lon = self.ds["longitude"].values.astype(np.float64)
        check_grid(len(self.lat), len(self.lon))
        self._time_index = pd.DatetimeIndex(self.ds["time"].values)
        self.static = self._read_static()
        log.info(
            "opened %s: %d times, grid %dx%d, levels %s",
            self.path,
            len(self._time_index),
            len(self.lat),
            len(self.lon),
            list(self.levels),
        )

    # ----------------------------------------------------------------------------------
    def _read_static(self) -> dict[str, torch.Tensor]:
        src = self.ds
        if self.static_path:
            src = canonicalise_grid(_open(self.static_path))
        out = {}
        for short, name in self.names["static"].items():
            if name not in src.data_vars:
                raise KeyError(f"static variable {name!r} not found; available: {sorted(src.data_vars)}")
            da = src[name]
            if "time" in da.dims:
                da = da.isel(time=0)
            if da.sizes["latitude"] != len(self.lat) or da.sizes["longitude"] != len(self.lon) or not (
                np.allclose(da["latitude"].values, self.lat) and np.allclose(da["longitude"].values, self.lon)
            ):
                log.info("regridding static %s to the store grid (once per job)", name)
                da = da.interp(latitude=self.lat, longitude=self.lon, method="linear")
            arr = np.asarray(da.values, dtype=np.float32)
            _check_finite(arr, name, None, "static")
            out[short] = torch.from_numpy(arr)
        return out

    def has_time(self, time: pd.Timestamp) -> bool:
        """Whether ``time`` and its history step are both in the store."""
        t = pd.Timestamp(time)
        return t in self._time_index and (t - self.history) in self._time_index

    def _time_positions(self, time: pd.Timestamp) -> list[int]:
        t = pd.Timestamp(time)
        out = []
        for tt in (t - self.history, t):
            if tt not in self._time_index:
                raise MissingTimeError(
                    f"time {tt:%Y-%m-%d %H:%M} (needed for the sample at {t:%Y-%m-%d %H:%M}) "
                    f"is not in store {self.path}"
                )
            out.append(int(self._time_index.get_loc(tt)))
        return out

    def read_fields(self, time: pd.Timestamp) -> dict[str, np.ndarray]:
        """Read the raw fields of one sample: ``{store name: array}``.

        Surface arrays have shape ``(2, lat, lon)``, atmospheric ``(2, level, lat, lon)``;
        history step first. Only these variables, levels and two times are read.
        """
        pos = self._time_positions(time)
        level_pos = [int(np.flatnonzero(self.ds["level"].values == lv)[0]) for lv in self.levels]
        out = {}
        for kind in ("surf", "atmos"):
            for name in self.names[kind].values():
                var = self.ds[name].variable
                if kind == "atmos":
                    arr = var[pos, level_pos].values
                else:
                    arr = var[pos].values
                arr = np.asarray(arr, dtype=np.float32)
                _check_finite(arr, name, self.levels if kind == "atmos" else None, pd.Timestamp(time), self.history)
                out[name] = arr
        return out

    def batch(self, time: pd.Timestamp):
        """The Aurora batch whose current time is ``time`` (history ``time - history``).

        Returns:
            ``aurora.Batch`` with surface variables ``(1, 2, lat, lon)``, atmospheric
            ``(1, 2, level, lat, lon)`` and static ``(lat, lon)``.
        """
        from aurora import Batch, Metadata

        raw = self.read_fields(time)
        surf = {s: torch.from_numpy(raw[n])[None] for s, n in self.names["surf"].items()}
        atmos = {s: torch.from_numpy(raw[n])[None] for s, n in self.names["atmos"].items()}
        t = pd.Timestamp(time).to_pydatetime()
        return Batch(
            surf_vars=surf,
            static_vars=dict(self.static),
            atmos_vars=atmos,
            metadata=Metadata(
                lat=torch.from_numpy(self.lat),
                lon=torch.from_numpy(self.lon),
                time=(t,),
                atmos_levels=self.levels,
            ),
        )

    def bytes_needed(self) -> int:
        """Uncompressed bytes of the fields one sample needs."""
        nl, ny, nx = len(self.levels), len(self.lat), len(self.lon)
        return 2 * 4 * ny * nx * (len(SURF_VARS) + len(ATMOS_VARS) * nl)


def _check_finite(arr: np.ndarray, name: str, levels, time, history=None) -> None:
    if np.all(np.isfinite(arr)):
        return
    idx = np.argwhere(~np.isfinite(arr))[0]
    if time == "static":
        raise ValueError(f"NaN or inf in static variable {name!r} at grid index {tuple(idx)}")
    t = pd.Timestamp(time)
    step_time = t - history if idx[0] == 0 else t
    where = f"variable {name!r}"
    if levels is not None:
        where += f", level {levels[idx[1]]} hPa"
    raise ValueError(f"NaN or inf in {where}, time {step_time:%Y-%m-%d %H:%M} (grid index {tuple(idx[-2:])})")


def _open(path: str) -> xr.Dataset:
    """Open a zarr store or NetCDF file lazily without dask."""
    p = str(path)
    if p.startswith("gs://"):
        import gcsfs  # only needed for cloud stores

        fs = gcsfs.GCSFileSystem(token="anon")
        return xr.open_zarr(fs.get_mapper(p), chunks=None, consolidated=True)
    if p.endswith(".nc") or p.endswith(".nc4"):
        return xr.open_dataset(p, chunks=None)
    if not Path(p).exists():
        raise FileNotFoundError(f"data.path: no store at {p}")
    return xr.open_zarr(p, chunks=None)


def sample_times(times: Sequence[datetime | pd.Timestamp]) -> pd.DatetimeIndex:
    """Normalise a sequence of times to a ``DatetimeIndex``."""
    return pd.DatetimeIndex([pd.Timestamp(t) for t in times])
