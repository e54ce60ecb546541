"""Figures of the feature atlas: top features' maps and seasonal profiles, and the
planted-structure match beside its random-model control.

Coastlines are the 0.5 contour of the store's land-sea mask (``land_sea_mask`` of the
atlas, on its own ``lsm_latitude``, ``lsm_longitude`` grid), as in the attribution maps.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

__all__ = ["plot_feature_atlas", "plot_planted_match"]

_MONTHS = "JFMAMJJASOND"


def _coastlines(ax: plt.Axes, ds: xr.Dataset) -> None:
    if "land_sea_mask" not in ds:
        return
    m = np.asarray(ds["land_sea_mask"].values, dtype=float)
    if np.nanmin(m) < 0.5 < np.nanmax(m):
        ax.contour(
            ds["lsm_longitude"].values, ds["lsm_latitude"].values, m, levels=[0.5], colors="0.25", linewidths=0.6
        )


def plot_feature_atlas(ds: xr.Dataset, features: Sequence[int], tap: str) -> plt.Figure:
    """One row per feature: its map at the latent level where it fires most (mean
    activation per token position over the dates, with coastlines) and its seasonal
    profile (monthly mean of the per-date mean activation); its description as title.

    Args:
        ds: The atlas (:func:`aurora_xai.features.atlas.feature_atlas`).
        features: Features shown, in order.
        tap: The tap's name (for the title).
    """
    n = max(len(features), 1)
    fig, axes = plt.subplots(
        n, 2, figsize=(10, 2.4 * n + 0.6), squeeze=False, gridspec_kw={"width_ratios": [2.2, 1]}, layout="constrained"
    )
    lat, lon = ds["latitude"].values, ds["longitude"].values
    for row, f in zip(axes, features):
        d = ds.sel(feature=int(f))
        level = int(d["peak_level"])
        m = d["map"].sel(latent_level=level).values
        mesh = row[0].pcolormesh(lon, lat, m, cmap="viridis", shading="nearest", vmin=0)
        _coastlines(row[0], ds)
        row[0].set_xlim(0, 360)
        row[0].set_ylim(-90, 90)
        row[0].set_xlabel("Longitude (°E)")
        row[0].set_ylabel("Latitude (°N)")
        cb = fig.colorbar(mesh, ax=row[0], shrink=0.9)
        cb.set_label("mean activation")
        row[0].set_title(textwrap.fill(f"feature {int(f)}: {d['description'].values}", 70), fontsize=8)
        prof = d["seasonal"].values
        row[1].bar(np.arange(1, 13), np.nan_to_num(prof), color="tab:blue")
        row[1].set_xticks(np.arange(1, 13), list(_MONTHS))
        row[1].set_xlabel("Month")
        row[1].set_ylabel("mean activation")
        row[1].set_title(f"firing rate {float(d['firing_rate']):.3f}, storm r {float(d['storm_corr']):.2f}", fontsize=8)
    fig.suptitle(f"Feature atlas, tap {tap}: the {len(features)} features varying most across dates", fontsize=10)
    return fig


def plot_planted_match(table: pd.DataFrame) -> plt.Figure:
    """Per structure and tap, the held-out correlation of the best feature with the planted
    field for the trained model's SAE beside the random model's (the control), with their
    week-bootstrap intervals, and the difference (trained minus control) written above
    each pair; n/a rows are named.

    Args:
        table: :func:`aurora_xai.features.atlas.planted_table`.
    """
    structures = list(dict.fromkeys(table["structure"]))
    taps = list(dict.fromkeys(table["tap"]))
    fig, axes = plt.subplots(
        1, max(len(structures), 1), figsize=(3.8 * max(len(structures), 1), 3.6), squeeze=False, layout="constrained"
    )
    shown = table[table["model"].isin(["trained", "random"])]
    low = float(np.nanmin(shown[["corr", "ci_low"]].to_numpy())) if shown["corr"].notna().any() else 0.0
    for ax, structure in zip(axes[0], structures):
        x = np.arange(len(taps))
        for k, (model, colour) in enumerate((("trained", "tab:blue"), ("random", "0.6"))):
            sub = table[(table["structure"] == structure) & (table["model"] == model)].set_index("tap")
            vals = np.array([float(sub["corr"].get(t, np.nan)) for t in taps])
            lo = np.array([float(sub["ci_low"].get(t, np.nan)) for t in taps])
            hi = np.array([float(sub["ci_high"].get(t, np.nan)) for t in taps])
            xs = x + (k - 0.5) * 0.38
            ax.bar(xs, np.nan_to_num(vals), 0.38, color=colour, label=f"{model} model's SAE")
            ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(vals)
            ax.errorbar(xs[ok], vals[ok], yerr=[vals[ok] - lo[ok], hi[ok] - vals[ok]], fmt="none", ecolor="k", lw=0.8)
            for xi, v in zip(xs, vals):
                if not np.isfinite(v):
                    ax.text(xi, 0.02, "n/a", ha="center", fontsize=7, rotation=90)
        excess = table[(table["structure"] == structure) & (table["model"] == "excess")].set_index("tap")
        for xi, t in zip(x, taps):
            d = float(excess["corr"].get(t, np.nan))
            if np.isfinite(d):
                ci = (float(excess["ci_low"].get(t, np.nan)), float(excess["ci_high"].get(t, np.nan)))
                ax.text(xi, 0.97, f"{d:+.2f}\n[{ci[0]:+.2f}, {ci[1]:+.2f}]", ha="center", va="top", fontsize=6)
        ax.set_xticks(x, taps, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(min(0.0, low - 0.05), 1.0)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(f"planted {structure} (above: trained minus control)", fontsize=8)
        ax.set_ylabel("held-out Pearson r of the best feature")
        ax.set_xlabel("tap")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncols=2)
    notes = sorted({n for n in table.get("note", pd.Series(dtype=str)).fillna("") if n})
    if notes:
        fig.suptitle(textwrap.fill("; ".join(notes), 110), fontsize=8)
    return fig
