"""The grid convention of every store: latitude decreasing, longitude in [0, 360) increasing;
the grid sizes Aurora takes."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

log = logging.getLogger(__name__)

__all__ = ["canonicalise_grid", "check_grid"]


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
