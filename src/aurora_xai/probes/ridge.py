"""Ridge probes with the regularisation chosen inside the training folds, blocked in time.

The protocol (:func:`fit_probes`), for features ``X`` ``(n, p)`` and targets ``Y``
``(n, q)`` of ``n`` dated samples:

1. **Outer folds** (:func:`week_folds`): ISO calendar weeks are the groups, assigned to
   ``k`` folds by :class:`~aurora_xai.regimes.blocking.BlockedKFold`; training days
   within ``gap_days`` days of any test day are dropped. The folds depend only on the
   dates and the seed, so every feature set (latents of every tap, the raw inputs, the
   random model) is probed on the same folds.
2. **Inner folds**, inside each outer training fold only: the same blocking of the
   training dates into ``inner_k`` folds. For every candidate ``alpha`` a
   ``StandardScaler`` + ``Ridge`` pipeline (scikit-learn) is fitted on each inner
   training part and scored by its squared error on the inner held-out part; each
   target's ``alpha`` minimises the pooled inner squared error. The outer test rows
   never enter this choice (nor the standardisation).
3. The pipeline with the chosen ``alpha`` per target is refitted on the whole outer
   training fold and predicts the outer test fold.
4. **Held-out R²** is that of the concatenated held-out predictions (every date is
   predicted once, by the model of its fold): ``1 - sum (y - yhat)^2 / sum (y - ybar)^2``
   over all dates, ``ybar`` their mean. Not the mean of per-fold R² (each fold's small
   variance makes those noisy and biased low). A constant prediction scores about 0,
   and noise below 0.
5. **Interval**: a group bootstrap of the held-out predictions
   (:func:`~aurora_xai.regimes.blocking.group_bootstrap_weights`, whole weeks resampled)
   gives percentile intervals of the R². It holds the fitted probes fixed: it measures
   the sampling uncertainty of the score on these dates, not the refit variability.

**Choosing the tap inside the training folds** (:func:`select_taps`): with probes of
several feature sets (taps) on the same outer and inner folds, each outer fold takes, per
target, the tap (and its alpha) of least pooled inner squared error, i.e. chosen on the
outer training fold only, and predicts the outer test fold with that tap's probe. The
held-out R² of these predictions scores the whole procedure (tap choice included), so it
is not optimistic as the best tap's held-out R² is (a maximum over taps of held-out
scores). A control (the random model's taps) is chosen the same way.

A linear probe sees only what is linearly decodable: a target that is a symmetric
non-linear function of the features (``y = x^2``) scores about 0 (tests/test_probes.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..regimes.blocking import BlockedKFold, day_numbers, group_bootstrap_weights, week_groups

__all__ = [
    "ProbeResult",
    "SelectedProbes",
    "fit_probes",
    "probe_axis",
    "r2_score",
    "select_taps",
    "week_folds",
    "weighted_r2",
]

#: Default candidate regularisations (``probes.alphas``).
DEFAULT_ALPHAS: tuple[float, ...] = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """Held-out scores of the probes of ``q`` targets.

    Attributes:
        r2: ``(q,)`` held-out R² of the concatenated held-out predictions.
        ci_low, ci_high: ``(q,)`` percentile bounds of the week-bootstrap interval.
        n: Number of dates (each held out once).
        predictions: ``(n, q)`` held-out predictions.
        alphas: ``(k, q)`` regularisation chosen in each outer fold (inner CV only).
        folds: The outer ``(train_idx, test_idx)`` pairs.
        inner_sse: ``(k, q)`` pooled inner squared error of the chosen alpha in each
            outer fold (what :func:`select_taps` compares across taps).
    """

    r2: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: int
    predictions: np.ndarray
    alphas: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    inner_sse: np.ndarray


@dataclasses.dataclass(frozen=True)
class SelectedProbes:
    """Held-out scores of the probes whose tap was chosen inside each training fold.

    Attributes:
        r2, ci_low, ci_high, n, predictions: As :class:`ProbeResult`.
        taps: ``(k, q)`` tap chosen in each outer fold per target.
    """

    r2: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: int
    predictions: np.ndarray
    taps: np.ndarray


def week_folds(days: np.ndarray, k: int, gap_days: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Blocked ``k``-fold ``(train_idx, test_idx)`` pairs of dated samples, by ISO week.

    Args:
        days: ``(n,)`` integer day numbers (:func:`~aurora_xai.regimes.blocking.day_numbers`).
        k: Folds (>= 2).
        gap_days: Training days within this many days of a test day are dropped.
        seed: Seed of the assignment of weeks to folds.

    Raises:
        ValueError: for fewer weeks than folds, or a training fold left empty by the gap.
    """
    days = np.asarray(days)
    groups = week_groups(days)
    n_groups = len(np.unique(groups))
    if n_groups < k:
        raise ValueError(f"{k}-fold CV blocked by week needs at least {k} weeks, the dates span {n_groups}")
    splitter = BlockedKFold(k, days, gap_days, shuffle=True, random_state=int(seed) % (2**32))
    folds = list(splitter.split(None, np.zeros(len(days), dtype=np.int64), groups))
    for f, (train, test) in enumerate(folds):
        if len(train) < 2 or len(test) == 0:
            raise ValueError(
                f"fold {f + 1} of {k} (blocked by week, gap {gap_days} days) has {len(train)} training "
                f"and {len(test)} test dates"
            )
    return folds


def r2_score(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """R² ``(q,)`` per column of ``y``, ``yhat`` ``(n, q)``: ``1 - SS_res / SS_tot`` (NaN for a constant ``y``)."""
    return weighted_r2(y, yhat, np.ones((1, len(y))))[0]


def weighted_r2(y: np.ndarray, yhat: np.ndarray, w: np.ndarray) -> np.ndarray:
    """R² ``(b, q)`` of ``y``, ``yhat`` ``(n, q)`` under sample weights ``w`` ``(b, n)`` (bootstrap counts).

    ``1 - sum_i w_i (y_i - yhat_i)^2 / sum_i w_i (y_i - ybar_w)^2`` with ``ybar_w`` the
    weighted mean; NaN where the weighted ``y`` is constant.
    """
    y = np.asarray(y, dtype=np.float64)
    yhat = np.asarray(yhat, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    tot_w = w.sum(axis=1, keepdims=True)  # (b, 1)
    mean = (w @ y) / tot_w  # (b, q)
    ss_tot = w @ (y**2) - tot_w * mean**2
    ss_res = w @ ((y - yhat) ** 2)
    scale = np.maximum(w @ (y**2), 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 1e-12 * scale, 1.0 - ss_res / ss_tot, np.nan)


def _pipeline(alpha):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


def _choose_alphas(
    x: np.ndarray, y: np.ndarray, inner: Sequence[tuple[np.ndarray, np.ndarray]], alphas
) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the alpha ``(q,)`` of least pooled squared error over the inner folds,
    and that error ``(q,)``."""
    sse = np.zeros((len(alphas), y.shape[1]))
    for tr, te in inner:
        for a, alpha in enumerate(alphas):
            model = _pipeline(alpha).fit(x[tr], y[tr])
            sse[a] += ((y[te] - model.predict(x[te]).reshape(len(te), -1)) ** 2).sum(axis=0)
    best = np.argmin(sse, axis=0)
    return np.asarray(alphas, dtype=np.float64)[best], sse[best, np.arange(sse.shape[1])]


def _week_bootstrap(
    y: np.ndarray, pred: np.ndarray, days: np.ndarray, n_boot: int, seed: int, ci_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval ``(q,), (q,)`` of the held-out R² over a week bootstrap of the dates."""
    rng = np.random.default_rng(seed)
    weights = group_bootstrap_weights(week_groups(days), np.zeros(len(days), dtype=np.int64), n_boot, rng)
    boot = weighted_r2(y, pred, weights)
    tail = 100 * (1 - ci_level) / 2
    lo, hi = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
    return lo, hi


def fit_probes(
    x: np.ndarray,
    y: np.ndarray,
    dates,
    k: int = 5,
    inner_k: int = 3,
    gap_days: int = 3,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> ProbeResult:
    """Held-out R² of ridge probes of every column of ``y`` from ``x`` (see the module docstring).

    Args:
        x: ``(n, p)`` features (finite).
        y: ``(n, q)`` or ``(n,)`` targets (finite).
        dates: ``(n,)`` dates of the samples (one per day).
        k: Outer folds; inner_k: inner folds (inside each outer training fold).
        gap_days: Days around every test day left out of training (outer and inner).
        alphas: Candidate regularisations (> 0).
        n_boot: Week-bootstrap resamples of the interval.
        seed: Seed of the folds and the bootstrap (outer folds use ``seed``, the inner
            folds of outer fold ``f`` use ``seed + 1 + f``).
        ci_level: Level of the interval.
        folds: Outer folds to use instead of :func:`week_folds` (for tests).

    Raises:
        ValueError: for shapes that disagree, non-finite values, fewer than two alphas
            or non-positive ones, or too few weeks for the folds.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    single = y.ndim == 1
    y2 = y[:, None] if single else y
    days = day_numbers(dates)
    if x.ndim != 2 or y2.ndim != 2 or not (len(x) == len(y2) == len(days)):
        raise ValueError(f"x {x.shape}, y {y.shape} and dates ({len(days)},) must share their first axis")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y2)):
        raise ValueError("probe features and targets must be finite")
    if len(alphas) < 1 or min(alphas) <= 0:
        raise ValueError(f"alphas must be positive, got {[float(a) for a in alphas]}")
    if folds is None:
        folds = week_folds(days, k, gap_days, seed)
    pred = np.full(y2.shape, np.nan)
    chosen = np.zeros((len(folds), y2.shape[1]))
    inner_sse = np.zeros((len(folds), y2.shape[1]))
    for f, (train, test) in enumerate(folds):
        inner = week_folds(days[train], inner_k, gap_days, seed + 1 + f)
        chosen[f], inner_sse[f] = _choose_alphas(x[train], y2[train], inner, alphas)
        model = _pipeline(chosen[f]).fit(x[train], y2[train])
        pred[test] = model.predict(x[test]).reshape(len(test), -1)
    if np.isnan(pred).any():
        raise ValueError("the outer folds do not hold every date out once")
    r2 = r2_score(y2, pred)
    lo, hi = _week_bootstrap(y2, pred, days, n_boot, seed, ci_level)
    return ProbeResult(
        r2=r2, ci_low=lo, ci_high=hi, n=len(days), predictions=pred, alphas=chosen, folds=folds, inner_sse=inner_sse
    )


def select_taps(
    results: Mapping[str, ProbeResult],
    y: np.ndarray,
    dates,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> SelectedProbes:
    """Held-out R² of the probes whose tap is chosen inside each outer training fold.

    Args:
        results: Tap -> :func:`fit_probes` of that tap's features, all on the same outer
            folds with the same seed (so on the same inner folds) and the same ``y``.
        y: ``(n, q)`` or ``(n,)`` targets.
        dates: ``(n,)`` dates.
        n_boot, seed, ci_level: As :func:`fit_probes` (the same week bootstrap).

    Returns:
        Per target, the R² of the predictions of the tap of least inner squared error
        in each outer fold, with its week-bootstrap interval and the taps chosen.

    Raises:
        ValueError: without a tap, or for results on different outer folds.
    """
    if not results:
        raise ValueError("select_taps needs at least one tap")
    taps = list(results)
    first = results[taps[0]]
    for t in taps[1:]:
        other = results[t].folds
        if len(other) != len(first.folds) or any(
            not np.array_equal(a[1], b[1]) for a, b in zip(other, first.folds, strict=True)
        ):
            raise ValueError(f"select_taps: tap {t!r} was probed on other outer folds than {taps[0]!r}")
    y2 = np.asarray(y, dtype=np.float64)
    y2 = y2[:, None] if y2.ndim == 1 else y2
    sse = np.stack([results[t].inner_sse for t in taps])  # (T, k, q)
    best = np.argmin(sse, axis=0)  # (k, q)
    pred = np.full(y2.shape, np.nan)
    for f, (_, test) in enumerate(first.folds):
        for j in range(y2.shape[1]):
            pred[test, j] = results[taps[best[f, j]]].predictions[test, j]
    days = day_numbers(dates)
    lo, hi = _week_bootstrap(y2, pred, days, n_boot, seed, ci_level)
    return SelectedProbes(
        r2=r2_score(y2, pred),
        ci_low=lo,
        ci_high=hi,
        n=len(days),
        predictions=pred,
        taps=np.asarray(taps, dtype=object)[best],
    )


def probe_axis(
    x: np.ndarray, y: np.ndarray, dates, alphas: Sequence[float] = DEFAULT_ALPHAS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The ridge probe of one target ``y`` ``(n,)`` on standardised features ``x`` ``(n, p)``.

    The regularisation is chosen by 5 folds of whole weeks with a 3-day gap
    (:func:`week_folds`, by the pooled squared error as in :func:`fit_probes`); the probe
    is then fitted on every date.

    Returns:
        ``(axis, scale)``: the ridge coefficients ``(p,)`` on the standardised features
        and the features' standard deviations ``(p,)`` (ones where a feature is constant).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    folds = week_folds(day_numbers(pd.DatetimeIndex(dates)), 5, 3, seed)
    alpha = float(_choose_alphas(x, y, folds, list(alphas))[0][0])
    pipe = _pipeline(alpha).fit(x, y[:, 0])
    return np.asarray(pipe[-1].coef_, dtype=np.float64).ravel(), np.asarray(pipe[0].scale_, dtype=np.float64)
