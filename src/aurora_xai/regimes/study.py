"""The study's regime analyses on pooled latents: bootstrap, seasons, storm vs calm.

Thin glue between the pooled-latent dataset and the statistics of
:mod:`~aurora_xai.regimes.bootstrap`, :mod:`~aurora_xai.regimes.seasonal` and
:mod:`~aurora_xai.regimes.separability`, returning datasets and headline rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..latents_io import feature_matrix
from .bootstrap import BootstrapResult, bootstrap_pca_stability
from .pca import fit_pca
from .seasonal import season_separation
from .separability import auc_from_scores, contrastive_axis, cv_contrastive_auc, storm_calm_report

__all__ = ["bootstrap_dataset", "bootstrap_headline", "season_headline", "storm_calm_subset", "storm_calm_analysis"]


def bootstrap_dataset(
    pooled: xr.Dataset,
    region: str,
    levels: Sequence[str] | None,
    n_boot: int = 1000,
    k: int = 3,
    seed: int = 0,
    standardize: bool = True,
) -> tuple[xr.Dataset, BootstrapResult]:
    """Bootstrap stability of the leading PCs of one region's pooled features.

    Returns:
        A dataset with ``abs_cos (resample, pc)``, ``principal_angle (resample, angle)``
        and their means and 2.5/97.5 percentiles, and the raw result.
    """
    x, _ = feature_matrix(pooled, region, levels)
    res = bootstrap_pca_stability(x, n_boot=n_boot, k=k, seed=seed, standardize=standardize)
    pcs = np.arange(1, k + 1)
    ds = xr.Dataset(
        {
            "abs_cos": (("resample", "pc"), res.abs_cos),
            "abs_cos_mean": (("pc",), res.abs_cos_mean),
            "abs_cos_ci": (("pc", "bound"), res.abs_cos_ci),
            "principal_angle": (("resample", "angle"), res.angles_deg),
            "principal_angle_mean": (("angle",), res.angles_mean),
            "principal_angle_ci": (("angle", "bound"), res.angles_ci),
        },
        coords={"pc": pcs, "angle": pcs, "bound": ["p2.5", "p97.5"], "resample": np.arange(n_boot)},
    )
    ds["abs_cos"].attrs["long_name"] = "|cos| between the full-data PC and the resampled PC of the same rank"
    ds["principal_angle"].attrs.update(units="degree", long_name="principal angles between leading subspaces")
    ds.attrs.update(region=region, n_boot=n_boot, k=k, seed=seed, n_dates=x.shape[0], n_features=x.shape[1])
    return ds, res


def bootstrap_headline(res: BootstrapResult, n: int) -> list[dict[str, Any]]:
    """``pc1_bootstrap_cos`` (mean, 95 % interval) and the largest principal angle of the leading subspace."""
    rows = [
        {
            "metric": f"pc{j + 1}_bootstrap_cos",
            "value": float(res.abs_cos_mean[j]),
            "ci_low": float(res.abs_cos_ci[j, 0]),
            "ci_high": float(res.abs_cos_ci[j, 1]),
            "n": res.n_boot,
        }
        for j in range(res.k)
    ]
    rows.append(
        {
            "metric": f"pc1_{res.k}_subspace_max_angle_deg",
            "value": float(res.angles_mean[-1]),
            "ci_low": float(res.angles_ci[-1, 0]),
            "ci_high": float(res.angles_ci[-1, 1]),
            "n": res.n_boot,
        }
    )
    return rows


def season_headline(pca: xr.Dataset, n_permutations: int = 10000, seed: int = 0) -> list[dict[str, Any]]:
    """Winter (DJF) against summer (JJA) along PC1: Cohen's d and a permutation p-value."""
    sep = season_separation(
        pca["scores"].sel(pc=1).values, pca["season"].values, "DJF", "JJA", n_permutations=n_permutations, seed=seed
    )
    n = sep.n_a + sep.n_b
    return [
        {"metric": "pc1_djf_jja_cohen_d", "value": abs(sep.cohen_d), "n": n},
        {"metric": "pc1_djf_jja_perm_p", "value": sep.p_value, "n": n},
    ]


def storm_calm_subset(
    pooled: xr.Dataset, labels: pd.DataFrame, region: str, levels: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Features and labels of the labelled days that have a latent sample.

    Returns:
        ``(x (n, p), y (n,) 1 = storm, day_of_year (n,), seasons (n,), dates)``.

    Raises:
        ValueError: if a labelled day has no latent sample (naming the days).
    """
    days = pd.DatetimeIndex(pd.to_datetime(pooled["date"].values)).normalize()
    lab_days = pd.DatetimeIndex(pd.to_datetime(labels["date"]))
    missing = lab_days.difference(days)
    if len(missing):
        raise ValueError(
            "labelled days without a latent sample (check dates vs labels.year): "
            + ", ".join(f"{d:%Y-%m-%d}" for d in missing[:10])
        )
    x_all, _ = feature_matrix(pooled, region, levels)
    pos = days.get_indexer(lab_days)
    y = (labels["label"].to_numpy() == "storm").astype(int)
    return (
        x_all[pos],
        y,
        pooled["day_of_year"].values[pos],
        pooled["season"].values[pos].astype(str),
        pd.DatetimeIndex(pd.to_datetime(pooled["date"].values))[pos],
    )


_HEADLINE_KEYS = (
    ("storm_calm_auc", True),
    ("storm_calm_balanced_accuracy", True),
    ("storm_calm_perm_p", False),
    ("storm_calm_linearly_separable", False),
    ("storm_calm_contrastive_auc", False),
    ("storm_calm_residualised_auc", True),
)


def storm_calm_analysis(
    pooled: xr.Dataset,
    labels: pd.DataFrame,
    region: str,
    levels: Sequence[str] | None,
    seed: int = 0,
    n_permutations: int = 1000,
    k: int = 5,
    n_pcs: int = 10,
    n_pca: int = 10,
) -> tuple[dict[str, Any], list[dict[str, Any]], xr.Dataset]:
    """Storm-versus-calm separability with held-out scores.

    Returns:
        ``(report, headline rows, projections)``: the full report of
        :func:`~aurora_xai.regimes.separability.storm_calm_report`, the headline rows,
        and a dataset of each labelled day's held-out contrastive projection and its
        scores on the PCs of all dates.
    """
    x, y, doy, seasons, dates = storm_calm_subset(pooled, labels, region, levels)
    if y.sum() < k or (1 - y).sum() < k:
        raise ValueError(f"storm/calm analysis needs at least {k} days of each class, got {int(y.sum())} storm, {int((1 - y).sum())} calm")
    report = storm_calm_report(x, y, doy, seasons, seed=seed, n_permutations=n_permutations, k=k, n_pcs=min(n_pcs, len(y) - 2))
    n = int(report["storm_calm_auc_n"])
    rows = []
    for key, has_ci in _HEADLINE_KEYS:
        if key not in report:
            continue
        row = {"metric": key, "value": float(report[key]), "n": n}
        if has_ci and f"{key}_ci_low" in report:
            row.update(ci_low=float(report[f"{key}_ci_low"]), ci_high=float(report[f"{key}_ci_high"]))
        rows.append(row)
    # The published score: the contrastive axis fitted and scored on the same days.
    in_sample = float(auc_from_scores(contrastive_axis(x, y).project(x), y))
    report["storm_calm_contrastive_auc_in_sample"] = in_sample
    rows.append({"metric": "storm_calm_contrastive_auc_in_sample", "value": in_sample, "n": n})
    npc = int(report.get("storm_calm_n_pcs", n_pcs))
    sep_pc = f"storm_calm_linearly_separable_pc{npc}"
    if sep_pc in report:
        rows.append({"metric": sep_pc, "value": float(report[sep_pc]), "n": n})
    x_all, _ = feature_matrix(pooled, region, levels)
    pca = fit_pca(x_all, n_pca)
    scores = (np.asarray(x, dtype=np.float64) - pca.mean) / pca.scale @ pca.components.T
    proj = cv_contrastive_auc(x, y, k=k, seed=seed).oof_projection
    ds = xr.Dataset(
        {
            "contrastive_projection": (("day",), proj),
            "pc_scores": (("day", "pc"), scores),
            "label": (("day",), y),
            "explained_variance_ratio": (("pc",), pca.explained_variance_ratio),
        },
        coords={"day": dates.values, "pc": np.arange(1, pca.components.shape[0] + 1), "season": ("day", seasons)},
    )
    ds["contrastive_projection"].attrs["long_name"] = "held-out projection on the storm-minus-calm axis"
    ds["label"].attrs["flag_meanings"] = "0 calm, 1 storm"
    return report, rows, ds
