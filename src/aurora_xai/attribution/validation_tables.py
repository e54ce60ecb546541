"""The attribution checks' tables, headline rows and figures (torch-free).

Read by the rules that gather and draw the checks of
:mod:`aurora_xai.attribution.validation` (which needs torch): the rows of
:func:`~aurora_xai.attribution.validation.truth_rows`,
:func:`~aurora_xai.attribution.validation.searchlight_rows` and
:func:`~aurora_xai.attribution.validation.cascade_rows` become headline rows here, and
the per-case maps and cascade tables figures; so do the rows of the data-randomisation
check (:func:`~aurora_xai.attribution.data_randomisation.data_randomisation_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "SURVIVAL_THRESHOLD",
    "TRUTH_HEADLINE",
    "cascade_headline",
    "datarand_headline",
    "flagged",
    "plot_cascade",
    "plot_data_randomisation",
    "plot_truth_maps",
    "searchlight_headline",
    "stage_slug",
    "truth_headline",
]


#: ``|Spearman|`` with the trained model's relevance above which a method's map "survives"
#: a randomisation (the cascade's last step, the shuffled-target model) and is flagged.
SURVIVAL_THRESHOLD = 0.5


def flagged(rows: Sequence[Mapping[str, Any]], threshold: float = SURVIVAL_THRESHOLD) -> dict[str, bool]:
    """Per method: does its map survive full randomisation (``|spearman| > threshold`` at the last step)?"""
    last: dict[str, tuple[int, float]] = {}
    for r in rows:
        key = f"{r['case']}/{r['method']}"
        if key not in last or r["step"] > last[key][0]:
            last[key] = (int(r["step"]), float(r["spearman"]))
    return {k: bool(np.isfinite(s) and abs(s) > threshold) for k, (_, s) in last.items()}


#: Headline metrics of the truth table: ``truth_<metric>_<method>_<case>``.
TRUTH_HEADLINE = {
    "spearman": ("rank_corr", "Spearman rank correlation with F's exact attribution"),
    "cosine": ("cosine", "cosine similarity with F's exact attribution"),
    "support_share": ("support_share", "share of |R| on the support of F's exact attribution"),
    "ndcg@10": ("ndcg10", "NDCG@10 of the top grid cells against F's exact attribution"),
    "history_share": ("history_share", "share of |R| on the t - 6 h step (F's own share in the table)"),
}

_ONE_CASE = "one case, computed exactly over every cell, variable, level and history step; no interval"


def truth_headline(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Headline rows ``truth_<metric>_<method>_<case>`` from :func:`truth_rows`' rows (of the
    forecast), and ``truth_change_rank_corr_<method>_<case>`` (of its 6-hour change)."""
    out = []
    for r in rows:
        change = r.get("target_part") == "change"
        part = "change_" if change else ""
        scope = " (the 6-hour change: the identity path of the target's own value removed)" if change else ""
        for key, (name, what) in TRUTH_HEADLINE.items():
            if key not in r or (change and key != "spearman"):
                continue
            out.append(
                {
                    "metric": f"truth_{part}{name}_{r['method']}_{r['case']}",
                    "value": float(r[key]),
                    "n": int(r["n_elements"]),
                    "method": f"{what}{scope}; {_ONE_CASE}",
                    "n_unit": "input elements",
                    "unit": "",
                }
            )
    return out


def stage_slug(stage: str) -> str:
    """A cascade stage in a metric name: ``backbone.decoder_layers.2`` -> ``backbone_decoder_2``."""
    return stage.replace("backbone.decoder_layers.", "backbone_decoder_").replace(
        "backbone.encoder_layers.", "backbone_encoder_"
    )


def cascade_headline(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Headline rows ``cascade_<stage>_<method>_<case>`` (stage as :func:`stage_slug`):
    Spearman with the trained model's map."""
    return [
        {
            "metric": f"cascade_{stage_slug(r['stage'])}_{r['method']}_{r['case']}",
            "value": float(r["spearman"]),
            "n": 1,
            "method": (
                "Spearman rank correlation of the relevance with the trained model's after randomising the stages "
                "from the output down to this one (Adebayo et al. 2018); one case, one seed; no interval"
            ),
            "n_unit": "cases",
            "unit": "",
        }
        for r in rows
        if r["step"] > 0
    ]


def datarand_headline(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Headline rows ``datarand_<method>_<case>``: Spearman of the method's relevance under
    the shuffled-target surrogate with its relevance under the trained one."""
    return [
        {
            "metric": f"datarand_{r['method']}_{r['case']}",
            "value": float(r["spearman"]),
            "n": int(r["n_elements"]),
            "method": (
                "Spearman rank correlation of the relevance under a surrogate trained on time-shuffled targets "
                f"with the trained surrogate's (Adebayo et al. 2018 data randomisation; cosine {float(r['cosine']):.3f}"
                f"; |rho| > {SURVIVAL_THRESHOLD} flags the method); one case, one permutation seed; no interval"
            ),
            "n_unit": "input elements",
            "unit": "",
        }
        for r in rows
    ]


def searchlight_headline(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Headline rows ``searchlight_<rank_corr|ndcg10>_<method>_<case>``."""
    out = []
    for r in rows:
        for key, name in (("spearman", "rank_corr"), ("ndcg@10", "ndcg10")):
            if key in r:
                out.append(
                    {
                        "metric": f"searchlight_{name}_{r['method']}_{r['case']}",
                        "value": float(r[key]),
                        "n": int(r["n_elements"]),
                        "method": (
                            f"{'Spearman rank correlation' if name == 'rank_corr' else 'NDCG@10'} of the relevance "
                            "summed into blocks with the searchlight reference (the target's response to +-1 sigma "
                            "perturbations of each block and variable); one case; no interval"
                        ),
                        "n_unit": "blocks x groups",
                        "unit": "",
                    }
                )
    return out


def plot_truth_maps(maps: xr.Dataset, title: str = "") -> Any:
    """Figure: each method's relevance per cell beside F's exact attribution (shared colour scale per panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rel = maps["relevance"]
    names = [str(m) for m in rel["variant"].values]
    if "truth" in names:
        names = ["truth"] + [n for n in names if n != "truth"]
    n = len(names)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows + 0.6), squeeze=False)
    lon = rel["longitude"].values
    lat = rel["latitude"].values
    for ax, name in zip(axes.flat, names):
        a = rel.sel({"variant": name}).values
        lim = float(np.nanmax(np.abs(a))) or 1.0
        im = ax.pcolormesh(lon, lat, a, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
        ax.set_title("F's exact attribution" if name == "truth" else name, fontsize=10)
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
        fig.colorbar(im, ax=ax, shrink=0.8, label="share of sum |R| (1)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title or f"Relevance per cell: {maps.attrs.get('target', '')}")
    fig.tight_layout()
    return fig


def plot_cascade(table: Any, title: str = "") -> Any:
    """Figure: Spearman with the trained model's relevance against the randomised stage, per method and case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(table["case"]))
    fig, axes = plt.subplots(1, len(cases), figsize=(6 * len(cases), 4.2), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        sub = table[table["case"] == case]
        for method, g in sub.groupby("method", sort=False):
            ax.plot(g["step"], g["spearman"], marker="o", label=method)
        stages = list(dict.fromkeys(sub.sort_values("step")["stage"]))
        ax.set_xticks(range(len(stages)))
        ax.set_xticklabels(
            ["trained" if s == "none" else s.replace("backbone.", "") for s in stages], rotation=45, ha="right"
        )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("Spearman with the trained model's relevance (1)")
        ax.set_xlabel("randomised down to (cumulative, from the output)")
        ax.set_title(case)
        ax.legend(fontsize=8)
    fig.suptitle(title or "Model-parameter randomisation cascade")
    fig.tight_layout()
    return fig


def plot_data_randomisation(maps: xr.Dataset, table: Any, title: str = "") -> Any:
    """Figure: each method's relevance per cell under the trained surrogate (left) and the
    shuffled-target one (right), the pair's Spearman and cosine in the right panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rel = maps["relevance"]
    methods = [str(m) for m in rel["variant"].values]
    scores = {str(r["method"]): r for r in table.to_dict("records")}
    fig, axes = plt.subplots(len(methods), 2, figsize=(9.0, 2.6 * len(methods) + 0.6), squeeze=False)
    lon = rel["longitude"].values
    lat = rel["latitude"].values
    for row, method in zip(axes, methods):
        for ax, model in zip(row, ("trained", "shuffled")):
            a = rel.sel({"variant": method, "model": model}).values
            lim = float(np.nanmax(np.abs(a))) or 1.0
            im = ax.pcolormesh(lon, lat, a, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
            if model == "trained":
                ax.set_title(f"{method}: trained surrogate", fontsize=10)
            else:
                r = scores.get(method, {})
                flag = " (survives)" if r.get("survives") else ""
                ax.set_title(
                    f"shuffled targets: Spearman {float(r.get('spearman', np.nan)):.2f}, "
                    f"cosine {float(r.get('cosine', np.nan)):.2f}{flag}",
                    fontsize=10,
                )
            ax.set_xlabel("longitude (degrees east)")
            ax.set_ylabel("latitude (degrees north)")
            fig.colorbar(im, ax=ax, shrink=0.8, label="share of sum |R| (1)")
    fig.suptitle(title or f"Data randomisation: {maps.attrs.get('target', '')}")
    fig.tight_layout()
    return fig
