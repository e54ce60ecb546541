"""The study's regime analyses on pooled latents: bootstrap, seasons, storm vs calm.

Thin glue between the pooled-latent dataset and the statistics of
:mod:`~aurora_xai.regimes.bootstrap`, :mod:`~aurora_xai.regimes.seasonal` and
:mod:`~aurora_xai.regimes.storm_calm`, returning datasets and headline rows.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..latents.io import feature_matrix
from ..tables import not_applicable, p_floor_text
from .applicability import NotApplicableError
from .blocking import BLOCKINGS, TimeBlocking
from .bootstrap import BootstrapResult, bootstrap_pca_stability, pc1_block_length
from .classifiers import auc_from_scores, contrastive_axis
from .cv import cv_contrastive_auc
from .pca import fit_pca
from .seasonal import season_separation, surrogate_season_test
from .storm_calm import AllDates, StormCalmReport, storm_calm_report

__all__ = [
    "CV_STATISTICS",
    "all_dates_of",
    "blocking_of",
    "bootstrap_dataset",
    "bootstrap_headline",
    "season_headline",
    "storm_calm_analysis",
    "storm_calm_subset",
]


def bootstrap_dataset(
    pooled: xr.Dataset,
    region: str,
    levels: Sequence[str] | None,
    n_boot: int = 1000,
    k: int = 3,
    seed: int = 0,
    standardize: bool = True,
    block: int | str | None = None,
) -> tuple[xr.Dataset, BootstrapResult | None]:
    """Bootstrap stability of the leading PCs of one region's pooled features.

    With very few dates the statistics that cannot be computed are NaN and the
    attribute ``note`` says why (``""`` otherwise): fewer than 3 dates leave nothing to
    resample; fewer than ``k + 1`` dates leave only the first ``n - 1`` PCs (their
    ``|cos|`` is computed, the other PCs and the angles of the leading ``k``-dimensional
    subspace are not). The attribute ``k_computed`` counts the PCs computed.

    Args:
        pooled: Pooled latents with ``date`` and ``day_of_year`` coordinates.
        region, levels: The features (see :func:`~aurora_xai.latents_io.feature_matrix`).
        n_boot, k, seed, standardize: As in
            :func:`~aurora_xai.regimes.bootstrap.bootstrap_pca_stability`.
        block: Also run the circular block bootstrap of the dates in time order
            (``regimes.bootstrap_block``): ``'auto'`` chooses the block length from
            PC1's autocorrelation (:func:`~aurora_xai.regimes.bootstrap.pc1_block_length`),
            an integer fixes it (capped at the number of dates); None or ``'none'``
            runs the i.i.d. bootstrap only.

    Returns:
        A dataset with ``abs_cos (resample, pc)``, ``principal_angle (resample, angle)``
        (``pc`` and ``angle`` of length ``k``) and their means and 2.5/97.5 percentiles;
        with ``block``, the same of the block bootstrap under the names ending in
        ``_block`` and the attributes ``block_length`` (dates) and ``block_rule``. Also
        the raw i.i.d. result (of ``k_computed`` PCs; None when nothing was computed).

    Raises:
        ValueError: for an unknown region or malformed settings (``k`` or ``n_boot``
            below 1, a block that is neither ``'auto'``, ``'none'`` nor a positive
            integer).
    """
    block = _check_block(block)
    x, _ = feature_matrix(pooled, region, levels)
    n, p = x.shape
    note = ""

    def run(xx: np.ndarray, length: int | None) -> BootstrapResult | None:
        nonlocal note
        try:
            return bootstrap_pca_stability(xx, n_boot=n_boot, k=k, seed=seed, standardize=standardize, block=length)
        except NotApplicableError as err:
            note = str(err)
            k_fit = min(k, n - 1, p)
            if n >= 3 and k_fit >= 1:
                return bootstrap_pca_stability(
                    xx, n_boot=n_boot, k=k_fit, seed=seed, standardize=standardize, block=length
                )
        return None

    res = run(x, None)
    data = _bootstrap_vars(res, n_boot, k, "")
    attrs: dict[str, Any] = {}
    if block is not None:
        order = np.argsort(pd.to_datetime(pooled["date"].values), kind="stable")
        x_time = x[order]
        if block == "auto":
            rule = "auto: Politis-White (2004) block length of the PC1 anomalies"
            try:
                length = pc1_block_length(x_time, pooled["day_of_year"].values[order], standardize=standardize)
            except NotApplicableError:
                length = 1
        else:
            rule = "fixed (regimes.bootstrap_block)"
            length = int(min(block, max(n, 1)))
        res_block = run(x_time, length) if n >= 3 else None
        data.update(_bootstrap_vars(res_block, n_boot, k, "_block"))
        attrs.update(block_length=int(length), block_rule=rule)
    pcs = np.arange(1, k + 1)
    ds = xr.Dataset(data, coords={"pc": pcs, "angle": pcs, "bound": ["p2.5", "p97.5"], "resample": np.arange(n_boot)})
    for suffix, how in (("", "dates resampled one by one"), ("_block", "blocks of consecutive dates resampled")):
        if f"abs_cos{suffix}" in ds:
            ds[f"abs_cos{suffix}"].attrs["long_name"] = (
                f"|cos| between the full-data PC and the resampled PC of the same rank ({how})"
            )
            ds[f"principal_angle{suffix}"].attrs.update(
                units="degree", long_name=f"principal angles between leading subspaces ({how})"
            )
    ds.attrs.update(region=region, n_boot=n_boot, k=k, k_computed=res.k if res is not None else 0, seed=seed)
    ds.attrs.update(n_dates=n, n_features=p, note=note, **attrs)
    return ds, res


def _check_block(block: int | str | None) -> int | str | None:
    if block is None or block == "none":
        return None
    if block == "auto":
        return "auto"
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or int(block) < 1:
        raise ValueError(f"regimes.bootstrap_block must be 'auto', 'none' or an integer >= 1, got {block!r}")
    return int(block)


def _bootstrap_vars(res: BootstrapResult | None, n_boot: int, k: int, suffix: str) -> dict[str, Any]:
    """Variables of :func:`bootstrap_dataset` from one result (NaN where not computed)."""
    k_done = res.k if res is not None else 0
    abs_cos = np.full((n_boot, k), np.nan)
    abs_cos_mean, abs_cos_ci = np.full(k, np.nan), np.full((k, 2), np.nan)
    angles = np.full((n_boot, k), np.nan)
    angles_mean, angles_ci = np.full(k, np.nan), np.full((k, 2), np.nan)
    if res is not None:
        abs_cos[:, :k_done], abs_cos_mean[:k_done], abs_cos_ci[:k_done] = res.abs_cos, res.abs_cos_mean, res.abs_cos_ci
        if k_done == k:
            angles, angles_mean, angles_ci = res.angles_deg, res.angles_mean, res.angles_ci
    return {
        f"abs_cos{suffix}": (("resample", "pc"), abs_cos),
        f"abs_cos{suffix}_mean": (("pc",), abs_cos_mean),
        f"abs_cos{suffix}_ci": (("pc", "bound"), abs_cos_ci),
        f"principal_angle{suffix}": (("resample", "angle"), angles),
        f"principal_angle{suffix}_mean": (("angle",), angles_mean),
        f"principal_angle{suffix}_ci": (("angle", "bound"), angles_ci),
    }


def bootstrap_headline(ds: xr.Dataset) -> list[dict[str, Any]]:
    """``pcJ_bootstrap_cos`` (mean, 95 % interval) for each of the ``k`` PCs and the largest
    principal angle of the leading subspace, ``pc1_K_subspace_max_angle_deg``; where the
    dataset holds the block bootstrap, the same rows ending in ``_block`` follow.

    Args:
        ds: The dataset of :func:`bootstrap_dataset`; its NaN statistics become rows with
            an empty value and the dataset's ``note`` as the reason.
    """
    n_boot = int(ds.sizes["resample"])
    note = str(ds.attrs.get("note", "")) or "not computed"

    def row(metric: str, mean: xr.DataArray, ci: xr.DataArray) -> dict[str, Any]:
        how = "circular blocks of consecutive dates" if metric.endswith("_block") else "dates one by one"
        what = (
            "largest principal angle between the full-data and resampled leading subspaces"
            if "subspace" in metric
            else "|cos| between the full-data and resampled PC"
        )
        extra = {
            "method": f"bootstrap of the dates ({how}), {n_boot} resamples, PCA refitted; mean {what}; "
            "ci_low/ci_high: the 2.5-97.5 % spread over resamples (a stability spread, not a "
            "confidence interval of a population value)",
            "n_unit": "resamples",
            "unit": "degrees" if metric.endswith(("_deg", "_deg_block")) else "",
        }
        if not np.isfinite(float(mean)):
            return not_applicable(metric, note, **extra)
        return {
            "metric": metric,
            "value": float(mean),
            "ci_low": float(ci[0]),
            "ci_high": float(ci[1]),
            "n": n_boot,
            **extra,
        }

    k = int(ds.sizes["pc"])
    rows = []
    for suffix in ("", "_block"):
        if f"abs_cos{suffix}_mean" not in ds:
            continue
        mean, ci = ds[f"abs_cos{suffix}_mean"], ds[f"abs_cos{suffix}_ci"]
        rows += [row(f"pc{j + 1}_bootstrap_cos{suffix}", mean[j], ci[j]) for j in range(k)]
        rows.append(
            row(
                f"pc1_{k}_subspace_max_angle_deg{suffix}",
                ds[f"principal_angle{suffix}_mean"][-1],
                ds[f"principal_angle{suffix}_ci"][-1],
            )
        )
    return rows


def season_headline(pca: xr.Dataset, n_permutations: int = 10000, seed: int = 0) -> list[dict[str, Any]]:
    """Winter (DJF) against summer (JJA) along PC1: Cohen's d and two p-values.

    ``pc1_djf_jja_perm_p`` is the published permutation test, which treats the days as
    independent (too many false positives for autocorrelated series);
    ``pc1_djf_jja_surrogate_p`` tests ``|d|`` against ``n_permutations``
    phase-randomised surrogates of PC1 in time order
    (:func:`~aurora_xai.regimes.seasonal.surrogate_season_test`), a null that keeps
    PC1's autocorrelation. Without at least two dates of each of the two seasons (e.g. a
    window of January only) the rows have an empty value and the reason as note.
    """
    seasons = pca["season"].values.astype(str)
    metrics = ("pc1_djf_jja_cohen_d", "pc1_djf_jja_perm_p", "pc1_djf_jja_surrogate_p")
    perm = (
        f"published: permutation of the season labels over DJF and JJA days treated as independent, "
        f"{n_permutations} permutations"
    )
    surr = (
        f"phase-randomised surrogates of PC1 in time order (keeps its autocorrelation), "
        f"{n_permutations} surrogates, two-sided on |d|"
    )
    extras = {
        "pc1_djf_jja_cohen_d": {
            "method": "|Cohen's d| of PC1, DJF against JJA days; no interval (tested by pc1_djf_jja_surrogate_p)",
            "n_unit": "DJF and JJA days",
        },
        "pc1_djf_jja_perm_p": {"method": perm, "n_unit": "DJF and JJA days"},
        "pc1_djf_jja_surrogate_p": {"method": surr, "n_unit": "dates"},
    }
    try:
        sep = season_separation(
            pca["scores"].sel(pc=1).values, seasons, "DJF", "JJA", n_permutations=n_permutations, seed=seed
        )
    except NotApplicableError as err:
        n = int(np.isin(seasons, ["DJF", "JJA"]).sum())
        reason = f"DJF against JJA: {err}"
        return [not_applicable(m, reason, n, **extras[m]) for m in metrics]
    n = sep.n_a + sep.n_b
    order = np.argsort(pd.to_datetime(pca["date"].values), kind="stable")
    surrogate = surrogate_season_test(
        pca["scores"].sel(pc=1).values[order],
        pca["day_of_year"].values[order],
        seasons[order],
        "DJF",
        "JJA",
        n_surrogates=n_permutations,
        seed=seed,
    )
    extras["pc1_djf_jja_perm_p"]["method"] += p_floor_text(sep.p_value, n_permutations)
    extras["pc1_djf_jja_surrogate_p"]["method"] += p_floor_text(surrogate.cohen_d_p, n_permutations)
    return [
        {"metric": "pc1_djf_jja_cohen_d", "value": abs(sep.cohen_d), "n": n, **extras["pc1_djf_jja_cohen_d"]},
        {"metric": "pc1_djf_jja_perm_p", "value": sep.p_value, "n": n, **extras["pc1_djf_jja_perm_p"]},
        {
            "metric": "pc1_djf_jja_surrogate_p",
            "value": surrogate.cohen_d_p,
            "n": len(order),
            **extras["pc1_djf_jja_surrogate_p"],
        },
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


# (metric, has an interval, the metric of folds blocked in time beside it)
_HEADLINE_KEYS = (
    ("storm_calm_auc", True, "storm_calm_auc_blocked"),
    ("storm_calm_balanced_accuracy", True, "storm_calm_balanced_accuracy_blocked"),
    ("storm_calm_perm_p", False, "storm_calm_perm_p_block"),
    ("storm_calm_linearly_separable", False, None),
    ("storm_calm_contrastive_auc", False, "storm_calm_contrastive_auc_blocked"),
    ("storm_calm_residualised_auc", True, "storm_calm_residualised_auc_blocked"),
)


def _storm_calm_method(key: str, flat: dict[str, Any], n_permutations: int, k: int) -> str:
    """The headline's ``method`` of the storm/calm statistic ``key`` (``flat``: the flat
    report of :meth:`~aurora_xai.regimes.storm_calm.StormCalmReport.to_dict`)."""
    defaults = inspect.signature(storm_calm_report).parameters
    n_boot, n_repeats = defaults["n_boot"].default, defaults["n_repeats"].default
    kind = flat.get("storm_calm_cv_blocking", "block")
    gap = flat.get("storm_calm_cv_gap_days")
    rule = flat.get("storm_calm_cv_gap_rule")
    iid_folds = f"{k}-fold CV, shuffled stratified folds of single days, {n_repeats} repeats"
    blocked_folds = f"{k}-fold CV, folds of whole {kind}s with a {gap}-day gap" + (f" ({rule})" if rule else "")
    iid_ci = f"percentile bootstrap of the held-out decisions (class-stratified days), {n_boot} resamples"
    blocked_ci = f"percentile bootstrap of the held-out decisions (whole {kind}s resampled), {n_boot} resamples"
    methods = {
        "storm_calm_auc": f"held-out AUC; {iid_folds}; {iid_ci}",
        "storm_calm_balanced_accuracy": f"held-out balanced accuracy; {iid_folds}; {iid_ci}",
        "storm_calm_perm_p": f"label permutation within test folds (days treated as independent), "
        f"{n_permutations} permutations",
        "storm_calm_linearly_separable": "in-sample: 1 if a hyperplane separates every storm day from every calm "
        "day in the full features, else 0; no interval or test"
        + (
            " (trivial here: no more days than features + 1, any labelling is separable)"
            if flat.get("storm_calm_trivially_separable") == 1
            else ""
        ),
        "storm_calm_contrastive_auc": f"held-out AUC of the storm-minus-calm mean axis; {iid_folds}; no interval",
        "storm_calm_residualised_auc": f"held-out AUC after removing two annual harmonics; {iid_folds}; {iid_ci}",
        "storm_calm_auc_blocked": f"held-out AUC; {blocked_folds}; {blocked_ci}",
        "storm_calm_balanced_accuracy_blocked": f"held-out balanced accuracy; {blocked_folds}; {blocked_ci}",
        "storm_calm_contrastive_auc_blocked": f"held-out AUC of the storm-minus-calm mean axis; {blocked_folds}; "
        "no interval",
        "storm_calm_residualised_auc_blocked": "held-out AUC after removing two annual harmonics (fitted on "
        f"{flat.get('storm_calm_residualised_auc_blocked_fit', 'all dates')}); {blocked_folds}; {blocked_ci}",
        "storm_calm_contrastive_auc_in_sample": "in-sample: the storm-minus-calm axis fitted and scored on the "
        "same days (optimistic); no interval",
    }
    if key == "storm_calm_perm_p_block":
        if flat.get("storm_calm_perm_p_block_null") == "circular_shift":
            draws = int(flat.get("storm_calm_perm_p_block_draws", n_permutations))
            method = (
                f"circular-shift permutation over all dates, {draws} shifts, min shift "
                f"{flat.get('storm_calm_perm_p_block_min_shift')} d; {blocked_folds}"
            )
        else:
            draws = n_permutations
            method = f"label permutation, {draws} permutations; {blocked_folds}"
        return method + p_floor_text(float(flat.get(key, np.nan)), draws)
    if key.startswith("storm_calm_linearly_separable_pc"):
        method = (
            f"in-sample: 1 if a hyperplane separates the storm from the calm days on the first "
            f"{flat.get('storm_calm_n_pcs')} PCs of all dates, else 0; no interval or test"
        )
    else:
        method = methods[key]
    if key == "storm_calm_perm_p":
        method += p_floor_text(float(flat.get(key, np.nan)), n_permutations)
    if key in flat.get("storm_calm_published", ()):
        method = "published (i.i.d. days, shuffled folds; kept for comparison): " + method
    return method


#: Cross-validated statistics drawn side by side (i.i.d. and blocked folds) in the figure.
CV_STATISTICS = ("auc", "balanced_accuracy", "contrastive_auc", "residualised_auc")


def blocking_of(
    cv_blocking: str | None, cv_gap_days: int | str | None, dates, decorrelation_days: int | None = None
) -> TimeBlocking | None:
    """The :class:`~aurora_xai.regimes.blocking.TimeBlocking` of the settings
    ``regimes.cv_blocking`` and ``regimes.cv_gap_days`` for samples on ``dates``
    (None for ``cv_blocking`` None or ``'none'``).

    ``cv_gap_days`` is a gap in days (an explicit override) or ``'auto'``: the gap is
    then ``decorrelation_days``, the measured decorrelation length of the features
    (:func:`all_dates_of`), lowered only where the folds need it
    (:meth:`~aurora_xai.regimes.blocking.TimeBlocking.feasible`).

    Raises:
        ValueError: for an unknown kind, a kind without a gap, or ``'auto'`` without
            ``decorrelation_days``.
    """
    if cv_blocking is None or cv_blocking == "none":
        return None
    if cv_blocking not in BLOCKINGS:
        raise ValueError(f"regimes.cv_blocking must be one of {list(BLOCKINGS)}, got {cv_blocking!r}")
    if cv_gap_days is None:
        raise ValueError(f"regimes.cv_blocking {cv_blocking!r} needs regimes.cv_gap_days")
    if cv_gap_days == "auto":
        if decorrelation_days is None:
            raise ValueError("regimes.cv_gap_days 'auto' needs the decorrelation length of the features")
        return TimeBlocking.from_dates(cv_blocking, dates, int(decorrelation_days), int(decorrelation_days))
    if isinstance(cv_gap_days, str) or isinstance(cv_gap_days, bool):
        raise ValueError(f"regimes.cv_gap_days must be 'auto' or an integer >= 0, got {cv_gap_days!r}")
    return TimeBlocking.from_dates(cv_blocking, dates, int(cv_gap_days))


def all_dates_of(
    pooled: xr.Dataset, region: str, levels: Sequence[str] | None, dates, standardize: bool = True
) -> AllDates:
    """The features of all dates in time order and the rows of the labelled ``dates``.

    The decorrelation length is the Politis-White block length of PC1's anomalies over
    all dates (:func:`~aurora_xai.regimes.bootstrap.pc1_block_length`, as
    ``regimes.bootstrap_block: auto``; 1 for fewer than 3 dates).
    """
    all_days = pd.DatetimeIndex(pd.to_datetime(pooled["date"].values)).normalize()
    order = np.argsort(all_days.values, kind="stable")
    x_all, _ = feature_matrix(pooled, region, levels)
    x_time = np.asarray(x_all, dtype=np.float64)[order]
    doy = np.asarray(pooled["day_of_year"].values)[order]
    positions = all_days[order].get_indexer(pd.DatetimeIndex(dates).normalize())
    if np.any(positions < 0):
        raise ValueError("labelled days without a latent sample")
    try:
        length = pc1_block_length(x_time, doy, standardize=standardize)
    except NotApplicableError:
        length = 1
    return AllDates(x=x_time, positions=positions.astype(np.int64), day_of_year=doy, decorrelation_days=int(length))


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
    cv_blocking: str | None = None,
    cv_gap_days: int | str | None = None,
) -> tuple[StormCalmReport, list[dict[str, Any]], xr.Dataset]:
    """Storm-versus-calm separability with held-out scores.

    A window with too few labelled days (no storm day, or fewer than ``k`` of a class
    for the ``k``-fold statistics; the labels' shortfall is recorded with the labels)
    gives every statistic it allows; the others are listed with their reason under
    ``not_applicable`` in the report, are headline rows with an empty value
    and the reason, and NaN in the projection (whose ``note`` attribute says why).

    Args:
        pooled, labels, region, levels: The labelled days' features
            (:func:`storm_calm_subset`).
        seed, n_permutations, k, n_pcs: As in
            :func:`~aurora_xai.regimes.storm_calm.storm_calm_report`.
        n_pca: PCs of all dates whose scores the projection dataset holds.
        cv_blocking: ``'episode'`` or ``'week'`` (``regimes.cv_blocking``) adds the
            statistics of folds blocked in time beside the published ones (shuffled
            folds of single days); None or ``'none'`` computes the published ones only.
        cv_gap_days: Days left out of training around every test day, or ``'auto'``
            (the features' decorrelation length, :func:`blocking_of`)
            (``regimes.cv_gap_days``); needed with ``cv_blocking``. With a blocking the
            blocked permutation test shifts the features of all dates circularly
            against the labels and the blocked residualised AUC fits the annual
            harmonics on all dates (:func:`all_dates_of`,
            :func:`~aurora_xai.regimes.storm_calm.storm_calm_report`).

    Returns:
        ``(report, headline rows, projections)``: the full report of
        :func:`~aurora_xai.regimes.storm_calm.storm_calm_report` with the in-sample
        contrastive AUC, the headline rows
        (each blocked row right after its published sibling), and a dataset of each
        labelled day's held-out contrastive projection ``(day,)``, its scores on the PCs
        of all dates ``(day, pc)`` and the cross-validated scores with their intervals,
        ``cv_score (statistic, cv)`` and ``cv_score_ci (statistic, cv, bound)`` (``cv``
        ``iid`` and ``blocked``; NaN where not computed, ``cv_score_note`` says why).

    Raises:
        ValueError: if a labelled day has no latent sample, or for malformed input
            (an unknown ``cv_blocking``, a blocking without ``cv_gap_days``).
    """
    x, y, doy, seasons, dates = storm_calm_subset(pooled, labels, region, levels)
    everything = None
    if cv_blocking not in (None, "none"):
        everything = all_dates_of(pooled, region, levels, dates)
    blocking = blocking_of(
        cv_blocking, cv_gap_days, dates, None if everything is None else everything.decorrelation_days
    )
    report = storm_calm_report(
        x,
        y,
        doy,
        seasons,
        seed=seed,
        n_permutations=n_permutations,
        k=k,
        n_pcs=n_pcs,
        blocking=blocking,
        all_dates=everything,
    )
    if report.blocked is not None:
        blocking = dataclasses.replace(blocking, gap_days=report.blocked.gap_days)
    notes = dict(report.not_applicable)
    flat = report.to_dict()
    n = len(y)
    rows: list[dict[str, Any]] = []

    def extra(key: str) -> dict[str, str]:
        return {"method": _storm_calm_method(key, flat, n_permutations, k), "n_unit": "labelled days"}

    def add_row(key: str, has_ci: bool) -> None:
        if key in notes:
            rows.append(not_applicable(key, notes[key], n, **extra(key)))
            return
        if key not in flat:
            return
        row = {"metric": key, "value": float(flat[key]), "n": n, **extra(key)}
        if has_ci and f"{key}_ci_low" in flat:
            row.update(ci_low=float(flat[f"{key}_ci_low"]), ci_high=float(flat[f"{key}_ci_high"]))
        rows.append(row)

    for key, has_ci, blocked in _HEADLINE_KEYS:
        add_row(key, has_ci)
        if blocking is not None and blocked is not None:
            add_row(blocked, has_ci)
    # The published score: the contrastive axis fitted and scored on the same days.
    key = "storm_calm_contrastive_auc_in_sample"
    try:
        in_sample = float(auc_from_scores(contrastive_axis(x, y).project(x), y))
        report = dataclasses.replace(report, contrastive_auc_in_sample=in_sample)
        flat = {**flat, key: in_sample}
        flat["storm_calm_published"] = [*flat.get("storm_calm_published", []), key]
        rows.append({"metric": key, "value": in_sample, "n": n, **extra(key)})
    except NotApplicableError as err:
        notes[key] = str(err)
        report = dataclasses.replace(report, not_applicable=notes)
        rows.append(not_applicable(key, str(err), n, **extra(key)))
    sep_pc = f"storm_calm_linearly_separable_pc{report.n_pcs}"
    flat.setdefault("storm_calm_n_pcs", report.n_pcs)
    if sep_pc in flat:
        rows.append({"metric": sep_pc, "value": float(flat[sep_pc]), "n": n, **extra(sep_pc)})
    elif sep_pc in notes:
        rows.append(not_applicable(sep_pc, notes[sep_pc], n, **extra(sep_pc)))
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
    ds = ds.merge(_cv_scores(report, blocking))
    ds.attrs.update(
        cv_blocking="none" if blocking is None else blocking.kind,
        cv_gap_days=0 if blocking is None else blocking.gap_days,
        cv_gap_rule="" if blocking is None else blocking.gap_rule,
        perm_p_block_null="" if report.blocked is None else report.blocked.perm_null,
        published_statistics="cv iid: shuffled folds of single days (published; i.i.d. days)",
        n_blocks=n if report.blocked is None else int(report.blocked.n_blocks),
    )
    perm_p_block = None if report.blocked is None else report.blocked.perm_p
    for attr, value in (("perm_p", report.perm_p), ("perm_p_block", perm_p_block)):
        if value is not None:
            ds.attrs[attr] = float(value)
    return report, rows, ds


def _cv_scores(report: StormCalmReport, blocking: TimeBlocking | None) -> xr.Dataset:
    """``cv_score (statistic, cv)``, its interval and notes from a storm/calm report."""
    notes = report.not_applicable
    flat = report.to_dict()
    score = np.full((len(CV_STATISTICS), 2), np.nan)
    ci = np.full((len(CV_STATISTICS), 2, 2), np.nan)
    why = np.full((len(CV_STATISTICS), 2), "", dtype=object)
    for i, stat in enumerate(CV_STATISTICS):
        for j, suffix in enumerate(("", "_blocked")):
            key = f"storm_calm_{stat}{suffix}"
            if suffix and blocking is None:
                why[i, j] = "folds blocked in time not requested (regimes.cv_blocking: none)"
            elif key in flat:
                score[i, j] = float(flat[key])
                if f"{key}_ci_low" in flat:
                    ci[i, j] = flat[f"{key}_ci_low"], flat[f"{key}_ci_high"]
            else:
                why[i, j] = notes.get(key, "not computed")
    out = xr.Dataset(
        {
            "cv_score": (("statistic", "cv"), score),
            "cv_score_ci": (("statistic", "cv", "bound"), ci),
            "cv_score_note": (("statistic", "cv"), why.astype(str)),
        },
        coords={"statistic": list(CV_STATISTICS), "cv": ["iid", "blocked"], "bound": ["p2.5", "p97.5"]},
    )
    out["cv_score"].attrs["long_name"] = "cross-validated storm/calm score (iid: shuffled folds of single days)"
    return out
