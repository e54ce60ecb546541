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

from ..latents.io import feature_matrix
from ..tables import not_applicable
from .applicability import NotApplicableError
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
) -> tuple[xr.Dataset, BootstrapResult | None]:
    """Bootstrap stability of the leading PCs of one region's pooled features.

    With very few dates the statistics that cannot be computed are NaN and the
    attribute ``note`` says why (``""`` otherwise): fewer than 3 dates leave nothing to
    resample; fewer than ``k + 1`` dates leave only the first ``n - 1`` PCs (their
    ``|cos|`` is computed, the other PCs and the angles of the leading ``k``-dimensional
    subspace are not). The attribute ``k_computed`` counts the PCs computed.

    Returns:
        A dataset with ``abs_cos (resample, pc)``, ``principal_angle (resample, angle)``
        (``pc`` and ``angle`` of length ``k``) and their means and 2.5/97.5 percentiles,
        and the raw result (of ``k_computed`` PCs; None when nothing was computed).

    Raises:
        ValueError: for an unknown region or malformed settings (``k`` or ``n_boot``
            below 1).
    """
    x, _ = feature_matrix(pooled, region, levels)
    n, p = x.shape
    note = ""
    res: BootstrapResult | None = None
    try:
        res = bootstrap_pca_stability(x, n_boot=n_boot, k=k, seed=seed, standardize=standardize)
    except NotApplicableError as err:
        note = str(err)
        k_fit = min(k, n - 1, p)
        if n >= 3 and k_fit >= 1:
            res = bootstrap_pca_stability(x, n_boot=n_boot, k=k_fit, seed=seed, standardize=standardize)
    k_done = res.k if res is not None else 0
    abs_cos = np.full((n_boot, k), np.nan)
    abs_cos_mean, abs_cos_ci = np.full(k, np.nan), np.full((k, 2), np.nan)
    angles = np.full((n_boot, k), np.nan)
    angles_mean, angles_ci = np.full(k, np.nan), np.full((k, 2), np.nan)
    if res is not None:
        abs_cos[:, :k_done], abs_cos_mean[:k_done], abs_cos_ci[:k_done] = res.abs_cos, res.abs_cos_mean, res.abs_cos_ci
        if k_done == k:
            angles, angles_mean, angles_ci = res.angles_deg, res.angles_mean, res.angles_ci
    pcs = np.arange(1, k + 1)
    ds = xr.Dataset(
        {
            "abs_cos": (("resample", "pc"), abs_cos),
            "abs_cos_mean": (("pc",), abs_cos_mean),
            "abs_cos_ci": (("pc", "bound"), abs_cos_ci),
            "principal_angle": (("resample", "angle"), angles),
            "principal_angle_mean": (("angle",), angles_mean),
            "principal_angle_ci": (("angle", "bound"), angles_ci),
        },
        coords={"pc": pcs, "angle": pcs, "bound": ["p2.5", "p97.5"], "resample": np.arange(n_boot)},
    )
    ds["abs_cos"].attrs["long_name"] = "|cos| between the full-data PC and the resampled PC of the same rank"
    ds["principal_angle"].attrs.update(units="degree", long_name="principal angles between leading subspaces")
    ds.attrs.update(region=region, n_boot=n_boot, k=k, k_computed=k_done, seed=seed, n_dates=n, n_features=p, note=note)
    return ds, res


def bootstrap_headline(ds: xr.Dataset) -> list[dict[str, Any]]:
    """``pcJ_bootstrap_cos`` (mean, 95 % interval) for each of the ``k`` PCs and the largest
    principal angle of the leading subspace, ``pc1_K_subspace_max_angle_deg``.

    Args:
        ds: The dataset of :func:`bootstrap_dataset`; its NaN statistics become rows with
            an empty value and the dataset's ``note`` as the reason.
    """
    n_boot = int(ds.sizes["resample"])
    note = str(ds.attrs.get("note", "")) or "not computed"

    def row(metric: str, mean: xr.DataArray, ci: xr.DataArray) -> dict[str, Any]:
        if not np.isfinite(float(mean)):
            return not_applicable(metric, note)
        return {
            "metric": metric,
            "value": float(mean),
            "ci_low": float(ci[0]),
            "ci_high": float(ci[1]),
            "n": n_boot,
        }

    k = int(ds.sizes["pc"])
    rows = [row(f"pc{j + 1}_bootstrap_cos", ds["abs_cos_mean"][j], ds["abs_cos_ci"][j]) for j in range(k)]
    rows.append(row(f"pc1_{k}_subspace_max_angle_deg", ds["principal_angle_mean"][-1], ds["principal_angle_ci"][-1]))
    return rows


def season_headline(pca: xr.Dataset, n_permutations: int = 10000, seed: int = 0) -> list[dict[str, Any]]:
    """Winter (DJF) against summer (JJA) along PC1: Cohen's d and a permutation p-value.

    Without at least two dates of each of the two seasons (e.g. a window of January
    only) both rows have an empty value and the reason as note.
    """
    seasons = pca["season"].values.astype(str)
    try:
        sep = season_separation(
            pca["scores"].sel(pc=1).values, seasons, "DJF", "JJA", n_permutations=n_permutations, seed=seed
        )
    except NotApplicableError as err:
        n = int(np.isin(seasons, ["DJF", "JJA"]).sum())
        reason = f"DJF against JJA: {err}"
        return [not_applicable(m, reason, n) for m in ("pc1_djf_jja_cohen_d", "pc1_djf_jja_perm_p")]
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

    A window with too few labelled days (no storm day, or fewer than ``k`` of a class
    for the ``k``-fold statistics; the labels' shortfall is recorded with the labels)
    gives every statistic it allows; the others are listed with their reason under
    ``storm_calm_not_applicable`` in the report, are headline rows with an empty value
    and the reason, and NaN in the projection (whose ``note`` attribute says why).

    Returns:
        ``(report, headline rows, projections)``: the full report of
        :func:`~aurora_xai.regimes.separability.storm_calm_report`, the headline rows,
        and a dataset of each labelled day's held-out contrastive projection ``(day,)``
        and its scores on the PCs of all dates ``(day, pc)``.

    Raises:
        ValueError: if a labelled day has no latent sample, or for malformed input.
    """
    x, y, doy, seasons, dates = storm_calm_subset(pooled, labels, region, levels)
    report = storm_calm_report(x, y, doy, seasons, seed=seed, n_permutations=n_permutations, k=k, n_pcs=n_pcs)
    notes: dict[str, str] = report["storm_calm_not_applicable"]
    n = len(y)
    rows: list[dict[str, Any]] = []
    for key, has_ci in _HEADLINE_KEYS:
        if key in notes:
            rows.append(not_applicable(key, notes[key], n))
            continue
        if key not in report:
            continue
        row = {"metric": key, "value": float(report[key]), "n": n}
        if has_ci and f"{key}_ci_low" in report:
            row.update(ci_low=float(report[f"{key}_ci_low"]), ci_high=float(report[f"{key}_ci_high"]))
        rows.append(row)
    # The published score: the contrastive axis fitted and scored on the same days.
    key = "storm_calm_contrastive_auc_in_sample"
    try:
        in_sample = float(auc_from_scores(contrastive_axis(x, y).project(x), y))
        report[key] = in_sample
        rows.append({"metric": key, "value": in_sample, "n": n})
    except NotApplicableError as err:
        notes[key] = str(err)
        rows.append(not_applicable(key, str(err), n))
    sep_pc = f"storm_calm_linearly_separable_pc{report['storm_calm_n_pcs']}"
    if sep_pc in report:
        rows.append({"metric": sep_pc, "value": float(report[sep_pc]), "n": n})
    elif sep_pc in notes:
        rows.append(not_applicable(sep_pc, notes[sep_pc], n))
    x_all, _ = feature_matrix(pooled, region, levels)
    pca = fit_pca(x_all, n_pca)
    scores = (np.asarray(x, dtype=np.float64) - pca.mean) / pca.scale @ pca.components.T
    proj = np.full(n, np.nan)
    proj_note = ""
    try:
        proj = cv_contrastive_auc(x, y, k=k, seed=seed).oof_projection
    except NotApplicableError as err:
        proj_note = str(err)
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
    ds.attrs.update(note=proj_note, n_storm=int(y.sum()), n_calm=int(n - y.sum()))
    return report, rows, ds
