"""Figures of steering (matplotlib, Agg backend): dose-response and response maps.

:func:`plot_dose_response`: one row per steered direction, one column per quantity; the
direction's response (mean over dates against the reconstruction-only arm, with the
date-episode bootstrap band of :func:`~aurora_xai.interventions.summary.bootstrap_weights`)
beside the random directions' mean responses (grey lines and their range) against the
dose alpha, zero at alpha = 0 (the reconstruction only).

:func:`plot_response_maps`: the forecast's change over the region and around it, mean
over dates, at the largest dose, one row per direction and a last row for the
reconstruction only against the control (the SAE's downstream effect); coastlines as the
0.5 contour of the land-sea mask, the region dashed, a symmetric diverging colour scale
per panel with its units.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..interventions.figures import dose_axis  # noqa: E402

__all__ = ["plot_dose_response", "plot_response_maps"]


def _title(ds: xr.Dataset, d: str) -> str:
    f = int(ds["feature"].sel(direction=d))
    if f < 0:
        return d.replace("_", " ")
    return f"feature {f} (mean activation {float(ds['mean_activation'].sel(direction=d)):.3g})"


def plot_dose_response(ds: xr.Dataset, n_boot: int = 1000, seed: int = 0) -> Figure:
    """Dose-response of every direction of the steering dataset ``ds`` (module docstring)."""
    dirs = [str(d) for d in ds["direction"].values]
    quantities = [str(q) for q in ds["quantity"].values]
    alphas, order, w, n_groups = dose_axis(ds, n_boot, seed)
    k = int(ds.sizes["member"]) - 1
    fig, axes = plt.subplots(
        len(dirs), len(quantities), figsize=(4.0 * len(quantities), 2.9 * len(dirs)), squeeze=False
    )
    for i, d in enumerate(dirs):
        for j, q in enumerate(quantities):
            ax = axes[i][j]
            r = ds["response"].sel(direction=d, quantity=q).transpose("date", "member", "alpha").values
            r = np.concatenate([np.zeros(r.shape[:2] + (1,)), r], axis=2)[:, :, order]
            mean = r.mean(axis=0)
            lo, hi = np.percentile(np.einsum("bd,da->ba", w, r[:, 0]), [2.5, 97.5], axis=0)
            rand = mean[1:]
            ax.fill_between(alphas, rand.min(axis=0), rand.max(axis=0), color="0.85", label=f"{k} random (range)")
            for m, line in enumerate(rand):
                ax.plot(alphas, line, color="0.55", lw=0.6, label="random direction" if m == 0 else None)
            ax.fill_between(alphas, lo, hi, color="tab:red", alpha=0.25, label="95 % interval over dates")
            ax.plot(alphas, mean[0], "o-", color="tab:red", lw=1.8, label="direction (mean over dates)")
            ax.axhline(0, color="k", lw=0.5)
            ax.axvline(0, color="k", lw=0.5)
            units = str(ds["units"].sel(quantity=q).item())
            ax.set_xlabel(f"dose alpha (x {float(ds['scale'].values[0]):.3g}, a typical firing)")
            ax.set_ylabel(f"change of region mean ({units})")
            ax.set_title(f"{_title(ds, d)}: {q}", fontsize=9)
    axes[0][0].legend(fontsize=6, loc="best")
    fig.suptitle(
        f"Steering at tap {ds.attrs.get('tap', '?')}, region {ds.attrs.get('region', '?')}: forecast change against "
        f"the reconstruction-only arm\n({int(ds.sizes['date'])} dates, {n_groups} groups; tokens reconstructed "
        f"{ds.attrs.get('reconstruction', '?')})",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    return fig


def _unwrapped(lon: np.ndarray) -> np.ndarray:
    """Longitudes made increasing from the first (a window across the meridian)."""
    lon = np.asarray(lon, dtype=float)
    return lon[0] + (lon - lon[0]) % 360


def plot_response_maps(ds: xr.Dataset, region=None) -> Figure:
    """Response maps at the largest dose of the steering dataset ``ds`` (module docstring).

    Args:
        ds: The steering dataset.
        region: The steered :class:`~aurora_xai.regions.Region`, drawn dashed (None: not drawn).
    """
    dirs = [str(d) for d in ds["direction"].values]
    quantities = [str(q) for q in ds["quantity"].values]
    a = float(max(ds["alpha"].values, key=lambda v: (abs(v), v)))  # the largest, positive first
    lon = _unwrapped(ds["lon"].values)
    lat = ds["lat"].values
    lsm = ds["land_sea_mask"].values if "land_sea_mask" in ds else None
    rows = [(d, ds["map"].sel(direction=d, alpha=a), ds["random_rms_map"].sel(direction=d, alpha=a)) for d in dirs]
    rows.append(("reconstruction", ds["downstream_map"], None))
    fig, axes = plt.subplots(
        len(rows), len(quantities), figsize=(4.4 * len(quantities), 2.8 * len(rows)), squeeze=False
    )
    for i, (d, field, rand) in enumerate(rows):
        for j, q in enumerate(quantities):
            ax = axes[i][j]
            v = field.sel(quantity=q).values
            vmax = float(np.nanmax(np.abs(v))) or 1.0
            mesh = ax.pcolormesh(lon, lat, v, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="nearest")
            if lsm is not None and np.nanmin(lsm) < 0.5 < np.nanmax(lsm):
                ax.contour(lon, lat, lsm, levels=[0.5], colors="0.2", linewidths=0.6)
            if region is not None:
                b0 = lon[0] + (region.lon_min - lon[0]) % 360
                b1 = b0 + (region.lon_max - region.lon_min) % 360
                ax.plot(
                    [b0, b1, b1, b0, b0],
                    [region.lat_min, region.lat_min, region.lat_max, region.lat_max, region.lat_min],
                    "--",
                    color="k",
                    lw=0.8,
                )
            units = str(ds["units"].sel(quantity=q).item())
            fig.colorbar(mesh, ax=ax, label=units, shrink=0.85)
            if d == "reconstruction":
                title = f"reconstruction only minus control: {q}"
            else:
                rms = float(np.sqrt(np.nanmean(rand.sel(quantity=q).values ** 2)))
                title = f"{_title(ds, d)}, alpha {a:g}: {q}\nrandom directions' RMS {rms:.3g} {units}"
            ax.set_title(title, fontsize=8)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x % 360:g}"))
            ax.set_xlabel("longitude (deg E)")
            ax.set_ylabel("latitude (deg N)")
    fig.suptitle(
        f"Forecast change (mean over {int(ds.sizes['date'])} dates) when steering at tap {ds.attrs.get('tap', '?')}; "
        "region dashed",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    return fig
