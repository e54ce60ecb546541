"""Degradation curves: MSE against the masked fraction, relevant versus random masks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["METHOD_LABELS", "plot_degradation_curves"]

METHOD_LABELS = {
    "lrp": "LRP",
    "input_x_gradient": "Input x Gradient",
    "integrated_gradients": "Integrated Gradients",
    "random": "random relevance",
}
KIND_STYLE = {
    "scattered": dict(color="tab:grey", label="random scattered cells (mean, 95% CI)"),
    "blobs": dict(color="tab:orange", label="random contiguous blobs (mean, 95% CI)"),
}


def plot_degradation_curves(
    table: pd.DataFrame,
    reference: str = "clean",
    methods: Sequence[str] | None = None,
    title: str | None = None,
    variable_label: str = "msl",
    region_label: str = "evaluation region",
) -> plt.Figure:
    """One panel per method: MSE of the relevant mask and of the random controls against p.

    Random curves show the mean over draws with the bootstrap 95 % interval of the mean
    shaded. Both axes are logarithmic (the MSE axis falls back to linear when a value
    is not positive).

    Args:
        table: The per-case table of :func:`~aurora_xai.perturbation.experiment.run_experiment`.
        reference: ``clean`` or ``truth``.
        methods: Panels (default: the methods in the table).
    """
    t = table[table["metric_reference"] == reference]
    if t.empty:
        raise ValueError(f"no rows with metric_reference == {reference!r}")
    methods = list(methods) if methods is not None else list(dict.fromkeys(t["method"]))
    units = str(t["units"].iloc[0]) if "units" in t else ""
    units = units.replace(")^2", ")²").replace("(", "").replace(")", "") if units.startswith("(") else units
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods), 3.4), sharey=True, squeeze=False)
    positive = bool((t[["mse_relevant", "mse_random_mean"]] > 0).all().all())
    for ax, method in zip(axes[0], methods):
        tm = t[t["method"] == method]
        first = True
        for kind, style in KIND_STYLE.items():
            tk = tm[tm["mask_kind"] == kind].sort_values("p")
            if tk.empty:
                continue
            if first:
                ax.plot(tk["p"], tk["mse_relevant"], "o-", color="tab:blue", lw=2, label="top-relevance mask", zorder=5)
                first = False
            ax.plot(tk["p"], tk["mse_random_mean"], "s--", ms=3, color=style["color"], label=style["label"])
            if {"mse_random_ci_low", "mse_random_ci_high"} <= set(tk):
                ax.fill_between(
                    tk["p"], tk["mse_random_ci_low"], tk["mse_random_ci_high"], color=style["color"], alpha=0.25, lw=0
                )
        ax.set_xscale("log")
        ticks = sorted(tm["p"].unique())
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticklabels([f"{p:g}" for p in ticks])
        if positive:
            ax.set_yscale("log")
        ax.set_title(METHOD_LABELS.get(method, method))
        ax.set_xlabel("masked cells p (% of the sector)")
        ax.grid(True, which="major", alpha=0.3)
    ylabel = f"MSE of {variable_label} over {region_label}"
    if units:
        ylabel += f" [{units}]"
    axes[0, 0].set_ylabel(
        ylabel + f"\nvs {reference} forecast" if reference == "clean" else ylabel + f"\nvs {reference}"
    )
    axes[0, 0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
