"""Figures of relevance (matplotlib, Agg backend, no network or map data needed).

Coastlines are drawn as the 0.5 contour of the land-sea mask (the ``land_sea_mask``
coordinate that :func:`compute_relevance` stores, or one passed in). Relevance maps
use a diverging colormap centred on zero with symmetric limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["plot_centroid_tilt", "plot_relevance_maps", "plot_vertical_profile", "zoom_dataset"]

DIVERGING_CMAP = "RdBu_r"


def _symmetric_limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    v = float(finite.max()) if finite.size else 0.0
    return v if v > 0 else 1.0


def zoom_dataset(ds: xr.Dataset, region, margin: float = 20.0) -> tuple[xr.Dataset, float]:
    """Cut ``ds`` to ``region`` plus ``margin`` degrees, longitudes unwrapped about its centre.

    Returns the cut dataset, whose ``longitude`` runs continuously (it may go below 0 or
    above 360, so a box across the prime meridian is drawn in one piece), and the centre
    longitude used.
    """
    _, centre = region.centre()
    width = 360.0 if region.full_circle else (region.lon_max % 360 - region.lon_min % 360) % 360
    half = min(180.0, width / 2 + margin)
    lon = ds["longitude"].values
    unwrapped = ((lon - centre + 180.0) % 360.0) - 180.0 + centre
    out = ds.assign_coords(longitude=unwrapped).sortby("longitude")
    out = out.sel(longitude=slice(centre - half, centre + half))
    lat_lo, lat_hi = max(-90.0, region.lat_min - margin), min(90.0, region.lat_max + margin)
    lat = out["latitude"].values
    keep = (lat >= lat_lo) & (lat <= lat_hi)
    return out.isel(latitude=np.flatnonzero(keep)), centre


def _draw_track(ax: plt.Axes, track: Sequence[tuple[float, float]], centre: float | None = None) -> None:
    pts = np.asarray(track, dtype=float)
    if pts.size == 0:
        return
    lat, lon = pts[:, 0], pts[:, 1] % 360.0
    if centre is not None:
        lon = ((lon - centre + 180.0) % 360.0) - 180.0 + centre
    # Break the line where it jumps across the 0/360 edge of the plot.
    jumps = np.flatnonzero(np.abs(np.diff(lon)) > 180) + 1
    for seg_lat, seg_lon in zip(np.split(lat, jumps), np.split(lon, jumps)):
        ax.plot(seg_lon, seg_lat, "-", color="k", lw=1.2)
    ax.plot(lon, lat, "o", color="k", ms=2.5, label="track")
    ax.plot(lon[-1], lat[-1], "*", color="gold", mec="k", ms=9)


def plot_relevance_maps(
    ds: xr.Dataset,
    variable: str,
    levels: Sequence[float] | None = None,
    history: float | None = None,
    track: Sequence[tuple[float, float]] | None = None,
    land_sea_mask: np.ndarray | xr.DataArray | None = None,
    title: str | None = None,
    ncols: int = 2,
    zoom=None,
    margin: float = 20.0,
) -> plt.Figure:
    """Maps of the relevance of ``variable`` at selected pressure levels.

    Args:
        ds: Relevance dataset.
        variable: Data variable (atmospheric, surface or ``static_*``).
        levels: Pressure levels to show (atmospheric variables; default all).
        history: History offset in hours to show; None sums over history steps.
        track: Storm track as a list of ``(lat, lon)`` points, drawn on every panel.
        land_sea_mask: ``(latitude, longitude)`` mask; default the dataset's
            ``land_sea_mask`` coordinate when present.
        title: Figure title (default: variable and target).
        ncols: Panels per row.
        zoom: Optional :class:`~aurora_xai.regions.Region` to cut the maps to (plus
            ``margin`` degrees), drawn in one piece also across the prime meridian.
        margin: Degrees around ``zoom``.
    """
    centre = None
    if zoom is not None:
        if land_sea_mask is not None:
            ds = ds.assign_coords(land_sea_mask=(("latitude", "longitude"), np.asarray(land_sea_mask)))
            land_sea_mask = None
        ds, centre = zoom_dataset(ds, zoom, margin)
    da = ds[variable]
    if "history" in da.dims:
        da = da.sum("history") if history is None else da.sel(history=history)
    if "level" in da.dims:
        sel = list(da["level"].values) if levels is None else list(levels)
        panels = [(f"{float(lev):g} hPa", da.sel(level=lev)) for lev in sel]
    else:
        panels = [("surface" if "static" not in variable else "static", da)]
    lsm = land_sea_mask
    if lsm is None and "land_sea_mask" in ds.coords:
        lsm = ds["land_sea_mask"]
    vmax = _symmetric_limit(np.stack([p.values for _, p in panels]))
    n = len(panels)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.8 * ncols, 2.8 * nrows + 0.6), squeeze=False, constrained_layout=True
    )
    lon = ds["longitude"].values
    lat = ds["latitude"].values
    mesh = None
    for ax, (label, p) in zip(axes.flat, panels):
        mesh = ax.pcolormesh(lon, lat, p.values, cmap=DIVERGING_CMAP, vmin=-vmax, vmax=vmax, shading="nearest")
        if lsm is not None:
            m = np.asarray(lsm, dtype=float)
            if np.nanmin(m) < 0.5 < np.nanmax(m):
                ax.contour(lon, lat, m, levels=[0.5], colors="0.25", linewidths=0.6)
        if track is not None:
            _draw_track(ax, track, centre)
        if zoom is not None:
            b0, b1 = zoom.lon_min % 360, zoom.lon_max % 360
            b0 = ((b0 - centre + 180.0) % 360.0) - 180.0 + centre
            b1 = b0 + ((b1 - b0) % 360.0)
            ax.plot(
                [b0, b1, b1, b0, b0],
                [zoom.lat_min, zoom.lat_min, zoom.lat_max, zoom.lat_max, zoom.lat_min],
                "--",
                color="0.4",
                lw=0.8,
            )
        ax.set_title(label)
        ax.set_xlabel("Longitude (°E)")
        ax.set_ylabel("Latitude (°N)")
        ax.set_xlim(lon.min(), lon.max())
        ax.set_ylim(lat.min(), lat.max())
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    cb = fig.colorbar(mesh, ax=axes.ravel().tolist(), shrink=0.9)
    cb.set_label(f"Relevance of {variable} (target units)")
    fig.suptitle(title or f"{variable}: {ds.attrs.get('target', '')}", fontsize=9)
    return fig


def pressure_axis(ax: plt.Axes, levels: np.ndarray) -> None:
    """A logarithmic pressure axis (hPa) on ``ax``'s y, surface at the bottom, one tick per level."""
    ax.set_yscale("log")
    ax.set_ylim(levels.max() * 1.05, levels.min() / 1.05)
    ax.set_yticks(levels)
    ax.set_yticklabels([f"{lev:g}" for lev in levels])
    ax.minorticks_off()
    ax.set_ylabel("Pressure (hPa)")


def plot_vertical_profile(
    profile: pd.DataFrame,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Relevance per pressure level (from :func:`vertical_profile`), one line per variable."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    else:
        fig = ax.figure
    levels = profile.index.values.astype(float)
    for v in profile.columns:
        ax.plot(profile[v].values, levels, "o-", label=str(v))
    pressure_axis(ax, levels)
    ax.set_xlabel(profile.attrs.get("quantity", "relevance").capitalize())
    if profile.attrs.get("quantity") == "signed relevance":
        ax.axvline(0.0, color="0.5", lw=0.8)
    ax.legend(fontsize=8)
    ax.set_title(title or f"Vertical relevance profile ({profile.attrs.get('region', 'all')})")
    return fig


def _unwrap_about(lon: np.ndarray, centre: float) -> np.ndarray:
    return centre + ((np.asarray(lon, dtype=float) - centre + 180.0) % 360.0 - 180.0)


def plot_centroid_tilt(
    centroids: pd.DataFrame,
    variables: Sequence[str] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Centroid longitude and latitude against pressure (from :func:`relevance_centroids`).

    Longitudes are unwrapped about the circular mean of all plotted centroids, so a
    westward tilt with height shows as a straight line also across 0/360.
    """
    from aurora_xai.attribution.summaries import circular_mean_lon

    df = centroids[np.isfinite(centroids["level"].astype(float))]
    if variables is not None:
        df = df[df["variable"].isin(list(variables))]
    df = df[np.isfinite(df["lon"]) & np.isfinite(df["lat"])]
    fig, (ax_lon, ax_lat) = plt.subplots(1, 2, figsize=(8, 4.2), sharey=True, constrained_layout=True)
    centre = circular_mean_lon(df["lon"].values, np.ones(len(df))) if len(df) else 180.0
    centre = 180.0 if not np.isfinite(centre) else centre
    for v, g in df.groupby("variable", sort=False):
        g = g.sort_values("level")
        ax_lon.plot(_unwrap_about(g["lon"].values, centre), g["level"].values, "o-", label=v)
        ax_lat.plot(g["lat"].values, g["level"].values, "o-", label=v)
    if len(df):
        levels = np.sort(df["level"].unique().astype(float))
        ax_lon.set_yscale("log")
        ax_lon.set_ylim(levels.max() * 1.05, levels.min() / 1.05)
        ax_lon.set_yticks(levels)
        ax_lon.set_yticklabels([f"{lev:g}" for lev in levels])
        ax_lon.minorticks_off()
    ax_lon.set_ylabel("Pressure (hPa)")
    ax_lon.set_xlabel("Centroid longitude (°E)")
    ax_lat.set_xlabel("Centroid latitude (°N)")
    ax_lon.legend(fontsize=8)
    fig.suptitle(title or "Relevance centroid by pressure level", fontsize=10)
    return fig
