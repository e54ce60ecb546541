"""Seasonal diagnostics: fits of a series to the annual harmonics of the day of year."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..dates import SEASONS, season_of_month
from .applicability import NotApplicableError

__all__ = [
    "MIN_ANNUAL_SPAN_DAYS",
    "SEASONS",
    "HarmonicFit",
    "SeasonSeparation",
    "SurrogateTest",
    "annual_coverage_days",
    "annual_harmonic_fit",
    "check_annual_coverage",
    "cohen_d",
    "harmonic_design",
    "harmonic_table",
    "phase_randomised_surrogates",
    "residualise_annual",
    "season_of_month",
    "season_separation",
    "surrogate_season_test",
]


DAYS_PER_YEAR = 365.2425

#: Least span of the annual cycle (days) that the samples must cover for an annual-harmonic
#: fit to mean anything. Over a shorter window the constant, cosine and sine columns are
#: nearly collinear (condition number ~5 at half a year, ~190 over one month) and the
#: fit extrapolates a cycle the data do not show.
MIN_ANNUAL_SPAN_DAYS = DAYS_PER_YEAR / 2


@dataclasses.dataclass(frozen=True)
class HarmonicFit:
    """Least-squares fit ``y ~ a0 + sum_k (a_k cos(k w t) + b_k sin(k w t))``.

    Attributes:
        r2: Coefficient of determination of the fit.
        corr: Correlation of ``y`` with the fitted values (``sqrt(r2)``, non-negative).
        amplitude: Amplitude of the first harmonic, in the units of ``y``.
        phase_day: Day of year at which the first harmonic peaks.
        fitted: ``(n,)`` fitted values.
        coef: ``(1 + 2 n_harmonics,)`` coefficients ``[a0, a1, b1, a2, b2, ...]``.
    """

    r2: float
    corr: float
    amplitude: float
    phase_day: float
    fitted: np.ndarray
    coef: np.ndarray


def harmonic_design(day_of_year: np.ndarray, n_harmonics: int = 1) -> np.ndarray:
    """Design matrix ``(n, 1 + 2 n_harmonics)`` of a constant and cos/sin pairs."""
    t = 2 * np.pi * np.asarray(day_of_year, dtype=np.float64) / DAYS_PER_YEAR
    cols = [np.ones_like(t)]
    for k in range(1, n_harmonics + 1):
        cols += [np.cos(k * t), np.sin(k * t)]
    return np.stack(cols, axis=1)


def annual_coverage_days(day_of_year: np.ndarray) -> float:
    """Span of the annual cycle covered by samples on ``day_of_year`` (shape ``(n,)``), in days.

    The year is a circle of :data:`DAYS_PER_YEAR` days; the span is the circle minus its
    largest gap between consecutive sampled days (0 for a single day, 30 for 1-31
    January, ~364 for a daily year, ~344 for one sample every three weeks).
    """
    doy = np.unique(np.asarray(day_of_year, dtype=np.float64))
    if doy.size < 2:
        return 0.0
    gaps = np.append(np.diff(doy), doy[0] + DAYS_PER_YEAR - doy[-1])
    return float(max(DAYS_PER_YEAR - gaps.max(), 0.0))


def check_annual_coverage(
    day_of_year: np.ndarray, n_harmonics: int = 1, min_span_days: float = MIN_ANNUAL_SPAN_DAYS
) -> None:
    """Whether samples on ``day_of_year`` (shape ``(n,)``) allow a fit of ``n_harmonics`` annual harmonics.

    Raises:
        NotApplicableError: if the samples cover less than ``min_span_days`` of the annual
            cycle (:func:`annual_coverage_days`), or are too few for the
            ``1 + 2 n_harmonics`` coefficients plus one degree of freedom; the message
            gives the span or count seen.
    """
    doy = np.asarray(day_of_year, dtype=np.float64)
    n_coef = 1 + 2 * n_harmonics
    if doy.size <= n_coef:
        raise NotApplicableError(f"{doy.size} samples are too few for an annual-harmonic fit of {n_coef} coefficients")
    span = annual_coverage_days(doy)
    if span < min_span_days:
        raise NotApplicableError(
            f"the dates cover {span:.0f} days of the annual cycle; an annual-harmonic fit needs at "
            f"least {min_span_days:.0f}"
        )


def annual_harmonic_fit(
    y: np.ndarray,
    day_of_year: np.ndarray,
    n_harmonics: int = 1,
    min_span_days: float | None = MIN_ANNUAL_SPAN_DAYS,
) -> HarmonicFit:
    """Fit the annual harmonics to ``y`` (shape ``(n,)``) sampled on ``day_of_year``.

    Args:
        y: ``(n,)`` series.
        day_of_year: ``(n,)`` day of year of each sample.
        n_harmonics: Harmonics in the fit.
        min_span_days: See :func:`check_annual_coverage`; ``None`` fits whatever the
            coverage (the amplitude and phase are then an extrapolation).

    Raises:
        NotApplicableError: if the samples do not cover enough of the annual cycle.
    """
    if min_span_days is not None:
        check_annual_coverage(day_of_year, n_harmonics, min_span_days)
    y = np.asarray(y, dtype=np.float64)
    design = harmonic_design(day_of_year, n_harmonics)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ coef
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    a1, b1 = coef[1], coef[2]
    phase = (np.arctan2(b1, a1) / (2 * np.pi) * DAYS_PER_YEAR) % DAYS_PER_YEAR
    return HarmonicFit(
        r2=r2,
        corr=float(np.sqrt(max(r2, 0.0))),
        amplitude=float(np.hypot(a1, b1)),
        phase_day=float(phase),
        fitted=fitted,
        coef=coef,
    )


def cohen_d(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d of two samples: ``(mean(a) - mean(b)) / s_pooled``.

    ``s_pooled = sqrt(((n_a-1) var_a + (n_b-1) var_b) / (n_a + n_b - 2))`` with the
    unbiased variances (Cohen 1988, eq. 2.5.2). 0 when both samples are constant and
    equal; +-inf when constant and different.

    Args:
        a, b: ``(n_a,)`` and ``(n_b,)`` samples, each of at least 2 values.

    Raises:
        ValueError: for a sample of fewer than 2 values.
    """
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n_a, n_b = len(xa), len(xb)
    if n_a < 2 or n_b < 2:
        raise ValueError(f"Cohen's d needs at least 2 values in each sample, got {n_a} and {n_b}")
    diff = float(xa.mean() - xb.mean())
    pooled_var = ((n_a - 1) * xa.var(ddof=1) + (n_b - 1) * xb.var(ddof=1)) / (n_a + n_b - 2)
    if pooled_var > 0:
        return float(diff / np.sqrt(pooled_var))
    return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)


@dataclasses.dataclass(frozen=True)
class SeasonSeparation:
    """Difference of a 1-d score between two seasons.

    Attributes:
        a, b: The two season labels compared (difference is ``a - b``).
        n_a, n_b: Number of samples in each season.
        mean_a, mean_b: Season means of the score.
        mean_difference: ``mean_a - mean_b``.
        cohen_d: ``mean_difference`` divided by the pooled standard deviation
            ``sqrt(((n_a-1) var_a + (n_b-1) var_b) / (n_a + n_b - 2))`` (0 when both
            seasons are constant and equal; +-inf when constant and different).
        p_value: Two-sided permutation p-value of ``|mean_difference|`` with the +1
            correction, ``(1 + #{|d_perm| >= |d_obs|}) / (1 + n_permutations)``.
        n_permutations: Number of label permutations drawn.
    """

    a: str
    b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    mean_difference: float
    cohen_d: float
    p_value: float
    n_permutations: int


def season_separation(
    scores_1d: np.ndarray,
    seasons: Sequence[str] | np.ndarray,
    a: str = "DJF",
    b: str = "JJA",
    n_permutations: int = 10000,
    seed: int = 0,
) -> SeasonSeparation:
    """Effect size and permutation test of the difference of a score between two seasons.

    Samples of other seasons are ignored. A window without two samples of each season
    (e.g. January only) raises :class:`NotApplicableError`. The permutation null shuffles the season labels
    among the pooled ``a`` and ``b`` samples; all permutations are drawn at once (in
    chunks) as random subsets, so 10 000 permutations take milliseconds.

    Args:
        scores_1d: ``(n,)`` score per sample (e.g. one principal component).
        seasons: ``(n,)`` season label per sample.
        a, b: The two seasons to compare.
        n_permutations: Number of random permutations (>= 1).
        seed: Seed of ``np.random.default_rng``.
    """
    y = np.asarray(scores_1d, dtype=np.float64)
    lab = np.asarray(seasons).astype(str)
    if y.ndim != 1:
        raise ValueError(f"scores_1d must be 1-d, got shape {y.shape}")
    if lab.shape != y.shape:
        raise ValueError(f"seasons has shape {lab.shape} but scores_1d has shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("scores_1d contains non-finite values")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    ya, yb = y[lab == a], y[lab == b]
    for name, part in ((a, ya), (b, yb)):
        if len(part) < 2:
            raise NotApplicableError(
                f"season {name!r} has {len(part)} samples, need at least 2 "
                f"(labels present: {sorted(set(lab.tolist()))})"
            )
    n_a, n_b = len(ya), len(yb)
    d_obs = float(ya.mean() - yb.mean())
    d = cohen_d(ya, yb)

    rng = np.random.default_rng(seed)
    pooled = np.concatenate([ya, yb])
    pooled = pooled - pooled.mean()  # the statistic is shift-invariant; improves rounding
    total = pooled.sum()
    n = n_a + n_b
    tol = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    exceed = 0
    chunk = max(1, min(n_permutations, 4_000_000 // n))
    done = 0
    while done < n_permutations:
        m = min(chunk, n_permutations - done)
        pick = np.argpartition(rng.random((m, n)), n_a - 1, axis=1)[:, :n_a]
        s_a = pooled[pick].sum(axis=1)
        d_perm = s_a / n_a - (total - s_a) / n_b
        exceed += int(np.count_nonzero(np.abs(d_perm) >= abs(d_obs) - tol))
        done += m
    p = (1 + exceed) / (1 + n_permutations)
    return SeasonSeparation(
        a=a,
        b=b,
        n_a=n_a,
        n_b=n_b,
        mean_a=float(ya.mean()),
        mean_b=float(yb.mean()),
        mean_difference=d_obs,
        cohen_d=float(d),
        p_value=float(p),
        n_permutations=int(n_permutations),
    )


def harmonic_table(scores: np.ndarray, day_of_year: np.ndarray, n_harmonics: int = 1) -> pd.DataFrame:
    """Annual-harmonic fit of every column of ``scores``.

    Args:
        scores: ``(n, k)`` scores (e.g. PC scores), or ``(n,)`` for a single series.
        day_of_year: ``(n,)`` day of year of each sample.
        n_harmonics: Harmonics in the fit (amplitude and phase are of the first).

    Returns:
        A DataFrame with one row per column, columns ``pc`` (``'PC1'``, ...), ``r2``,
        ``corr``, ``amplitude`` (units of the scores) and ``phase_day`` (day of year of
        the peak of the first harmonic). Where the dates do not allow the fit
        (:func:`check_annual_coverage`) these are NaN and ``table.attrs["note"]`` holds
        the reason (``""`` otherwise).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    doy = np.asarray(day_of_year, dtype=np.float64)
    if s.ndim != 2 or doy.shape != (s.shape[0],):
        raise ValueError(f"scores must be (n, k) and day_of_year (n,), got {s.shape} and {doy.shape}")
    try:
        check_annual_coverage(doy, n_harmonics)
        note = ""
    except NotApplicableError as err:
        note = str(err)
    rows = []
    for j in range(s.shape[1]):
        row = {"pc": f"PC{j + 1}", "r2": np.nan, "corr": np.nan, "amplitude": np.nan, "phase_day": np.nan}
        if not note:
            fit = annual_harmonic_fit(s[:, j], doy, n_harmonics)
            row.update(r2=fit.r2, corr=fit.corr, amplitude=fit.amplitude, phase_day=fit.phase_day)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["pc", "r2", "corr", "amplitude", "phase_day"])
    table.attrs["note"] = note
    return table


def residualise_annual(
    x: np.ndarray, day_of_year: np.ndarray, n_harmonics: int = 2, keep_mean: bool = True
) -> np.ndarray:
    """Regress the annual harmonics out of every feature.

    Args:
        x: ``(n, p)`` features.
        day_of_year: ``(n,)`` day of year of each sample.
        n_harmonics: Number of annual harmonics (1 = annual, 2 adds semi-annual).
        keep_mean: Add the feature means back (otherwise residuals have zero mean).

    Returns:
        ``(n, p)`` residuals, orthogonal to the harmonics of ``day_of_year``.

    Raises:
        NotApplicableError: if the dates cover too little of the year
            (:func:`check_annual_coverage`) or are too few.

    For cross-validated classification use the ``day_of_year`` argument of
    :func:`~aurora_xai.regimes.cv.cv_classifier_scores` instead, which fits the regression on training folds
    only; residualising all samples at once biases held-out AUCs of seasonal labels
    below chance.
    """
    x = np.asarray(x, dtype=np.float64)
    doy = np.asarray(day_of_year, dtype=np.float64)
    if x.ndim != 2 or doy.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, p) and day_of_year (n,), got {x.shape} and {doy.shape}")
    check_annual_coverage(doy, n_harmonics)
    design = harmonic_design(doy, n_harmonics)
    if x.shape[0] <= design.shape[1]:
        raise NotApplicableError(f"{x.shape[0]} samples cannot be residualised on {design.shape[1]} harmonic terms")
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    resid = x - design @ coef
    return resid + x.mean(axis=0) if keep_mean else resid


# ----------------------------------------------------------------------------- surrogates


def phase_randomised_surrogates(series: np.ndarray, n_surrogates: int, seed: int = 0) -> np.ndarray:
    """Phase-randomised surrogates ``(n_surrogates, n)`` of a series (Theiler et al. 1992).

    The discrete Fourier transform of the series keeps its amplitudes; the phase of every
    frequency between 0 and Nyquist is drawn uniformly (the mean, and for even ``n`` the
    Nyquist term, are kept). A surrogate has the periodogram, hence the circular
    autocorrelation, of the series, and is otherwise random: the null of a stationary
    linear Gaussian process with the series' autocorrelation.

    Theiler, J., Eubank, S., Longtin, A., Galdrikian, B. and Farmer, J. D. (1992).
    Testing for nonlinearity in time series: the method of surrogate data. Physica D
    58, 77-94.

    Args:
        series: ``(n,)`` series in time order (regularly spaced).
        n_surrogates: Number of surrogates (>= 1).
        seed: Seed of ``np.random.default_rng``.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("surrogates need a finite one-dimensional series")
    if n_surrogates < 1:
        raise ValueError(f"n_surrogates must be >= 1, got {n_surrogates}")
    n = len(x)
    spec = np.fft.rfft(x)
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(n_surrogates, len(spec)))
    new = np.abs(spec)[None, :] * np.exp(1j * phases)
    new[:, 0] = spec[0]
    if n % 2 == 0:
        new[:, -1] = spec[-1]
    return np.fft.irfft(new, n=n, axis=1)


@dataclasses.dataclass(frozen=True)
class SurrogateTest:
    """Seasonal statistics of a series against its phase-randomised surrogates.

    Attributes:
        cohen_d: ``|Cohen's d|`` of season ``a`` against ``b`` (NaN without 2 dates of each).
        cohen_d_p: ``(1 + #{|d_s| >= |d|}) / (1 + n_surrogates)`` (NaN as ``cohen_d``).
        cohen_d_null: ``(2,)`` 2.5 and 97.5 percentiles of the surrogates' ``|d|``.
        annual_r2: R^2 of the fit to the first annual harmonic (NaN where the dates do
            not allow it, :func:`check_annual_coverage`).
        annual_r2_p: The same p-value of the R^2. The R^2 does not depend on the phase
            of the cycle, and a surrogate keeps the series' power at the annual
            frequency: over one year the R^2 cannot tell an annual cycle from red noise
            of the same spectrum, and this p-value says so (it is large).
        annual_r2_null: ``(2,)`` 2.5 and 97.5 percentiles of the surrogates' R^2.
        n_surrogates: Number of surrogates.
    """

    cohen_d: float
    cohen_d_p: float
    cohen_d_null: np.ndarray
    annual_r2: float
    annual_r2_p: float
    annual_r2_null: np.ndarray
    n_surrogates: int


def _abs_cohen_d_rows(s: np.ndarray, in_a: np.ndarray, in_b: np.ndarray) -> np.ndarray:
    a, b = s[:, in_a], s[:, in_b]
    n_a, n_b = a.shape[1], b.shape[1]
    pooled = ((n_a - 1) * a.var(axis=1, ddof=1) + (n_b - 1) * b.var(axis=1, ddof=1)) / (n_a + n_b - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(a.mean(axis=1) - b.mean(axis=1)) / np.sqrt(pooled)


def _annual_r2_rows(s: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    design = harmonic_design(day_of_year, 1)
    coef, *_ = np.linalg.lstsq(design, s.T, rcond=None)
    resid = s.T - design @ coef
    ss_tot = np.sum((s - s.mean(axis=1, keepdims=True)) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - np.sum(resid**2, axis=0) / ss_tot, 0.0)


def surrogate_season_test(
    series: np.ndarray,
    day_of_year: np.ndarray,
    seasons: Sequence[str] | np.ndarray,
    a: str = "DJF",
    b: str = "JJA",
    n_surrogates: int = 999,
    seed: int = 0,
) -> SurrogateTest:
    """``|Cohen's d|`` between two seasons and the annual R^2 of a series, each with a
    p-value against phase-randomised surrogates (:func:`phase_randomised_surrogates`).

    Unlike the permutation test of :func:`season_separation`, which treats the days as
    independent, the surrogates keep the series' autocorrelation: under a null of
    autocorrelated noise without a seasonal cycle the test rejects at its nominal rate.

    Args:
        series: ``(n,)`` series in time order (regularly spaced daily values, e.g. PC1).
        day_of_year, seasons: ``(n,)`` of every value.
        a, b: The two seasons compared.
        n_surrogates: Number of surrogates (>= 1).
        seed: Seed of the surrogates.
    """
    x = np.asarray(series, dtype=np.float64)
    doy = np.asarray(day_of_year, dtype=np.float64)
    lab = np.asarray(seasons).astype(str)
    if doy.shape != x.shape or lab.shape != x.shape:
        raise ValueError(
            f"series, day_of_year and seasons must have equal shapes, got {x.shape}, {doy.shape}, {lab.shape}"
        )
    surr = phase_randomised_surrogates(x, n_surrogates, seed)
    in_a, in_b = lab == a, lab == b
    nan2 = np.full(2, np.nan)
    d, d_p, d_null = np.nan, np.nan, nan2
    if min(int(in_a.sum()), int(in_b.sum())) >= 2:
        d = float(_abs_cohen_d_rows(x[None, :], in_a, in_b)[0])
        null = _abs_cohen_d_rows(surr, in_a, in_b)
        d_p = (1 + int(np.count_nonzero(null >= d - 1e-12))) / (1 + n_surrogates)
        d_null = np.percentile(null, [2.5, 97.5])
    r2, r2_p, r2_null = np.nan, np.nan, nan2
    try:
        check_annual_coverage(doy, 1)
        r2 = float(_annual_r2_rows(x[None, :], doy)[0])
        null = _annual_r2_rows(surr, doy)
        r2_p = (1 + int(np.count_nonzero(null >= r2 - 1e-12))) / (1 + n_surrogates)
        r2_null = np.percentile(null, [2.5, 97.5])
    except NotApplicableError:
        pass
    return SurrogateTest(
        cohen_d=d,
        cohen_d_p=float(d_p),
        cohen_d_null=d_null,
        annual_r2=r2,
        annual_r2_p=float(r2_p),
        annual_r2_null=r2_null,
        n_surrogates=int(n_surrogates),
    )
