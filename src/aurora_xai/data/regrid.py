"""Regridding a static field onto the dynamic grid (bilinear, or nearest for categories)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .grid_conventions import canonicalise_grid

__all__ = ["regrid_static"]


def _axis_weights(src: np.ndarray, dst: np.ndarray, periodic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``i0, i1`` into ``src`` and weights ``w`` of ``i1`` for linear interpolation."""
    src = np.asarray(src, dtype=np.float64)
    n = len(src)
    idx = np.arange(n)
    if periodic:
        src = np.concatenate([[src[-1] - 360.0], src, [src[0] + 360.0]])
        idx = np.concatenate([[n - 1], idx, [0]])
    hi = np.clip(np.searchsorted(src, dst, side="right"), 1, len(src) - 1)
    lo = hi - 1
    w = np.clip((dst - src[lo]) / (src[hi] - src[lo]), 0.0, 1.0)
    return idx[lo], idx[hi], w


def regrid_static(da: xr.DataArray, lat: np.ndarray, lon: np.ndarray, method: str = "linear") -> np.ndarray:
    """Interpolate a static ``(latitude, longitude)`` field to another grid (numpy only).

    Bilinear (``linear``) or ``nearest`` (for categorical fields such as soil type);
    longitude is periodic, latitudes beyond the source's range take its edge rows.

    Returns:
        float32 ``(len(lat), len(lon))``.
    """
    da = canonicalise_grid(da.to_dataset(name="f"))["f"]
    vals = np.asarray(da.values, dtype=np.float64)
    slat = da["latitude"].values[::-1].astype(np.float64)  # increasing
    vals = vals[::-1]
    slon = da["longitude"].values.astype(np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64) % 360
    if method == "nearest":
        r0, r1, wr = _axis_weights(slat, lat, periodic=False)
        c0, c1, wc = _axis_weights(slon, lon, periodic=True)
        rows = np.where(wr < 0.5, r0, r1)
        cols = np.where(wc < 0.5, c0, c1)
        return np.ascontiguousarray(vals[np.ix_(rows, cols)], dtype=np.float32)
    if method != "linear":
        raise ValueError(f"regrid method must be linear or nearest, got {method!r}")
    r0, r1, wr = _axis_weights(slat, lat, periodic=False)
    c0, c1, wc = _axis_weights(slon, lon, periodic=True)
    rowwise = vals[r0] * (1 - wr)[:, None] + vals[r1] * wr[:, None]
    out = rowwise[:, c0] * (1 - wc)[None] + rowwise[:, c1] * wc[None]
    return np.ascontiguousarray(out, dtype=np.float32)
