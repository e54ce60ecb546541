"""The SAE evaluation's figure: per tap, held-out FVU and dead fraction of the trained and
the random model's SAEs, the seed stability beside its chance level, and SAE probes
against dense probes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..latents.taps import tap_depth  # noqa: E402

__all__ = ["plot_sae_evaluation"]

_MODELS = {"trained": ("trained model", "tab:blue", "o"), "random": ("random model (control)", "tab:grey", "s")}


def _points(ax, table: pd.DataFrame, taps: list[str], metric: str, styles: dict, key: str) -> None:
    x = np.arange(len(taps))
    offsets = np.linspace(-0.12, 0.12, len(styles))
    for off, (name, (label, colour, marker)) in zip(offsets, styles.items()):
        rows = table[(table["metric"] == metric) & (table[key] == name)].set_index("tap").reindex(taps)
        val = rows["value"].to_numpy(dtype=float)
        lo = rows["ci_low"].to_numpy(dtype=float)
        hi = rows["ci_high"].to_numpy(dtype=float)
        # the interval as a line from its low to its high end (a dead fraction's interval can
        # lie above the estimate: a resample of weeks can only lose firings)
        ax.vlines(x + off, lo, hi, color=colour, lw=1.2)
        ax.plot(x + off, val, marker, color=colour, ms=5, label=label, ls="none")
    ax.set_xticks(x, taps, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(taps) - 0.5)
    ax.set_xlabel("tap, shallow to deep")
    ax.grid(axis="y", alpha=0.3)


def plot_sae_evaluation(table: pd.DataFrame) -> Figure:
    """Three panels over the taps (shallow to deep): held-out FVU, dead-latent fraction
    (trained vs random model, 95 % week-bootstrap intervals) and seed stability against
    its chance level; a fourth, if probes were fitted, the SAE probes' R² against the
    dense probes' per quantity at the first tap with probes.

    Args:
        table: Rows of :func:`aurora_xai.features.evaluation.sae_evaluation_table`.
    """
    taps = sorted(dict.fromkeys(table["tap"]), key=tap_depth)
    probes = table[table["metric"].str.startswith("probe_r2_")]
    ncol = 4 if len(probes) else 3
    fig, axes = plt.subplots(1, ncol, figsize=(4.2 * ncol, 4.2), layout="constrained")
    _points(axes[0], table, taps, "fvu", _MODELS, "model")
    axes[0].set_ylabel("fraction of variance unexplained")
    axes[0].set_title("held-out FVU (0: perfect)", fontsize=10)
    axes[0].set_ylim(bottom=0)
    _points(axes[1], table, taps, "dead_fraction", _MODELS, "model")
    axes[1].set_ylabel("fraction of latents never firing")
    axes[1].set_title("dead latents on held-out tokens", fontsize=10)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].legend(fontsize=8)
    stab = table[table["metric"].str.startswith("seed_stability")].copy()
    stab["which"] = np.where(stab["metric"].str.endswith("_chance"), "chance", "seeds")
    stab["metric"] = "seed_stability"
    _points(
        axes[2],
        stab,
        taps,
        "seed_stability",
        {"seeds": ("two trained seeds", "tab:blue", "o"), "chance": ("two untrained SAEs", "tab:grey", "x")},
        "which",
    )
    axes[2].set_ylabel("median best-match |cosine|")
    axes[2].set_title("decoder directions across seeds", fontsize=10)
    axes[2].set_ylim(0, 1.02)
    axes[2].legend(fontsize=8)
    if len(probes):
        ax = axes[3]
        tap = taps[-1] if taps[-1] in set(probes["tap"]) else probes["tap"].iloc[0]
        sub = probes[probes["tap"] == tap]
        qs = list(dict.fromkeys(sub["metric"]))
        y = np.arange(len(qs))
        for off, (feat, label, colour) in zip(
            (-0.15, 0.15), (("sae", "mean SAE code", "tab:green"), ("dense", "mean token", "tab:orange"))
        ):
            rows = sub[sub["features"] == feat].set_index("metric").reindex(qs)
            val = np.maximum(rows["value"].to_numpy(dtype=float), -0.5)
            lo = np.maximum(rows["ci_low"].to_numpy(dtype=float), -0.5)
            hi = np.maximum(rows["ci_high"].to_numpy(dtype=float), -0.5)
            ax.errorbar(val, y + off, xerr=[val - lo, hi - val], fmt="o", color=colour, ms=4, capsize=2, label=label)
        ax.set_yticks(y, [q.removeprefix("probe_r2_") for q in qs], fontsize=7)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlim(-0.53, 1.03)
        ax.set_xlabel("held-out R² (95 % interval; < -0.5 drawn at -0.5)")
        ax.set_title(f"probes at {tap}: SAE codes vs dense tokens", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    n = table.loc[table["metric"] == "fvu", "n"]
    fig.suptitle(
        "Sparse autoencoders of the tokens per tap, on the held-out weeks' tokens"
        + (f" ({int(n.iloc[0]):,} tokens at {taps[0]})" if len(n) else ""),
        fontsize=11,
    )
    return fig
