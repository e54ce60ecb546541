"""Figure of the probe table: held-out R² per tap and quantity, latents against the controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..latents.taps import tap_depth  # noqa: E402
from .study import NESTED_TAP  # noqa: E402

__all__ = ["plot_probes"]

_STYLE = {
    "latent": ("latents (trained model)", "tab:blue", "o"),
    "random_model": ("latents (random model, same architecture)", "0.45", "s"),
}
_LABELS = {
    "t850": "mean T850 [calibration]",
    "z500": "mean Z500 [calibration]",
    "msl": "mean MSL [calibration]",
    "t2m": "mean 2 m temperature [calibration]",
    "planted_tanh_t850": "F's term beta tanh(T850 anomaly / t_scale)",
    "planted_tanh_t850_nonlinear": "F's tanh term minus its linearisation",
    "planted_z500_upstream": "F's upstream Z500 anomaly",
    "wind10_max": "max 10 m wind speed",
    "jet_lat_u250": "latitude of the 250 hPa u maximum",
}
#: Lowest R² drawn; lower values and interval ends are drawn at this floor, marked.
R2_FLOOR = -0.5


def plot_probes(table: pd.DataFrame, region: str = "") -> Figure:
    """One panel per quantity: held-out R² with intervals per tap, latents vs the controls.

    Args:
        table: Rows ``tap, quantity, features, r2, ci_low, ci_high, n, units``
            (:func:`~aurora_xai.probes.study.probe_table`); the raw-input rows (tap
            ``inputs``) are drawn as a band across the taps.
        region: Region name for the title.
    """
    table = table[table["tap"] != NESTED_TAP]  # the per-tap scores (the nested rows pick among them)
    quantities = list(dict.fromkeys(table["quantity"]))
    taps = sorted(dict.fromkeys(table.loc[table["features"] == "latent", "tap"]), key=tap_depth)  # shallow to deep
    ncol = min(3, len(quantities))
    nrow = -(-len(quantities) // ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.2 * ncol + 0.5, 3.4 * nrow + 0.9), squeeze=False, sharey=True, layout="constrained"
    )
    x = np.arange(len(taps))
    for ax, q in zip(axes.flat, quantities):
        sub = table[table["quantity"] == q]
        inp = sub[sub["features"] == "raw_inputs"]
        if len(inp):
            r = inp.iloc[0]
            ax.axhspan(max(r["ci_low"], R2_FLOOR), max(r["ci_high"], R2_FLOOR), color="tab:orange", alpha=0.25, lw=0)
            ax.axhline(max(r["r2"], R2_FLOOR), color="tab:orange", lw=1.5, label="pooled raw inputs")
        for off, (feat, (label, colour, marker)) in zip((-0.12, 0.12), _STYLE.items()):
            rows = sub[sub["features"] == feat].set_index("tap").reindex(taps)
            val = np.maximum(rows["r2"].to_numpy(dtype=float), R2_FLOOR)
            lo = np.maximum(rows["ci_low"].to_numpy(dtype=float), R2_FLOOR)
            hi = np.maximum(rows["ci_high"].to_numpy(dtype=float), R2_FLOOR)
            ax.errorbar(
                x + off,
                val,
                yerr=[val - lo, hi - val],
                fmt=marker,
                color=colour,
                ms=5,
                capsize=3,
                label=label,
            )
        ax.axhline(0.0, color="k", lw=0.6)
        units = sub["units"].iloc[0] if "units" in sub else ""
        ax.set_title(f"{_LABELS.get(q, q)} ({units})", fontsize=10)
        ax.set_xticks(x, taps, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(taps) - 0.5)
        ax.set_xlabel("tap, shallow to deep")
        ax.set_ylim(R2_FLOOR - 0.03, 1.03)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out R² (95 % interval)")
    for ax in list(axes.flat)[len(quantities) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9)
    n = int(table["n"].iloc[0]) if len(table) else 0
    where = f" over the {region} region" if region else ""
    fig.suptitle(
        f"Linear probes of physical quantities{where}: held-out R² of ridge regression, blocked by week "
        f"({n} dates; values below {R2_FLOOR} drawn at {R2_FLOOR}; [calibration]: the region mean of one input "
        "field, which the raw inputs hold exactly)",
        fontsize=10,
    )
    return fig
