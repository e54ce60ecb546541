"""The static fields of a store: read once, unmasked where the fill value is a real value, regridded.

A static field missing at the first time of a store that keeps it at every time (ARCO-ERA5
marks missing data with time steps of NaN) is taken from a later time
(:data:`STATIC_SEARCH_STEPS`); a field whose NaNs are only its store's fill value decoded
as missing (a zarr v2 land-sea mask with fill value 0) is read as stored when every chunk
of it is written, else refused naming the fill value; a field on another grid is
regridded onto the dynamic grid (:func:`aurora_xai.data.regrid.regrid_static`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np
import xarray as xr

from .field_checks import check_finite, declared_of, files_label
from .regrid import regrid_static
from .store import Store
from .units import UnitConversion, check_plausible

__all__ = ["STATIC_SEARCH_STEPS", "read_static"]

log = logging.getLogger(__name__)


def read_static(
    src: Store,
    names: Mapping[str, str],
    lat: np.ndarray,
    lon: np.ndarray,
    declared_units: Callable[[Store, str, str, str], UnitConversion | None],
) -> dict[str, np.ndarray]:
    """The static fields ``names`` (``{aurora name: store name}``) of ``src`` on the grid ``lat, lon``.

    Each is read, unmasked (see :func:`_unmask_static`), regridded if its grid differs
    (nearest for soil type, else bilinear), checked for non-finite values, converted from
    its declared units (``declared_units(store, "static", short, name)``: the conversion,
    or None) and checked for plausible values.

    Returns:
        ``{aurora name: float32 (lat, lon)}``.
    """
    out = {}
    for short, name in names.items():
        if not src.has_variable(name):
            raise KeyError(f"static variable {name!r} not found in {src.path}; available: {src.variables}")
        conv = declared_units(src, "static", short, name)
        da = _unmask_static(src, name, _static_field(src, name))
        same = da.sizes["latitude"] == len(lat) and da.sizes["longitude"] == len(lon)
        if not (same and np.allclose(da["latitude"].values, lat) and np.allclose(da["longitude"].values, lon)):
            log.info("regridding static %s to the store grid (once per job)", name)
            arr = regrid_static(da, lat, lon, method="nearest" if short == "slt" else "linear")
        else:
            arr = np.ascontiguousarray(da.values, dtype=np.float32)
        check_finite(arr, name, None, "static", lat=lat, lon=lon)
        if conv is not None:
            arr = conv.apply(arr)
        where = files_label(list(src.units(name)))
        check_plausible("static", short, arr, name, where, lat=lat, lon=lon, declared=declared_of(conv))
        out[short] = arr
    return out


#: How many later time steps are tried when a time-dependent copy of a static field is NaN.
STATIC_SEARCH_STEPS = 240


def _static_field(src: Store, name: str) -> xr.DataArray:
    """A static field, loaded; a time-dependent copy stored as NaN is taken from a later time.

    ARCO-ERA5 stores the invariant fields at every time and marks missing data with time
    steps of NaN, so its first valid time may hold nothing; the next of the following
    :data:`STATIC_SEARCH_STEPS` times that holds values is used (a warning names both).
    """
    da = src.static_field(name).load()
    if src.is_static(name) or not np.isnan(np.asarray(da.values)).all():
        return da
    times = src.times(name)
    for t in times[1 : STATIC_SEARCH_STEPS + 1]:
        vals = src.read(name, [t])[0]
        if not np.isnan(vals).all():
            log.warning(
                "static field %r is stored as NaN at %s (missing data); taken from %s",
                name,
                f"{times[0]:%Y-%m-%d %H:%M}",
                f"{t:%Y-%m-%d %H:%M}",
            )
            coords = {"latitude": src.lat, "longitude": src.lon}
            return xr.DataArray(vals, dims=("latitude", "longitude"), coords=coords, attrs=da.attrs)
    return da  # entirely NaN: the NaN check names it


def _unmask_static(src: Store, name: str, da: xr.DataArray) -> xr.DataArray:
    """A static field whose NaNs are only its store's fill value decoded as missing, read as stored.

    xarray decodes cells equal to a variable's fill value (``_FillValue``; for zarr v2 the
    array's ``fill_value``) as NaN. A land-sea mask written with fill value 0 then loses
    its ocean (0 is a real value there), and the NaN check would report NaN the file does
    not contain. When the NaNs are exactly the cells whose stored value equals the fill
    value, and the field is a zarr array every chunk of which was written (so no cell is
    missing data: the fill value only stands in for chunks never written), the stored
    values are used, with a warning. Otherwise the error names the fill value, the cells
    and the remedy.

    Returns:
        ``da`` itself, or the field decoded without fill masking.

    Raises:
        ValueError: NaNs that are the fill value, where the field is not a complete zarr
            array (a NetCDF file declaring it, or chunks never written).
    """
    values = np.asarray(da.values)
    nan = ~np.isfinite(values)
    if not nan.any():
        return da
    fill = src.fill_value(name)
    if fill is None or not np.isfinite(fill):
        return da
    raw = src.unmasked_static(name)
    if raw is None or raw.shape != da.shape:
        return da
    stored = np.asarray(raw.values)
    if not (np.array_equal(nan, stored == fill) and np.isfinite(stored).all()):
        return da
    where = files_label(list(src.units(name)))
    count = f"{int(nan.sum())} of {nan.size} cells"
    unwritten = src.unwritten_static(name)
    complete = name in src._static and src._static[name][0] in src._chunks and unwritten is None
    if complete:
        log.warning(
            "static variable %r in %s: %s hold %g, the store's fill value, which xarray decodes as missing (NaN); "
            "every chunk of the field is written, so they are real values and are read as stored",
            name,
            where,
            count,
            fill,
        )
        return raw.assign_coords(latitude=da["latitude"].values, longitude=da["longitude"].values)
    why = unwritten or "the file declares it as the value of missing cells"
    raise ValueError(
        f"static variable {name!r} in {where}: {count} hold {fill:g}, the fill value (_FillValue) of the variable, "
        f"which xarray decodes as missing (NaN); the stored values themselves are finite ({why}). If {fill:g} is a "
        f"real value there (e.g. ocean in a land-sea mask), open the store without masking (xarray's "
        f"mask_and_scale=False, or decode_cf with the variable's _FillValue attribute removed), or rewrite the "
        f"store with a fill value the field never takes (e.g. NaN)"
    )
