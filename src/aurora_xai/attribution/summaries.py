"""Summaries of a relevance dataset (from :func:`compute_relevance`).

* :func:`vertical_profile`: relevance per pressure level and atmospheric variable over
  a box (sum of ``|R|`` or signed sum, over history steps and the box's cells);
* :func:`relevance_centroids`: horizontal centroid of ``|R|`` per variable and level
  (latitude: weighted mean; longitude: weighted circular mean, safe across 0/360);
* :func:`relevance_table`: signed and absolute relevance per variable and level, with
  shares of the total.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from aurora_xai.regions import Region

__all__ = [
    "circular_mean_lon",
    "relevance_centroids",
    "relevance_table",
    "variable_kind",
    "vertical_profile",
]


def variable_kind(da: xr.DataArray) -> str:
    """``surface``, ``atmospheric`` or ``static`` (from attrs, else from dimensions)."""
    kind = da.attrs.get("kind")
    if kind:
        return str(kind)
    if "level" in da.dims:
        return "atmospheric"
    return "surface" if "history" in da.dims else "static"


def _box(ds: xr.Dataset, region: Region | None) -> xr.DataArray:
    if region is None:
        return xr.DataArray(
            np.ones((ds.sizes["latitude"], ds.sizes["longitude"]), dtype=bool),
            dims=("latitude", "longitude"),
        )
    mask = region.mask(ds["latitude"].values, ds["longitude"].values)
    return xr.DataArray(mask, dims=("latitude", "longitude"))


def _reduce_history(da: xr.DataArray) -> xr.DataArray:
    return da.sum("history") if "history" in da.dims else da


def _atmospheric(ds: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    names = [v for v in ds.data_vars if variable_kind(ds[v]) == "atmospheric"]
    if variables is not None:
        missing = set(variables) - set(names)
        if missing:
            raise KeyError(f"not atmospheric relevance variables: {sorted(missing)}")
        names = [v for v in names if v in variables]
    return names


def vertical_profile(
    ds: xr.Dataset,
    region: Region | None = None,
    signed: bool = False,
    variables: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Relevance per pressure level (index, hPa) and atmospheric variable (columns).

    Sums ``|R|`` (or ``R`` when ``signed``) over history steps and the cells of
    ``region`` (all cells when None).
    """
    box = _box(ds, region)
    cols = {}
    for v in _atmospheric(ds, variables):
        r = ds[v] if signed else abs(ds[v])
        r = _reduce_history(r).where(box, 0.0)
        cols[v] = r.sum(("latitude", "longitude")).values
    df = pd.DataFrame(cols, index=pd.Index(ds["level"].values, name="level_hPa"))
    df.attrs["quantity"] = "signed relevance" if signed else "absolute relevance"
    df.attrs["region"] = region.name if region is not None else "all"
    return df


def circular_mean_lon(lon: np.ndarray, weights: np.ndarray) -> float:
    """Weighted circular mean of longitudes in degrees, in [0, 360) (NaN if no weight)."""
    w = np.asarray(weights, dtype=float)
    if not np.isfinite(w).all() or w.sum() <= 0:
        return float("nan")
    rad = np.deg2rad(np.asarray(lon, dtype=float))
    s, c = (w * np.sin(rad)).sum(), (w * np.cos(rad)).sum()
    if np.hypot(s, c) < 1e-12 * w.sum():
        return float("nan")  # weights spread evenly around the circle: no centroid
    out = float(np.rad2deg(np.arctan2(s, c))) % 360.0
    return 0.0 if out > 360.0 - 1e-9 else out  # -1e-15 % 360 rounds to 360


def _centroid(weights: xr.DataArray) -> tuple[float, float, float]:
    w = weights.values
    total = float(w.sum())
    if total <= 0:
        return float("nan"), float("nan"), 0.0
    lat = weights["latitude"].values
    lon = weights["longitude"].values
    lat_c = float((w.sum(axis=1) * lat).sum() / total)
    lon_c = circular_mean_lon(lon, w.sum(axis=0))
    return lat_c, lon_c, total


def relevance_centroids(
    ds: xr.Dataset,
    region: Region | None = None,
    variables: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Centroid of ``|R|`` (summed over history) per variable and level.

    Returns a frame with columns ``variable``, ``kind``, ``level`` (hPa; NaN for surface
    and static variables), ``lat``, ``lon`` (in [0, 360), circular mean) and
    ``abs_relevance`` (the total weight).
    """
    box = _box(ds, region)
    rows = []
    names = list(ds.data_vars) if variables is None else list(variables)
    for v in names:
        da = ds[v]
        kind = variable_kind(da)
        w = _reduce_history(abs(da)).where(box, 0.0)
        if "level" in w.dims:
            for lev in w["level"].values:
                lat, lon, tot = _centroid(w.sel(level=lev))
                rows.append((v, kind, float(lev), lat, lon, tot))
        else:
            lat, lon, tot = _centroid(w)
            rows.append((v, kind, float("nan"), lat, lon, tot))
    return pd.DataFrame(rows, columns=["variable", "kind", "level", "lat", "lon", "abs_relevance"])


def relevance_table(ds: xr.Dataset, region: Region | None = None) -> pd.DataFrame:
    """Signed and absolute relevance per variable and level, with shares.

    Columns: ``variable``, ``kind``, ``level`` (NaN for surface/static), ``signed``,
    ``absolute``, ``share_absolute`` (of the total ``|R|``), ``share_signed`` (of the
    total signed relevance), and ``absolute_h<offset>`` per history step.
    """
    box = _box(ds, region)
    rows = []
    hist = ds["history"].values if "history" in ds.coords else []
    for v in ds.data_vars:
        da = ds[v].where(box, 0.0)
        kind = variable_kind(ds[v])
        levels = da["level"].values if "level" in da.dims else [None]
        for lev in levels:
            d = da.sel(level=lev) if lev is not None else da
            row = {
                "variable": v,
                "kind": kind,
                "level": float(lev) if lev is not None else float("nan"),
                "signed": float(d.sum()),
                "absolute": float(abs(d).sum()),
            }
            for h in hist:
                key = f"absolute_h{h:g}"
                row[key] = float(abs(d.sel(history=h)).sum()) if "history" in d.dims else np.nan
            rows.append(row)
    df = pd.DataFrame(rows)
    tot_abs = df["absolute"].sum()
    tot_signed = df["signed"].sum()
    df.insert(5, "share_absolute", df["absolute"] / tot_abs if tot_abs > 0 else np.nan)
    df.insert(6, "share_signed", df["signed"] / tot_signed if tot_signed != 0 else np.nan)
    return df
