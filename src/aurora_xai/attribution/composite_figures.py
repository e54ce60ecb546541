"""Figure of the storm and calm relevance composites (matplotlib, Agg backend).

Reads a composite table (:func:`aurora_xai.attribution.composites.composite_table`):
the vertical profile of relevance shares and the centroid offsets per level, storm and
calm composites with their bootstrap intervals, and the storm-minus-calm difference.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .figures import pressure_axis

__all__ = ["plot_relevance_composites"]

_COLOURS = {"storm": "tab:red", "calm": "tab:blue", "storm_minus_calm": "k"}


def _profile(table: pd.DataFrame, quantity: str, group: str, variable: str = "all") -> pd.DataFrame:
    sel = table[(table["quantity"] == quantity) & (table["variable"] == variable) & (table["group"] == group)]
    return sel[np.isfinite(sel["level"].astype(float))].sort_values("level")


def _band(ax: plt.Axes, df: pd.DataFrame, colour: str, label: str, lw: float = 1.6, alpha: float = 0.2) -> None:
    lev = df["level"].to_numpy(dtype=float)
    ax.plot(df["mean"].to_numpy(dtype=float), lev, "o-", color=colour, lw=lw, ms=3, label=label)
    lo, hi = df["ci_low"].to_numpy(dtype=float), df["ci_high"].to_numpy(dtype=float)
    if np.isfinite(lo).any():
        ax.fill_betweenx(lev, lo, hi, color=colour, alpha=alpha, lw=0)


def _legend(ax: plt.Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


def _label(table: pd.DataFrame, group: str) -> str:
    sel = table[(table["quantity"] == "upper_share") & (table["group"] == group)]
    if not len(sel):
        return group
    r = sel.iloc[0]
    unit = "episodes" if r.get("resample", "episodes") == "episodes" else "days"
    return f"{group} ({int(r['n_days'])} days, {int(r['n_units'])} {unit})"


def _scalar(table: pd.DataFrame, quantity: str, group: str = "storm_minus_calm") -> str:
    sel = table[(table["quantity"] == quantity) & (table["variable"] == "all") & (table["group"] == group)]
    if not len(sel) or not np.isfinite(sel.iloc[0]["mean"]):
        return "n/a"
    r = sel.iloc[0]
    ci = f" [{r['ci_low']:.3g}, {r['ci_high']:.3g}]" if np.isfinite(r["ci_low"]) else ""
    return f"{r['mean']:.3g}{ci}"


def plot_relevance_composites(table: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Composite vertical relevance profiles and centroid offsets, storm vs calm, and their difference.

    Panels: (top) share of the atmospheric ``|R|`` in the box per level, all variables:
    storm and calm composites; their difference; the difference per variable; (bottom)
    centroid longitude offset of each level from the column centroid: composites;
    difference; centroid latitude offset: composites. Shaded: bootstrap intervals.

    Args:
        table: A composite table (read from ``results/tables/relevance_composites.csv``).
        title: Figure title (default: the headline differences).
    """
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5), sharey=True, constrained_layout=True)
    levels = np.sort(table.loc[np.isfinite(table["level"].astype(float)), "level"].unique().astype(float))
    panels = [
        (axes[0, 0], "profile_share", ("storm", "calm"), "Share of atmospheric |R| in the box (1)"),
        (axes[0, 1], "profile_share", ("storm_minus_calm",), "Storm - calm share of atmospheric |R| (1)"),
        (axes[1, 0], "centroid_dlon", ("storm", "calm"), "Centroid longitude - column centroid (°)"),
        (axes[1, 1], "centroid_dlon", ("storm_minus_calm",), "Storm - calm centroid longitude offset (°)"),
        (axes[1, 2], "centroid_dlat", ("storm", "calm"), "Centroid latitude - column centroid (°)"),
    ]
    for ax, quantity, groups, xlabel in panels:
        empty = True
        for group in groups:
            df = _profile(table, quantity, group)
            if len(df) and np.isfinite(df["mean"].to_numpy(dtype=float)).any():
                empty = False
            _band(ax, df, _COLOURS[group], _label(table, group))
        if groups == ("storm_minus_calm",) or quantity != "profile_share":
            ax.axvline(0.0, color="0.5", lw=0.8)
        if empty:
            ax.text(0.5, 0.5, "no days with a value", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlabel(xlabel)
        _legend(ax)
    ax = axes[0, 2]
    variables = [v for v in table.loc[table["quantity"] == "profile_share", "variable"].unique() if v != "all"]
    for v in variables:
        df = _profile(table, "profile_share", "storm_minus_calm", v)
        _band(ax, df, f"C{variables.index(v)}", str(v), lw=1.2, alpha=0.08)
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("Storm - calm share of atmospheric |R|, per variable (1)")
    _legend(ax)
    if len(levels):
        pressure_axis(axes[0, 0], levels)
        axes[1, 0].set_ylabel("Pressure (hPa)")
    fig.suptitle(
        title
        or (
            "Storm and calm composites of relevance: upper-level share storm - calm "
            f"{_scalar(table, 'upper_share')}, tilt storm - calm {_scalar(table, 'tilt_lon')}°"
        ),
        fontsize=10,
    )
    return fig
