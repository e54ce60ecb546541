"""The study's calibration cases (registered in :data:`~aurora_xai.calibration.suite.CASES`).

Every case runs the library's own function for a headline statistic on simulated data
(:mod:`aurora_xai.calibration.simulate`); its ``methods`` name the function and the
settings used (fewer permutations and bootstrap resamples than the study's defaults,
which changes the resolution of a p-value but not its calibration).

Nulls:

* ``reference_*``: two independent AR(1) series; a circular-shift test of their
  correlation (calibrated) and an i.i.d. permutation test (not: it ignores the serial
  dependence). They check the machinery: the suite must pass the first and fail the
  second.
* ``storm_calm_null_phi*``: 100 AR(1) features with no signal; storm and calm days are
  the 30 windiest and 30 calmest days of an independent seasonal wind index
  (:func:`~aurora_xai.calibration.simulate.seasonal_labels`), so the labels cluster by
  season.
* ``storm_calm_null_phi09_week``: the same at phi 0.9 with folds of ISO weeks, gaps of 3
  and 10 days.
* ``djf_jja_null_phi*``: PC1 of 50 AR(1) features with no annual cycle, DJF against JJA.
* ``perturbation_null_n*``: the top mask is one more random mask (its MSE, and its curve
  over the fractions, drawn from the random masks' distribution).
* ``perturbation_effect_n*``: the top mask is a random mask scaled by 3 (the scale model
  of :mod:`aurora_xai.perturbation.rank`), so the ratio's truth is 3.
* ``intervention_null_*``: the direction is interchangeable with its random controls
  (every direction has its own effect, drawn from one distribution);
  ``intervention_effect_*`` the same data, the coverage of the direction's own ratio
  (``|effect| / population RMS slope``) and slope.

Planted effects:

* ``storm_calm_effect_phi*``: one AR(1) feature shifted by ``delta`` on storm days, so its
  AUC is ``Phi(delta / sqrt 2) = 0.75`` whatever the season; seasonal labels as above.
* ``probe_effect_*``: ridge probes of a target with population R² 0.3 from 5 AR(1)
  features; ``probe_taps_*``: 4 equally good taps, the best on held-out scores and the
  tap chosen inside the training folds (nested).
* ``composite_effect_e*``: a per-day quantity 1 higher on storm days, storm and calm days
  in ``E`` episodes of 4 days each, AR(1) noise.
* ``planted_match_null_phi*`` / ``planted_match_effect_phi*``: the SAE atlas's planted
  match (:func:`~aurora_xai.features.atlas.heldout_planted_match`) on a field and two
  dictionaries of AR(1) activations, with no relation (null: the intervals should exclude
  0 at the nominal rate, with the selection's gap and without it) or a trained feature of
  population r 0.4 with the field (effect: coverage of 0.4).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from ..attribution.composites import composite_table
from ..features.atlas import FeatureSums, heldout_planted_match
from ..features.split import holdout_dates, holdout_weeks
from ..interventions.summary import summary_table
from ..probes.ridge import fit_probes, select_taps
from ..regimes.applicability import NotApplicableError
from ..regimes.blocking import TimeBlocking
from ..regimes.bootstrap import pc1_block_length
from ..regimes.cv import cv_classifier_scores, permutation_pvalue
from ..regimes.pca import fit_pca
from ..regimes.seasonal import season_separation, surrogate_season_test
from ..regimes.storm_calm import AllDates, storm_calm_report
from ..regimes.study import blocking_of
from .simulate import ar1, episode_days, seasonal_labels, seasons_of, year_days
from .suite import Case, case_rng, per_realisation, register

__all__: list[str] = []

PHIS = (0.5, 0.9, 0.95)
N_DAYS = 365
N_FEATURES = 100
#: Permutations and bootstrap resamples per realisation (the study uses 1000).
N_PERM = 199
N_BOOT = 200
GAP_DAYS = 3  # regimes.cv_gap_days of the default config


def _phi_label(phi: float) -> str:
    return f"{phi:g}".replace(".", "")


def _safe(fn: Callable[[], float]) -> float:
    try:
        return float(fn())
    except NotApplicableError:
        return float("nan")


def _excludes(ci, value: float) -> float:
    lo, hi = float(ci[0]), float(ci[1])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return float("nan")
    return float(lo > value or hi < value)


def _covers(ci, value: float) -> float:
    lo, hi = float(ci[0]), float(ci[1])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return float("nan")
    return float(lo <= value <= hi)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


# ----------------------------------------------------------------------------- reference tests


def _circular_shift_p(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two-sided circular-shift p ``(R,)`` of the correlation of columns of ``x``, ``y`` ``(n, R)``."""
    n = x.shape[0]
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    ys = (y - y.mean(axis=0)) / y.std(axis=0)
    cc = np.fft.irfft(np.fft.rfft(xs, axis=0) * np.conj(np.fft.rfft(ys, axis=0)), n=n, axis=0) / n
    obs = np.abs(cc[0])
    exceed = (np.abs(cc[1:]) >= obs[None, :] - 1e-12).sum(axis=0)
    return (1 + exceed) / n


def _iid_permutation_p(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_perm: int) -> np.ndarray:
    """Two-sided i.i.d. permutation p ``(R,)`` of the correlation of columns of ``x``, ``y``."""
    n, r = x.shape
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    ys = (y - y.mean(axis=0)) / y.std(axis=0)
    obs = np.abs((xs * ys).mean(axis=0))
    perm = np.argsort(rng.random((n_perm, n)), axis=1)
    null = np.abs(np.einsum("bnr,nr->br", ys[perm], xs) / n)
    return (1 + (null >= obs[None, :] - 1e-12).sum(axis=0)) / (1 + n_perm)


def _reference(name: str, phi: float) -> Case:
    def simulate(n: int, seed: int) -> np.ndarray:
        out = np.empty((n, 2))
        for i in range(n):
            rng = case_rng(seed, name, i)
            xy = ar1(rng, N_DAYS, (2, 1), phi)
            out[i, 0] = _circular_shift_p(xy[:, 0], xy[:, 1])[0] < 0.05
            out[i, 1] = _iid_permutation_p(xy[:, 0], xy[:, 1], rng, N_PERM)[0] < 0.05
        return out

    return Case(
        name=name,
        kind="null",
        condition=f"two independent AR(1) series, phi {phi:g}, {N_DAYS} days",
        statistics=("reference_circular_shift_corr_p", "reference_iid_permutation_corr_p"),
        methods=(
            f"circular-shift test of |corr| over all {N_DAYS - 1} shifts (calibration.cases)",
            f"i.i.d. permutation test of |corr|, {N_PERM} permutations (calibration.cases)",
        ),
        simulate=simulate,
        calibrated=frozenset({"reference_circular_shift_corr_p"}),
        cost=0.002,
    )


# ----------------------------------------------------------------------------- storm / calm

_SC_STATS = (
    "storm_calm_perm_p",
    "storm_calm_perm_p_block",
    "storm_calm_auc",
    "storm_calm_auc_blocked",
    "storm_calm_balanced_accuracy",
    "storm_calm_balanced_accuracy_blocked",
    "storm_calm_residualised_auc",
    "storm_calm_residualised_auc_blocked",
)
_SC_METHODS = (
    f"regimes.cv.permutation_pvalue, shuffled 5 folds, labels permuted within test folds, {N_PERM} permutations",
    f"regimes.cv.permutation_pvalue, episode blocking gap {GAP_DAYS} d, episodes permuted within test folds, {N_PERM} permutations",
    f"regimes.cv.cv_classifier_scores LDA, shuffled 5 folds, day bootstrap {N_BOOT}, 1 repeat; 95% interval excludes 0.5",
    f"regimes.cv.cv_classifier_scores LDA, episode blocking gap {GAP_DAYS} d, episode bootstrap {N_BOOT}, 1 repeat; excludes 0.5",
    "as storm_calm_auc, balanced accuracy; excludes 0.5",
    "as storm_calm_auc_blocked, balanced accuracy; excludes 0.5",
    "as storm_calm_auc with 2 annual harmonics regressed out in-fold; excludes 0.5",
    "as storm_calm_auc_blocked with 2 annual harmonics regressed out in-fold; excludes 0.5",
)


def _storm_calm_null(rng: np.random.Generator, phi: float) -> list[float]:
    lab = seasonal_labels(rng, N_DAYS)
    x = ar1(rng, N_DAYS, (N_FEATURES,), phi)[lab.index]
    y = lab.y
    seed = _seed(rng)
    blocking = TimeBlocking("episode", lab.days, GAP_DAYS)
    kw = dict(model="lda", k=5, seed=seed)
    cv = dict(kw, n_repeats=1, n_boot=N_BOOT)
    out = [
        _safe(lambda: permutation_pvalue(x, y, n_permutations=N_PERM, **kw).p_value < 0.05),
        _safe(lambda: permutation_pvalue(x, y, n_permutations=N_PERM, blocking=blocking, **kw).p_value < 0.05),
    ]
    for extra in ({}, {"blocking": blocking}):
        res = None
        try:
            res = cv_classifier_scores(x, y, **cv, **extra)
        except NotApplicableError:
            pass
        out.append(np.nan if res is None else _excludes(res.auc_ci, 0.5))
        out.append(np.nan if res is None else _excludes(res.balanced_accuracy_ci, 0.5))
    # order: auc, ba (iid), auc, ba (blocked) -> reorder to _SC_STATS
    auc_i, ba_i, auc_b, ba_b = out[2:6]
    resid = []
    for extra in ({}, {"blocking": blocking}):
        resid.append(
            _safe(
                lambda extra=extra: _excludes(
                    cv_classifier_scores(x, y, day_of_year=lab.day_of_year, n_harmonics=2, **cv, **extra).auc_ci, 0.5
                )
            )
        )
    return [out[0], out[1], auc_i, auc_b, ba_i, ba_b, resid[0], resid[1]]


def _storm_calm_null_case(phi: float) -> Case:
    name = f"storm_calm_null_phi{_phi_label(phi)}"
    return Case(
        name=name,
        kind="null",
        condition=f"{N_FEATURES} AR(1) features phi {phi:g}; 30 storm/30 calm days of an independent seasonal wind index",
        statistics=_SC_STATS,
        methods=_SC_METHODS,
        simulate=per_realisation(name, lambda rng: _storm_calm_null(rng, phi)),
        cost=0.15,
    )


_SC_REPORT_STATS = (
    "storm_calm_perm_p_block",
    "storm_calm_auc_blocked",
    "storm_calm_balanced_accuracy_blocked",
    "storm_calm_residualised_auc_blocked",
)


def _storm_calm_report_null(rng: np.random.Generator, phi: float) -> list[float]:
    """The blocked rows as the workflow computes them (``score_storm_calm``): episode
    folds with the automatic gap (the decorrelation length of PC1 over all dates,
    lowered where the folds need it), the circular-shift label null over all dates and
    the residualisation on all dates (:func:`~aurora_xai.regimes.storm_calm.storm_calm_report`)."""
    lab = seasonal_labels(rng, N_DAYS)
    x_all = ar1(rng, N_DAYS, (N_FEATURES,), phi)
    doy_all = year_days(N_DAYS).dayofyear.to_numpy()
    try:
        length = pc1_block_length(x_all, doy_all)
    except NotApplicableError:
        length = 1
    blocking = blocking_of("episode", "auto", lab.dates, length)
    report = storm_calm_report(
        x_all[lab.index],
        lab.y,
        lab.day_of_year,
        lab.seasons,
        seed=_seed(rng),
        n_permutations=N_PERM,
        n_repeats=1,
        n_boot=N_BOOT,
        include_logistic=False,
        blocking=blocking,
        all_dates=AllDates(x=x_all, positions=lab.index, day_of_year=doy_all, decorrelation_days=int(length)),
    )
    b = report.blocked
    if b is None:
        return [np.nan] * len(_SC_REPORT_STATS)

    def excl(score) -> float:
        return np.nan if score is None else _excludes((score.ci_low, score.ci_high), 0.5)

    return [
        np.nan if b.perm_p is None else float(b.perm_p < 0.05),
        excl(b.auc),
        excl(b.balanced_accuracy),
        excl(b.residualised_auc),
    ]


def _storm_calm_report_case(phi: float) -> Case:
    name = f"storm_calm_report_null_phi{_phi_label(phi)}"
    return Case(
        name=name,
        kind="null",
        condition=(
            f"{N_FEATURES} AR(1) features phi {phi:g} on all {N_DAYS} dates; 30 storm/30 calm days of an "
            "independent seasonal wind index; the workflow's blocked method"
        ),
        statistics=_SC_REPORT_STATS,
        methods=(
            f"regimes.storm_calm.storm_calm_report: circular shift of all dates' features, least shift the "
            f"decorrelation length, {N_PERM} shifts; episode folds, automatic gap",
            f"as storm_calm_perm_p_block: LDA AUC, episode bootstrap {N_BOOT}, 1 repeat; excludes 0.5",
            "as storm_calm_auc_blocked, balanced accuracy; excludes 0.5",
            "as storm_calm_auc_blocked, 2 annual harmonics fitted on all dates regressed out; excludes 0.5",
        ),
        simulate=per_realisation(name, lambda rng: _storm_calm_report_null(rng, phi)),
        calibrated=frozenset({"storm_calm_perm_p_block"}),
        cost=0.3,
    )


#: Shift of the planted storm feature: AUC ``Phi(delta / sqrt 2) = 0.75``.
STORM_AUC = 0.75
STORM_DELTA = float(np.sqrt(2.0) * norm.ppf(STORM_AUC))

_SC_EFFECT_STATS = (
    "storm_calm_auc",
    "storm_calm_auc_blocked",
    "storm_calm_residualised_auc",
    "storm_calm_residualised_auc_blocked",
)


def _storm_calm_null_week(rng: np.random.Generator, phi: float) -> list[float]:
    lab = seasonal_labels(rng, N_DAYS)
    x = ar1(rng, N_DAYS, (N_FEATURES,), phi)[lab.index]
    y = lab.y
    seed = _seed(rng)
    out = []
    for gap in (GAP_DAYS, 10):
        blocking = TimeBlocking("week", lab.days, gap)
        out.append(
            _safe(
                lambda b=blocking: (
                    permutation_pvalue(x, y, model="lda", k=5, n_permutations=N_PERM, seed=seed, blocking=b).p_value
                    < 0.05
                )
            )
        )
        out.append(
            _safe(
                lambda b=blocking: _excludes(
                    cv_classifier_scores(
                        x, y, model="lda", k=5, seed=seed, n_repeats=1, n_boot=N_BOOT, blocking=b
                    ).auc_ci,
                    0.5,
                )
            )
        )
    return out


def _storm_calm_week_case(phi: float) -> Case:
    name = f"storm_calm_null_phi{_phi_label(phi)}_week"
    return Case(
        name=name,
        kind="null",
        condition=(
            f"{N_FEATURES} AR(1) features phi {phi:g}; 30 storm/30 calm days of an independent seasonal wind index; "
            "folds of ISO weeks"
        ),
        statistics=(
            "storm_calm_perm_p_block (week, gap 3)",
            "storm_calm_auc_blocked (week, gap 3)",
            "storm_calm_perm_p_block (week, gap 10)",
            "storm_calm_auc_blocked (week, gap 10)",
        ),
        methods=(
            f"regimes.cv.permutation_pvalue, week blocking gap 3 d, label units permuted within test folds, {N_PERM} permutations",
            f"regimes.cv.cv_classifier_scores LDA, week blocking gap 3 d, week bootstrap {N_BOOT}; excludes 0.5",
            f"regimes.cv.permutation_pvalue, week blocking gap 10 d, {N_PERM} permutations",
            f"regimes.cv.cv_classifier_scores LDA, week blocking gap 10 d, week bootstrap {N_BOOT}; excludes 0.5",
        ),
        simulate=per_realisation(name, lambda rng: _storm_calm_null_week(rng, phi)),
        cost=0.1,
    )


def _storm_calm_effect(rng: np.random.Generator, phi: float) -> list[float]:
    lab = seasonal_labels(rng, N_DAYS)
    x = (ar1(rng, N_DAYS, (1,), phi)[lab.index] + STORM_DELTA * lab.y[:, None]).astype(np.float64)
    y = lab.y
    blocking = TimeBlocking("episode", lab.days, GAP_DAYS)
    cv = dict(model="lda", k=5, seed=_seed(rng), n_repeats=1, n_boot=N_BOOT)
    out = []
    for resid in (False, True):
        for extra in ({}, {"blocking": blocking}):
            kw = dict(cv, **extra)
            if resid:
                kw.update(day_of_year=lab.day_of_year, n_harmonics=2)
            out.append(_safe(lambda kw=kw: _covers(cv_classifier_scores(x, y, **kw).auc_ci, STORM_AUC)))
    return out


def _storm_calm_effect_case(phi: float) -> Case:
    name = f"storm_calm_effect_phi{_phi_label(phi)}"
    return Case(
        name=name,
        kind="effect",
        condition=(
            f"one AR(1) feature phi {phi:g} shifted by {STORM_DELTA:.3f} on storm days (AUC {STORM_AUC}, not seasonal); "
            "seasonal labels"
        ),
        statistics=_SC_EFFECT_STATS,
        methods=(
            f"regimes.cv.cv_classifier_scores LDA, shuffled 5 folds, day bootstrap {N_BOOT}; covers {STORM_AUC}",
            f"as above, episode blocking gap {GAP_DAYS} d, episode bootstrap; covers {STORM_AUC}",
            f"as storm_calm_auc, 2 harmonics regressed out in-fold; covers {STORM_AUC}",
            f"as storm_calm_auc_blocked, 2 harmonics regressed out in-fold; covers {STORM_AUC}",
        ),
        simulate=per_realisation(name, lambda rng: _storm_calm_effect(rng, phi)),
        cost=0.05,
    )


# ----------------------------------------------------------------------------- DJF vs JJA


def _djf_jja_null(rng: np.random.Generator, phi: float) -> list[float]:
    dates = year_days(N_DAYS)
    x = ar1(rng, N_DAYS, (50,), phi)
    pc1 = fit_pca(x, 1).scores[:, 0]
    seasons = seasons_of(dates)
    sep = season_separation(pc1, seasons, "DJF", "JJA", n_permutations=N_PERM, seed=_seed(rng))
    surr = surrogate_season_test(pc1, dates.dayofyear.to_numpy(), seasons, n_surrogates=N_PERM, seed=_seed(rng))
    return [sep.p_value < 0.05, surr.cohen_d_p < 0.05, surr.annual_r2_p < 0.05]


def _djf_jja_case(phi: float) -> Case:
    name = f"djf_jja_null_phi{_phi_label(phi)}"
    return Case(
        name=name,
        kind="null",
        condition=f"PC1 of 50 AR(1) features phi {phi:g}, no annual cycle, {N_DAYS} days",
        statistics=("pc1_djf_jja_perm_p", "pc1_djf_jja_surrogate_p", "pc1_annual_r2_surrogate_p"),
        methods=(
            f"regimes.seasonal.season_separation, i.i.d. label permutation, {N_PERM} permutations (published)",
            f"regimes.seasonal.surrogate_season_test, |Cohen's d| against {N_PERM} phase-randomised surrogates of PC1",
            f"regimes.seasonal.surrogate_season_test, annual R2 against {N_PERM} phase-randomised surrogates of PC1",
        ),
        calibrated=frozenset({"pc1_djf_jja_surrogate_p"}),
        simulate=per_realisation(name, lambda rng: _djf_jja_null(rng, phi)),
        cost=0.01,
    )


# ----------------------------------------------------------------------------- perturbation

FRACTIONS = np.array([0.5, 1.0, 2.0, 5.0, 10.0])


def _mask_curves(rng: np.random.Generator, n: int) -> np.ndarray:
    """MSE curves ``(P, n)`` of ``n`` random masks over :data:`FRACTIONS` (mask-level factor)."""
    level = np.exp(0.3 * rng.standard_normal(n))
    jitter = np.exp(0.1 * rng.standard_normal((len(FRACTIONS), n)))
    return FRACTIONS[:, None] * level[None, :] * jitter


def _perturbation_null(rng: np.random.Generator, n_draws: int) -> list[float]:
    from ..perturbation.rank import aopc_rank_ratio, rank_ratio

    curves = _mask_curves(rng, n_draws + 1)
    top, rnd = curves[:, 0], curves[:, 1:]
    at_p1 = int(np.flatnonzero(FRACTIONS == 1.0)[0])
    one = rank_ratio(top[at_p1], rnd[at_p1])
    curve = aopc_rank_ratio(top, rnd)
    # An unbounded interval ([0, inf) with too few draws) never excludes 1.
    return [
        float(one.ci_low > 1.0 or one.ci_high < 1.0),
        float(one.p_exceed < 0.05),
        float(curve.ci_low > 1.0 or curve.ci_high < 1.0),
        float(curve.p_exceed < 0.05),
    ]


def _perturbation_case(n_draws: int) -> Case:
    name = f"perturbation_null_n{n_draws}"
    return Case(
        name=name,
        kind="null",
        condition=f"top mask is another random mask; {n_draws} random draws, MSE curves over {len(FRACTIONS)} fractions",
        statistics=(
            "perturbation_ratio_p1",
            "perturbation_p_exceed_p1",
            "perturbation_aopc_ratio",
            "perturbation_aopc_p_exceed",
        ),
        methods=(
            "perturbation.rank.rank_ratio: rank interval, the top mask as one more draw; excludes 1",
            "perturbation.rank.rank_ratio: rank p (1 + #draws >= top) / (draws + 1); p < 0.05",
            "perturbation.rank.aopc_rank_ratio: rank interval of the AOPC ratio, each draw's curve one draw; excludes 1",
            "perturbation.rank.aopc_rank_ratio: rank p of the top curve's AOPC; p < 0.05",
        ),
        simulate=per_realisation(name, lambda rng: _perturbation_null(rng, n_draws)),
        calibrated=frozenset(
            {
                "perturbation_ratio_p1",
                "perturbation_p_exceed_p1",
                "perturbation_aopc_ratio",
                "perturbation_aopc_p_exceed",
            }
        ),
        cost=0.002,
    )


#: Ratio of the planted perturbation effect: the top mask degrades as a random mask scaled by it.
PERTURBATION_RATIO = 3.0


def _perturbation_effect(rng: np.random.Generator, n_draws: int) -> list[float]:
    from ..perturbation.rank import aopc_rank_ratio, rank_ratio

    curves = _mask_curves(rng, n_draws + 1)
    top, rnd = PERTURBATION_RATIO * curves[:, 0], curves[:, 1:]
    at_p1 = int(np.flatnonzero(FRACTIONS == 1.0)[0])
    one = rank_ratio(top[at_p1], rnd[at_p1])
    curve = aopc_rank_ratio(top, rnd)
    return [
        float(one.ci_low <= PERTURBATION_RATIO <= one.ci_high),
        float(curve.ci_low <= PERTURBATION_RATIO <= curve.ci_high),
    ]


def _perturbation_effect_case(n_draws: int) -> Case:
    name = f"perturbation_effect_n{n_draws}"
    return Case(
        name=name,
        kind="effect",
        condition=(
            f"top mask degrades as a random mask times {PERTURBATION_RATIO:g}; {n_draws} random draws, "
            f"MSE curves over {len(FRACTIONS)} fractions"
        ),
        statistics=("perturbation_ratio_p1", "perturbation_aopc_ratio"),
        methods=(
            f"perturbation.rank.rank_ratio: rank interval; covers {PERTURBATION_RATIO:g}",
            f"perturbation.rank.aopc_rank_ratio: rank interval of the AOPC ratio; covers {PERTURBATION_RATIO:g}",
        ),
        simulate=per_realisation(name, lambda rng: _perturbation_effect(rng, n_draws)),
        calibrated=frozenset({"perturbation_ratio_p1", "perturbation_aopc_ratio"}),
        cost=0.002,
    )


# ----------------------------------------------------------------------------- interventions


#: Date-to-date variation of a direction's slope in the intervention cases (the
#: directions' own effects have unit variance).
INTERVENTION_DATE_SD = 0.2


def _intervention(rng: np.random.Generator, n_random: int, per_class: int) -> list[float]:
    """One realisation: [rank p < 0.05, ratio's lower bound > 1, ratio covers its truth,
    slope covers its truth]."""
    lab = seasonal_labels(rng, N_DAYS)
    pick = np.concatenate([rng.choice(np.flatnonzero(lab.y == c), size=per_class, replace=False) for c in (1, 0)])
    pick.sort()
    n_dates = len(pick)
    # Every direction (member 0 and its controls) has its own effect, drawn from one
    # distribution, and a small date-to-date variation.
    effect = rng.standard_normal(n_random + 1)
    slope = effect[None, :] + INTERVENTION_DATE_SD * rng.standard_normal((n_dates, n_random + 1))
    ds = xr.Dataset(
        {
            "slope": (("date", "direction", "member", "quantity"), slope[:, None, :, None]),
            "label": (("date",), lab.y[pick]),
            "units": (("quantity",), np.array(["K"])),
        },
        coords={"date": lab.dates[pick].values, "direction": ["pc1"], "quantity": ["2t"]},
    )
    table = summary_table(ds, n_boot=N_BOOT, seed=_seed(rng)).set_index("statistic")
    ratio, slope_row = table.loc["ratio"], table.loc["slope"]
    # The ratio's truth: |the direction's effect| over the random directions' population
    # RMS slope per date.
    truth = abs(effect[0]) / np.sqrt(1.0 + INTERVENTION_DATE_SD**2)
    return [
        float(table.loc["rank_p", "value"] < 0.05),
        float(ratio["ci_low"] > 1.0) if np.isfinite(ratio["ci_low"]) else np.nan,
        _covers((ratio["ci_low"], ratio["ci_high"]), truth),
        _covers((slope_row["ci_low"], slope_row["ci_high"]), effect[0]),
    ]


def _intervention_case(n_random: int, per_class: int) -> Case:
    name = f"intervention_null_k{n_random}_d{per_class}"
    # With one date per label the ratio has no interval: only the rank p is checked.
    n_stats = 1 if per_class == 1 else 2
    return Case(
        name=name,
        kind="null",
        condition=f"direction interchangeable with its {n_random} random controls; {per_class} storm + {per_class} calm dates",
        statistics=("intervention_pc1_2t_rank_p", "intervention_pc1_2t_ratio (lower bound > 1)")[:n_stats],
        methods=(
            f"interventions.summary.rank_p (summary_table): |mean slope| among {n_random} random directions; p < 0.05",
            f"interventions.summary.summary_table, bootstrap of date episodes and controls, {N_BOOT}; lower bound > 1 "
            "(not a test against random directions: the direction's own ratio is > 1 in a third of the nulls)",
        )[:n_stats],
        simulate=per_realisation(name, lambda rng: _intervention(rng, n_random, per_class)[:n_stats]),
        calibrated=frozenset({"intervention_pc1_2t_rank_p"}),
        cost=0.02,
    )


def _intervention_effect_case(n_random: int, per_class: int) -> Case:
    name = f"intervention_effect_k{n_random}_d{per_class}"
    return Case(
        name=name,
        kind="effect",
        condition=(
            f"direction with its own effect, drawn like its {n_random} random controls'; {per_class} storm + "
            f"{per_class} calm dates; date-to-date sd {INTERVENTION_DATE_SD:g}"
        ),
        statistics=("intervention_pc1_2t_ratio", "intervention_pc1_2t_slope"),
        methods=(
            f"interventions.summary.summary_table, bootstrap of date episodes and controls, {N_BOOT}; covers "
            "|effect| / population RMS slope",
            f"interventions.summary.summary_table, bootstrap of date episodes, {N_BOOT}; covers the effect",
        ),
        simulate=per_realisation(name, lambda rng: _intervention(rng, n_random, per_class)[2:]),
        cost=0.02,
    )


# ----------------------------------------------------------------------------- probes

PROBE_R2 = 0.3
PROBE_FEATURES = 5
PROBE_ALPHAS = (1e-2, 1.0, 1e2, 1e4)


def _probe_data(rng: np.random.Generator, noise_phi: float, n_taps: int, tap_noise: float):
    z = ar1(rng, N_DAYS, (PROBE_FEATURES,), 0.9)
    b2 = PROBE_R2 / (1 - PROBE_R2)  # |beta|^2 with unit-variance noise and tap_noise 0
    beta = np.full(PROBE_FEATURES, np.sqrt(b2 * (1 + tap_noise) / PROBE_FEATURES))
    y = z @ beta + ar1(rng, N_DAYS, (), noise_phi)
    taps = [z + np.sqrt(tap_noise) * rng.standard_normal(z.shape) for _ in range(n_taps)]
    # Population R² of y on one tap: |beta|^2 / (1 + tap_noise) / (|beta|^2 + 1).
    bb = float(beta @ beta)
    truth = bb / (1 + tap_noise) / (bb + 1)
    return y, taps, truth


def _probe_effect(rng: np.random.Generator, noise_phi: float) -> list[float]:
    y, (x,), truth = _probe_data(rng, noise_phi, 1, 0.0)
    res = fit_probes(x, y, year_days(N_DAYS), alphas=PROBE_ALPHAS, n_boot=N_BOOT, seed=_seed(rng))
    return [_covers((res.ci_low[0], res.ci_high[0]), truth)]


def _probe_taps(rng: np.random.Generator, noise_phi: float, n_taps: int = 4) -> list[float]:
    """[the best tap on held-out scores covers, the tap chosen inside the folds covers]."""
    y, taps, truth = _probe_data(rng, noise_phi, n_taps, 0.25)
    dates = year_days(N_DAYS)
    seed = _seed(rng)
    results = {
        f"tap{t}": fit_probes(x, y, dates, alphas=PROBE_ALPHAS, n_boot=N_BOOT, seed=seed) for t, x in enumerate(taps)
    }
    best = max(results.values(), key=lambda r: r.r2[0])
    nested = select_taps(results, y, dates, n_boot=N_BOOT, seed=seed)
    return [
        _covers((best.ci_low[0], best.ci_high[0]), truth),
        _covers((nested.ci_low[0], nested.ci_high[0]), truth),
    ]


def _probe_case(noise_phi: float) -> Case:
    name = f"probe_effect_noise_phi{_phi_label(noise_phi)}"
    return Case(
        name=name,
        kind="effect",
        condition=f"target with population R² {PROBE_R2} from {PROBE_FEATURES} AR(1) features phi 0.9; noise AR(1) phi {noise_phi:g}",
        statistics=("probe_r2",),
        methods=(
            f"probes.ridge.fit_probes, week folds gap 3 d, alphas {list(PROBE_ALPHAS)}, week bootstrap {N_BOOT}; covers the population R²",
        ),
        simulate=per_realisation(name, lambda rng: _probe_effect(rng, noise_phi)),
        cost=0.3,
    )


def _probe_taps_case(noise_phi: float) -> Case:
    name = f"probe_taps_noise_phi{_phi_label(noise_phi)}"
    return Case(
        name=name,
        kind="effect",
        condition=f"4 equally good taps (population R² each as computed), noise AR(1) phi {noise_phi:g}",
        statistics=("probe_r2_best_tap", "probe_r2_nested"),
        methods=(
            "the best of 4 taps of probes.ridge.fit_probes on the same held-out scores; covers the population R²",
            "probes.ridge.select_taps: the tap chosen inside each training fold (nested); covers the population R²",
        ),
        simulate=per_realisation(name, lambda rng: _probe_taps(rng, noise_phi)),
        cost=1.2,
    )


# ----------------------------------------------------------------------------- composites


def _composite_effect(rng: np.random.Generator, n_episodes: int, phi: float) -> list[float]:
    lab = episode_days(n_episodes, 4)
    noise = ar1(rng, int(lab.index.max()) + 1, (), phi)[lab.index]
    value = 1.0 * lab.y + noise
    q = pd.DataFrame(
        {
            "day": lab.dates,
            "label": np.where(lab.y == 1, "storm", "calm"),
            "quantity": "upper_share",
            "variable": "all",
            "level": 0.0,
            "value": value,
        }
    )
    out = []
    seed = _seed(rng)
    for resample in ("episodes", "days"):
        t = composite_table(q, n_boot=N_BOOT * 2, seed=seed, resample=resample).set_index("group")
        out.append(_covers((t.loc["storm", "ci_low"], t.loc["storm", "ci_high"]), 1.0))
        out.append(_covers((t.loc["storm_minus_calm", "ci_low"], t.loc["storm_minus_calm", "ci_high"]), 1.0))
    return out


def _composite_case(n_episodes: int, phi: float = 0.9) -> Case:
    name = f"composite_effect_e{n_episodes}"
    return Case(
        name=name,
        kind="effect",
        condition=f"per-day quantity +1 on storm days; {n_episodes} storm and {n_episodes} calm episodes of 4 days; AR(1) noise phi {phi:g}",
        statistics=(
            "lrp_upper_share_storm",
            "lrp_upper_share_storm_minus_calm",
            "lrp_upper_share_storm (days resampled)",
            "lrp_upper_share_storm_minus_calm (days resampled)",
        ),
        methods=(
            f"attribution.composites.composite_table, episode bootstrap {2 * N_BOOT}; covers 1",
            f"attribution.composites.composite_table, episode bootstrap {2 * N_BOOT}; covers 1",
            f"attribution.composites.composite_table resample=days, {2 * N_BOOT}; covers 1",
            f"attribution.composites.composite_table resample=days, {2 * N_BOOT}; covers 1",
        ),
        simulate=per_realisation(name, lambda rng: _composite_effect(rng, n_episodes, phi)),
        cost=0.02,
    )


# ----------------------------------------------------------------------------- SAE planted match

#: Features of a simulated dictionary, and tokens a date, of the planted-match cases.
PLANTED_FEATURES = 60
PLANTED_TOKENS = 6
PLANTED_HOLDOUT_EVERY = 5  # features.evaluation.holdout_every of the default config
PLANTED_GAP = 7  # features.atlas.gap_days of the default config


def _planted_match(rng: np.random.Generator, phi: float, r_pop: float) -> list[float]:
    """One realisation: a field and two dictionaries (trained, control) of AR(1) activations
    over a year; the trained dictionary's feature 0 is ``r_pop x field + noise``. Null
    (``r_pop = 0``): whether the intervals exclude 0, with and without the gap. Effect: whether
    they cover ``r_pop`` (the population r; the control's is 0, so the excess's is ``r_pop``)."""
    dates = year_days(N_DAYS)
    field = ar1(rng, N_DAYS, (PLANTED_TOKENS,), phi)
    trained = ar1(rng, N_DAYS, (PLANTED_TOKENS, PLANTED_FEATURES), phi)
    trained[:, :, 0] = r_pop * field + np.sqrt(1.0 - r_pop**2) * trained[:, :, 0]
    control = ar1(rng, N_DAYS, (PLANTED_TOKENS, PLANTED_FEATURES), phi)
    sums = [FeatureSums.from_activations(a, {"planted": field}, dates) for a in (trained, control)]
    holdout, weeks = holdout_dates(dates, PLANTED_HOLDOUT_EVERY), holdout_weeks(dates)
    seed = _seed(rng)
    out = []
    for gap in (PLANTED_GAP, 0) if r_pop == 0 else (PLANTED_GAP,):
        t = heldout_planted_match(*sums, holdout, weeks, n_boot=N_BOOT, seed=seed, gap_days=gap).set_index("model")
        for model in ("trained", "excess"):
            ci = (t.loc[model, "ci_low"], t.loc[model, "ci_high"])
            out.append(_excludes(ci, 0.0) if r_pop == 0 else _covers(ci, r_pop))
    return out


def _planted_match_null_case(phi: float) -> Case:
    name = f"planted_match_null_phi{_phi_label(phi)}"
    method = (
        f"features.atlas.heldout_planted_match: best of {PLANTED_FEATURES} features on the dates not held out, "
        f"held-out ISO weeks (every {PLANTED_HOLDOUT_EVERY}th), week bootstrap {N_BOOT}"
    )
    return Case(
        name=name,
        kind="null",
        condition=(
            f"a planted field and two dictionaries of {PLANTED_FEATURES} features, {PLANTED_TOKENS} tokens a "
            f"date, all independent AR(1) phi {phi:g} over {N_DAYS} days; the interval excludes 0"
        ),
        statistics=(
            "sae_planted_match",
            "sae_planted_match_excess",
            "sae_planted_match (no gap)",
            "sae_planted_match_excess (no gap)",
        ),
        methods=(
            f"{method}, selection {PLANTED_GAP} days away from them",
            f"{method}, selection {PLANTED_GAP} days away; trained minus control, paired",
            f"{method}, selection on every other date (gap 0)",
            f"{method}, selection on every other date (gap 0); trained minus control, paired",
        ),
        simulate=per_realisation(name, lambda rng: _planted_match(rng, phi, 0.0)),
        calibrated=frozenset({"sae_planted_match", "sae_planted_match_excess"}),
        cost=0.05,
    )


def _planted_match_effect_case(phi: float, r_pop: float) -> Case:
    name = f"planted_match_effect_phi{_phi_label(phi)}"
    method = f"features.atlas.heldout_planted_match, {PLANTED_GAP}-day gap, week bootstrap {N_BOOT}; covers {r_pop:g}"
    return Case(
        name=name,
        kind="effect",
        condition=(
            f"as planted_match_null, the trained dictionary's feature 0 with population r {r_pop:g} with the field "
            "(the control's best has none)"
        ),
        statistics=("sae_planted_match", "sae_planted_match_excess"),
        methods=(method, method + " (trained minus control, paired)"),
        simulate=per_realisation(name, lambda rng: _planted_match(rng, phi, r_pop)),
        calibrated=frozenset({"sae_planted_match", "sae_planted_match_excess"}),
        cost=0.05,
    )


# ----------------------------------------------------------------------------- registry

for _phi in (0.5, 0.9):
    register(_reference(f"reference_phi{_phi_label(_phi)}", _phi))
for _phi in PHIS:
    register(_storm_calm_null_case(_phi))
register(_storm_calm_week_case(0.9))
for _phi in PHIS:
    register(_storm_calm_report_case(_phi))
for _phi in PHIS:
    register(_djf_jja_case(_phi))
for _n in (10, 50):
    register(_perturbation_case(_n))
for _n in (50, 100):
    register(_perturbation_effect_case(_n))
for _k, _d in ((4, 3), (20, 10), (20, 1)):
    register(_intervention_case(_k, _d))
# With one date per label the intervals are not given (nothing to resample).
for _k, _d in ((4, 3), (20, 10)):
    register(_intervention_effect_case(_k, _d))
for _phi in (0.5, 0.9):
    register(_storm_calm_effect_case(_phi))
for _phi in (0.5, 0.95):
    register(_probe_case(_phi))
register(_probe_taps_case(0.5))
for _e in (3, 5, 20):
    register(_composite_case(_e))
for _phi in (0.5, 0.8):
    register(_planted_match_null_case(_phi))
    register(_planted_match_effect_case(_phi, 0.4))
