"""Cross-validated storm/calm scores and permutation tests of the classifiers.

Labels are ``0`` (calm) / ``1`` (storm) arrays of shape ``(n,)`` and features ``(n, p)``
arrays, typically with ``p >> n``. Every cross-validated number standardises the features
with training-fold statistics only (the classifiers are those of
:mod:`aurora_xai.regimes.classifiers`). Too few days of a class for a statistic (fewer
than ``k`` for ``k``-fold CV), or dates covering too little of the year for the annual
residualisation, raise :class:`~aurora_xai.regimes.applicability.NotApplicableError` (a
``ValueError``).

Folds blocked in time
---------------------
By default the folds are shuffled stratified ``k``-fold splits of single days (the
published protocol). Storm days come in runs and daily features are autocorrelated, so
such folds put neighbouring days of one storm on both sides and inflate held-out scores.
Every cross-validated function takes a
:class:`~aurora_xai.regimes.blocking.TimeBlocking` instead: folds of whole episodes or
calendar weeks with a gap of days left out of training around every test day; the
intervals then resample whole groups, and :func:`permutation_pvalue` shuffles whole label
episodes.

Nulls that keep the labels' serial and seasonal structure
---------------------------------------------------------
Permuting labels only within test folds (single days or whole episodes) still breaks
the seasonal clustering of storm and calm days, so its null is too narrow when the
features are autocorrelated: the held-out AUC of features independent of the labels
exceeds it far more often than the nominal rate. :func:`circular_shift_pvalue` instead
shifts the whole feature series of all dates circularly against the fixed labels, by at
least the decorrelation length: both series keep their autocorrelation and seasonality
and only their alignment is broken (the circular-shift test of the time-series
literature). :data:`PERMUTATION_NULLS` names the nulls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.blocking import TimeBlocking, group_bootstrap_weights, label_units, unit_permutations
from aurora_xai.regimes.classifiers import (
    Shrinkage,
    annual_design,
    auc_from_scores,
    check_xy,
    contrastive_axis,
    fold_decisions,
    lda_decisions,
    lda_fold,
    logistic_decisions,
    resolve_shrinkage,
)
from aurora_xai.regimes.seasonal import SEASONS

#: Nulls of the permutation tests: ``'within_folds'`` (labels of days, or of whole label
#: episodes with a blocking, permuted within each test fold: the published test) and
#: ``'circular_shift'`` (the feature series of all dates shifted circularly against the
#: labels, :func:`circular_shift_pvalue`).
PERMUTATION_NULLS: tuple[str, ...] = ("within_folds", "circular_shift")

__all__ = [
    "ClassifierCVResult",
    "PERMUTATION_NULLS",
    "ContrastiveCVResult",
    "PermutationResult",
    "circular_shift_pvalue",
    "cv_classifier_scores",
    "cv_contrastive_auc",
    "permutation_pvalue",
    "stratified_folds",
    "within_season_auc",
]


# ----------------------------------------------------------------------------- AUC helpers


def _pair_matrix(decision: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(n_pos, n_neg)`` matrix of 1 / 0.5 / 0 for positive above / tied / below negative."""
    sp, sn = decision[y == 1], decision[y == 0]
    return (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])


def _stratified_bootstrap_weights(
    n_pos: int, n_neg: int, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap counts ``(n_boot, n_pos)`` and ``(n_boot, n_neg)``, resampling each class."""
    wp = rng.multinomial(n_pos, np.full(n_pos, 1.0 / n_pos), size=n_boot).astype(np.float64)
    wn = rng.multinomial(n_neg, np.full(n_neg, 1.0 / n_neg), size=n_boot).astype(np.float64)
    return wp, wn


# ----------------------------------------------------------------------------- folds


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled stratified ``k``-fold ``(train_idx, test_idx)`` pairs, deterministic for ``seed``."""
    y = np.asarray(y)
    n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    if k < 2:
        raise ValueError(f"k must be >= 2 folds, got {k}")
    if min(n_pos, n_neg) < k:
        raise NotApplicableError(
            f"{k}-fold stratified CV needs at least {k} samples of each class, got {n_pos} storm (1) "
            f"and {n_neg} calm (0)"
        )
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(seed) % (2**32))
    return list(skf.split(np.zeros((len(y), 1)), y))


def _folds(y: np.ndarray, k: int, seed: int, blocking: TimeBlocking | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of single days, or blocked folds when ``blocking`` is given."""
    if blocking is None:
        return stratified_folds(y, k, seed)
    if len(blocking.days) != len(y):
        raise ValueError(f"the blocking has {len(blocking.days)} days but there are {len(y)} samples")
    if min(int(np.sum(y == 1)), int(np.sum(y == 0))) < k:
        raise NotApplicableError(
            f"{k}-fold CV needs at least {k} samples of each class, got {int(np.sum(y == 1))} storm (1) "
            f"and {int(np.sum(y == 0))} calm (0)"
        )
    return blocking.folds(y, k, seed)


def _repeat_seeds(seed: int, n_repeats: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n_repeats)]


# ----------------------------------------------------------------------------- contrastive axis


@dataclasses.dataclass(frozen=True)
class ContrastiveCVResult:
    """Held-out performance of the contrastive axis.

    Attributes:
        auc: ROC AUC of the pooled out-of-fold projections.
        fold_aucs: ``(k,)`` AUC within each held-out fold.
        oof_projection: ``(n,)`` projection of each sample on the axis fitted without it.
        k: Number of folds.
    """

    auc: float
    fold_aucs: np.ndarray
    oof_projection: np.ndarray
    k: int


def cv_contrastive_auc(
    x: np.ndarray, y: np.ndarray, k: int = 5, seed: int = 0, blocking: TimeBlocking | None = None
) -> ContrastiveCVResult:
    """Stratified ``k``-fold AUC of the contrastive axis fitted on the training folds.

    Args:
        x: ``(n, p)`` features.
        y: ``(n,)`` 0/1 labels (each class needs at least ``k`` samples).
        k: Number of folds.
        seed: Seed of the fold shuffle.
        blocking: Folds blocked in time (see the module docstring); None: stratified
            folds of single days. A blocked test fold may hold one class only; its entry
            of ``fold_aucs`` is then NaN.
    """
    x, y = check_xy(x, y)
    folds = _folds(y, k, seed, blocking)
    proj = np.empty(len(y))
    fold_aucs = np.full(k, np.nan)
    for f, (tr, te) in enumerate(folds):
        axis = contrastive_axis(x[tr], y[tr])
        proj[te] = axis.project(x[te])
        if 0 < int(y[te].sum()) < len(te):
            fold_aucs[f] = auc_from_scores(proj[te], y[te])
    return ContrastiveCVResult(auc=float(auc_from_scores(proj, y)), fold_aucs=fold_aucs, oof_projection=proj, k=k)


# ----------------------------------------------------------------------------- CV scores


@dataclasses.dataclass(frozen=True)
class ClassifierCVResult:
    """Cross-validated storm/calm classification.

    The point estimates are means over ``n_repeats`` repetitions of stratified ``k``-fold
    CV of the statistic computed on the pooled out-of-fold decisions. The 95 % intervals
    are percentile intervals of the same statistic under a class-stratified bootstrap of
    the samples' out-of-fold decisions (the same bootstrap sample is applied to every
    repeat, then averaged): they describe the uncertainty from the finite set of
    evaluated dates, not the variation between fold partitions (see ``*_per_repeat``).
    With folds blocked in time the bootstrap resamples whole groups (episodes or weeks,
    :func:`~aurora_xai.regimes.blocking.group_bootstrap_weights`) instead of days.

    Attributes:
        model: ``'lda'`` or ``'logistic'``.
        auc, auc_ci: ROC AUC and its ``(2,)`` interval.
        balanced_accuracy, balanced_accuracy_ci: Mean of the two class recalls with the
            decision threshold of the fitted model, and its interval.
        auc_per_repeat, balanced_accuracy_per_repeat: ``(n_repeats,)``.
        oof_decision: ``(n_repeats, n)`` out-of-fold decision values (> 0 means storm).
        n, n_pos, n_neg, k, n_repeats: Sizes.
        blocking: ``'none'`` (stratified folds of single days), ``'episode'`` or ``'week'``.
        gap_days: Days left out of training around every test day (0 without blocking).
        n_groups: Groups the folds and the bootstrap are made of (``n`` without blocking).
    """

    model: str
    auc: float
    auc_ci: np.ndarray
    balanced_accuracy: float
    balanced_accuracy_ci: np.ndarray
    auc_per_repeat: np.ndarray
    balanced_accuracy_per_repeat: np.ndarray
    oof_decision: np.ndarray
    n: int
    n_pos: int
    n_neg: int
    k: int
    n_repeats: int
    blocking: str = "none"
    gap_days: int = 0
    n_groups: int = 0


def cv_classifier_scores(
    x: np.ndarray,
    y: np.ndarray,
    model: str = "lda",
    k: int = 5,
    n_repeats: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    shrinkage: Shrinkage = "auto",
    c: float = 1.0,
    day_of_year: np.ndarray | None = None,
    n_harmonics: int = 2,
    blocking: TimeBlocking | None = None,
) -> ClassifierCVResult:
    """Repeated stratified ``k``-fold ROC AUC and balanced accuracy with 95 % intervals.

    Args:
        x: ``(n, p)`` features.
        y: ``(n,)`` 0/1 labels (each class needs at least ``k`` samples).
        model: ``'lda'`` (shrinkage LDA, fast) or ``'logistic'``.
        k: Number of folds.
        n_repeats: Repetitions with different fold partitions (the first uses the same
            partition as :func:`permutation_pvalue` with this seed).
        seed: Seed of the partitions and the bootstrap.
        n_boot: Bootstrap resamples for the intervals.
        shrinkage: LDA shrinkage ``gamma`` in (0, 1] or ``'auto'`` (Ledoit-Wolf).
        c: Inverse L2 penalty of the logistic model.
        day_of_year: ``(n,)``; if given, ``n_harmonics`` annual harmonics are regressed
            out of every feature inside each fold (coefficients fitted on the training
            fold, applied to the held-out fold). Residualising on all samples first
            (:func:`~aurora_xai.regimes.seasonal.residualise_annual`) biases the CV AUC below 0.5 when the labels are
            seasonal, because the held-out residuals are then forced to offset the
            training ones.
        n_harmonics: Harmonics removed when ``day_of_year`` is given.
        blocking: Folds blocked in time and a group bootstrap for the intervals (see the
            module docstring); None: stratified folds of single days, days resampled.

    Raises:
        NotApplicableError: fewer than ``k`` samples of a class; with ``blocking``,
            fewer than ``k`` groups holding each class or a training fold left without
            a class by the gap.
    """
    x, y = check_xy(x, y, min_per_class=k)
    shrinkage = resolve_shrinkage(shrinkage)
    design = annual_design(day_of_year, len(y), n_harmonics)
    if n_repeats < 1 or n_boot < 1:
        raise ValueError(f"n_repeats and n_boot must be >= 1, got {n_repeats} and {n_boot}")
    seeds = [seed] + _repeat_seeds(seed, n_repeats - 1)
    dec = np.stack([fold_decisions(x, y, _folds(y, k, s, blocking), model, shrinkage, c, s, design) for s in seeds])
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    rng = np.random.default_rng(seed)
    if blocking is None:
        wp, wn = _stratified_bootstrap_weights(n_pos, n_neg, n_boot, rng)
        n_groups = len(y)
    else:
        groups = blocking.groups(y)
        w = group_bootstrap_weights(groups, y, n_boot, rng)
        wp, wn = w[:, y == 1], w[:, y == 0]
        n_groups = len(np.unique(groups))
    sum_p, sum_n = wp.sum(axis=1), wn.sum(axis=1)
    auc_r = np.empty(n_repeats)
    ba_r = np.empty(n_repeats)
    auc_b = np.zeros(n_boot)
    ba_b = np.zeros(n_boot)
    for r in range(n_repeats):
        pair = _pair_matrix(dec[r], y)
        auc_r[r] = pair.mean()
        auc_b += np.einsum("bi,bi->b", wp, wn @ pair.T) / (sum_p * sum_n)
        hit_pos = (dec[r][y == 1] > 0).astype(np.float64)
        hit_neg = (dec[r][y == 0] <= 0).astype(np.float64)
        ba_r[r] = 0.5 * (hit_pos.mean() + hit_neg.mean())
        ba_b += 0.5 * (wp @ hit_pos / sum_p + wn @ hit_neg / sum_n)
    auc_b /= n_repeats
    ba_b /= n_repeats
    return ClassifierCVResult(
        model=model,
        auc=float(auc_r.mean()),
        auc_ci=np.percentile(auc_b, [2.5, 97.5]),
        balanced_accuracy=float(ba_r.mean()),
        balanced_accuracy_ci=np.percentile(ba_b, [2.5, 97.5]),
        auc_per_repeat=auc_r,
        balanced_accuracy_per_repeat=ba_r,
        oof_decision=dec,
        n=len(y),
        n_pos=n_pos,
        n_neg=n_neg,
        k=k,
        n_repeats=n_repeats,
        blocking="none" if blocking is None else blocking.kind,
        gap_days=0 if blocking is None else blocking.gap_days,
        n_groups=n_groups,
    )


# ----------------------------------------------------------------------------- permutation test


@dataclasses.dataclass(frozen=True)
class PermutationResult:
    """Label-permutation test of the cross-validated AUC.

    Attributes:
        observed_auc: Out-of-fold AUC with the true labels (one fold partition).
        null_aucs: ``(n_permutations,)`` the same statistic with permuted labels.
        p_value: One-sided ``(1 + #{null >= observed}) / (1 + n_permutations)``.
        n_permutations: Number of permutations.
        model: Classifier used.
        blocking: ``'none'`` (stratified folds of single days) or the kind of the
            blocked folds.
        null: ``'within_folds'`` (days' labels, or with a blocking whole label
            episodes, permuted within test folds) or ``'circular_shift'`` (the
            features of all dates shifted circularly against the labels; then
            ``n_permutations`` counts the shifts), see :data:`PERMUTATION_NULLS`.
        min_shift: Least circular shift in dates (0 for ``'within_folds'``).
    """

    observed_auc: float
    null_aucs: np.ndarray
    p_value: float
    n_permutations: int
    model: str
    blocking: str = "none"
    null: str = "within_folds"
    min_shift: int = 0


def permutation_pvalue(
    x: np.ndarray,
    y: np.ndarray,
    model: str = "lda",
    k: int = 5,
    n_permutations: int = 1000,
    seed: int = 0,
    shrinkage: Shrinkage = "auto",
    c: float = 1.0,
    day_of_year: np.ndarray | None = None,
    n_harmonics: int = 2,
    blocking: TimeBlocking | None = None,
) -> PermutationResult:
    """Permutation p-value of the stratified ``k``-fold out-of-fold AUC.

    The fold partition is that of the first repeat of :func:`cv_classifier_scores` with
    the same seed. Labels are permuted within each test fold, which keeps the class
    counts of every training and test fold (the stratification) unchanged, and the model
    is refitted on every permutation. With ``model='lda'`` the refits are exact matrix
    products (1000 permutations of 365 x 3000 take well under a second); with
    ``'logistic'`` every permutation refits ``k`` logistic regressions (slow).

    Args:
        x: ``(n, p)`` features.
        y: ``(n,)`` 0/1 labels.
        model: ``'lda'`` or ``'logistic'``.
        k: Number of folds.
        n_permutations: Number of permutations (>= 1).
        seed: Seed of the partition and of the permutations.
        shrinkage, c, day_of_year, n_harmonics: As in :func:`cv_classifier_scores`
            (in-fold residualisation does not use the labels, so the fast path holds).
        blocking: Block permutation test of the blocked CV AUC: the folds are those of
            :func:`cv_classifier_scores`'s first repeat with the same ``blocking``, and
            instead of single days the labels of whole units (label episodes, cut by
            the groups: :func:`~aurora_xai.regimes.blocking.label_units`) are permuted
            among the units of each test fold
            (:func:`~aurora_xai.regimes.blocking.unit_permutations`), so the null
            labels keep their runs. The fast path holds.

    Raises:
        NotApplicableError: too few samples (or, with ``blocking``, groups) of a class
            for ``k`` folds.
    """
    x, y = check_xy(x, y, min_per_class=k)
    shrinkage = resolve_shrinkage(shrinkage)
    design = annual_design(day_of_year, len(y), n_harmonics)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    if model not in ("lda", "logistic"):
        raise ValueError(f"model must be 'lda' or 'logistic', got {model!r}")
    folds = _folds(y, k, seed, blocking)
    rng = np.random.default_rng(seed)
    if blocking is None:
        perm_labels = np.empty((n_permutations, len(y)), dtype=np.int64)
        for _, te in folds:
            perm_labels[:, te] = rng.permuted(np.tile(y[te], (n_permutations, 1)), axis=1)
    else:
        units = label_units(blocking.days, y, blocking.groups(y))
        perm_labels = unit_permutations(y, units, folds, n_permutations, rng)
    if model == "lda":
        lda_folds = [lda_fold(x, tr, te, shrinkage, design) for tr, te in folds]
        observed = auc_from_scores(lda_decisions(lda_folds, y)[0], y)
        null = np.empty(n_permutations)
        chunk = 500
        for start in range(0, n_permutations, chunk):
            lab = perm_labels[start : start + chunk]
            null[start : start + chunk] = auc_from_scores(lda_decisions(lda_folds, lab), lab)
    else:
        observed = auc_from_scores(logistic_decisions(x, y, folds, c, seed, design), y)
        null = np.array(
            [auc_from_scores(logistic_decisions(x, lab, folds, c, seed, design), lab) for lab in perm_labels]
        )
    p = (1 + int(np.count_nonzero(null >= observed - 1e-12))) / (1 + n_permutations)
    return PermutationResult(
        observed_auc=float(observed),
        null_aucs=null,
        p_value=float(p),
        n_permutations=int(n_permutations),
        model=model,
        blocking="none" if blocking is None else blocking.kind,
    )


def circular_shift_pvalue(
    x_all: np.ndarray,
    positions: np.ndarray,
    y: np.ndarray,
    model: str = "lda",
    k: int = 5,
    seed: int = 0,
    shrinkage: Shrinkage = "auto",
    c: float = 1.0,
    blocking: TimeBlocking | None = None,
    min_shift: int = 1,
    max_shifts: int | None = None,
) -> PermutationResult:
    """Circular-shift p-value of the ``k``-fold out-of-fold AUC.

    The labelled days are rows ``positions`` of the features of all dates ``x_all`` (in
    time order). The observed statistic is the out-of-fold AUC of ``x_all[positions]``
    on the folds of :func:`cv_classifier_scores`'s first repeat (same ``seed`` and
    ``blocking``). Under the null the whole feature series is shifted circularly by
    ``s`` dates against the labels, ``x_all[(positions - s) mod N]``, for every ``s``
    in ``min_shift .. N - min_shift``, and the same folds are refitted: the labels keep
    their dates, runs, seasonal clustering and folds, the features their
    autocorrelation and seasonal cycle, and only the alignment of the two is broken. A
    ``min_shift`` of at least the decorrelation length of the features keeps every
    shifted series independent of the unshifted one. The test is calibrated when the
    features are (nearly) stationary over the date axis; an annual cycle in both series
    counts as association (regress it out of ``x_all`` first for a test beyond the
    season).

    Args:
        x_all: ``(N, p)`` features of all dates, in time order (regularly spaced).
        positions: ``(n,)`` row of ``x_all`` of every labelled day (the order of ``y``).
        y: ``(n,)`` 0/1 labels.
        model, k, seed, shrinkage, c, blocking: As in :func:`permutation_pvalue`.
        min_shift: Least shift in dates (>= 1).
        max_shifts: At most this many shifts, evenly spaced over the admissible ones
            (None: all of them).

    Returns:
        A :class:`PermutationResult` with ``null='circular_shift'``; ``n_permutations``
        is the number of shifts and the p-value is ``(1 + #{null >= observed}) /
        (1 + shifts)``.

    Raises:
        NotApplicableError: too few samples (or groups) of a class for ``k`` folds, or
            fewer than ``2 min_shift + 1`` dates (no admissible shift).
    """
    x_all = np.asarray(x_all, dtype=np.float64)
    pos = np.asarray(positions)
    if x_all.ndim != 2 or pos.ndim != 1 or not np.issubdtype(pos.dtype, np.integer):
        raise ValueError(f"x_all must be (N, p) and positions an integer (n,) array, got {x_all.shape}, {pos.shape}")
    n_all = x_all.shape[0]
    if len(pos) and (pos.min() < 0 or pos.max() >= n_all):
        raise ValueError(f"positions must index the {n_all} dates of x_all")
    x, y = check_xy(x_all[pos], y, min_per_class=k)
    if model not in ("lda", "logistic"):
        raise ValueError(f"model must be 'lda' or 'logistic', got {model!r}")
    if int(min_shift) < 1:
        raise ValueError(f"min_shift must be >= 1, got {min_shift}")
    min_shift = int(min_shift)
    shifts = np.arange(min_shift, n_all - min_shift + 1)
    if len(shifts) == 0:
        raise NotApplicableError(
            f"{n_all} dates leave no circular shift of at least {min_shift} dates in both directions"
        )
    if max_shifts is not None and len(shifts) > int(max_shifts):
        shifts = shifts[np.unique(np.linspace(0, len(shifts) - 1, int(max_shifts)).round().astype(int))]
    shrinkage = resolve_shrinkage(shrinkage)
    folds = _folds(y, k, seed, blocking)

    def auc_at(xs: np.ndarray) -> float:
        return float(auc_from_scores(fold_decisions(xs, y, folds, model, shrinkage, c, seed), y))

    observed = auc_at(x)
    null = np.array([auc_at(x_all[(pos - s) % n_all]) for s in shifts])
    p = (1 + int(np.count_nonzero(null >= observed - 1e-12))) / (1 + len(shifts))
    return PermutationResult(
        observed_auc=observed,
        null_aucs=null,
        p_value=float(p),
        n_permutations=len(shifts),
        model=model,
        blocking="none" if blocking is None else blocking.kind,
        null="circular_shift",
        min_shift=min_shift,
    )


# ----------------------------------------------------------------------------- within seasons


def within_season_auc(
    x: np.ndarray,
    y: np.ndarray,
    seasons: Sequence[str] | np.ndarray,
    k: int = 5,
    seed: int = 0,
    model: str = "lda",
    n_repeats: int = 1,
    min_per_class: int | None = None,
) -> pd.DataFrame:
    """Cross-validated storm/calm AUC within each season separately.

    Args:
        x: ``(n, p)`` features.
        y: ``(n,)`` 0/1 labels.
        seasons: ``(n,)`` season labels (``'DJF'`` ...); order of the output follows
            ``DJF, MAM, JJA, SON`` then any other labels.
        k: Folds of the within-season CV.
        seed: Seed of the partitions and bootstrap.
        model: ``'lda'`` or ``'logistic'``.
        n_repeats: CV repetitions.
        min_per_class: Minimum samples of each class for a season to be evaluated
            (default ``k``, the minimum for stratified ``k``-fold CV).

    Returns:
        DataFrame with columns ``season, n, n_storm, n_calm, auc, ci_low, ci_high,
        skipped`` where ``skipped`` is ``''`` or the reason the season was not evaluated
        (its AUC columns are then NaN).
    """
    x, y = check_xy(x, y)
    lab = np.asarray(seasons).astype(str)
    if lab.shape != y.shape:
        raise ValueError(f"seasons has shape {lab.shape} but y has shape {y.shape}")
    need = k if min_per_class is None else max(int(min_per_class), k)
    present = list(dict.fromkeys(lab.tolist()))
    order = [s for s in SEASONS if s in present] + [s for s in present if s not in SEASONS]
    rows = []
    for season in order:
        m = lab == season
        n_storm, n_calm = int(y[m].sum()), int(m.sum() - y[m].sum())
        row = {
            "season": season,
            "n": int(m.sum()),
            "n_storm": n_storm,
            "n_calm": n_calm,
            "auc": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "skipped": "",
        }
        if min(n_storm, n_calm) < need:
            row["skipped"] = f"{n_storm} storm and {n_calm} calm samples; need at least {need} of each"
        else:
            res = cv_classifier_scores(x[m], y[m], model=model, k=k, n_repeats=n_repeats, seed=seed)
            row.update(auc=res.auc, ci_low=res.auc_ci[0], ci_high=res.auc_ci[1])
        rows.append(row)
    return pd.DataFrame(rows, columns=["season", "n", "n_storm", "n_calm", "auc", "ci_low", "ci_high", "skipped"])
