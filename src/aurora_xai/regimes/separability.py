"""Storm versus calm separability of pooled latents.

Labels are ``0`` (calm) / ``1`` (storm) arrays of shape ``(n,)`` and features ``(n, p)``
arrays, typically with ``p >> n``. Every cross-validated number standardises the features
with training-fold statistics only. Too few days of a class for a statistic (fewer than
``k`` for ``k``-fold CV, none for the others), or dates covering too little of the year
for the annual residualisation, raise
:class:`~aurora_xai.regimes.applicability.NotApplicableError` (a ``ValueError``);
:func:`storm_calm_report` records those statistics as not applicable.

Two linear classifiers are provided:

``'lda'``
    Shrinkage linear discriminant, computed as ridge regression of the centred labels on
    the standardised features in dual (``n x n`` kernel) form. For two classes the
    least-squares direction is the LDA direction; the ridge penalty
    ``lambda = n_train * gamma / (1 - gamma)`` makes it the LDA direction of the shrunk
    covariance ``(1 - gamma) S + gamma I`` (``S`` the total covariance of the standardised
    training features, whose mean eigenvalue is 1). ``gamma = 1`` is the nearest-centroid
    (contrastive) axis. ``gamma='auto'`` uses the Ledoit-Wolf shrinkage of ``S``, computed
    from the kernel and independent of the labels. The decision threshold is the midpoint
    of the projected class means of the training samples' leave-one-out decisions (equal
    priors; in-sample decisions are biased when ``p >> n``). Because the out-of-fold
    decisions are a fixed linear map of the training labels, thousands of label
    permutations cost a few matrix products: this is the fast path of
    :func:`permutation_pvalue`.
``'logistic'``
    scikit-learn ``LogisticRegression`` (L2, ``C``, balanced class weights) after a
    ``StandardScaler``.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.optimize
import scipy.stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.blocking import TimeBlocking, group_bootstrap_weights, label_units, unit_permutations
from aurora_xai.regimes.pca import fit_pca, standardise
from aurora_xai.regimes.seasonal import SEASONS, check_annual_coverage, harmonic_design

__all__ = [
    "ClassifierCVResult",
    "ContrastiveAxis",
    "ContrastiveCVResult",
    "LinearSeparability",
    "PermutationResult",
    "auc_from_scores",
    "contrastive_axis",
    "cv_classifier_scores",
    "cv_contrastive_auc",
    "ledoit_wolf_shrinkage_dual",
    "linear_separability",
    "permutation_pvalue",
    "residualise_annual",
    "separability_in_pc_space",
    "storm_calm_report",
    "stratified_folds",
    "within_season_auc",
]

Shrinkage = float | str


# ----------------------------------------------------------------------------- checks


def _check_xy(x: np.ndarray, y: np.ndarray, min_per_class: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"x must be a (samples, features) array, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must have shape ({len(x)},) to match x, got {y.shape}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"non-finite feature value at sample {bad[0]}, feature {bad[1]}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"y must contain only 0 (calm) and 1 (storm), got values {sorted(values)}")
    y = y.astype(np.int64)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < min_per_class:
        raise NotApplicableError(
            f"need at least {min_per_class} samples of each class, got {n_pos} storm (1) and {n_neg} calm (0)"
        )
    return x, y


def _resolve_shrinkage(shrinkage: Shrinkage) -> Shrinkage:
    if isinstance(shrinkage, str):
        if shrinkage != "auto":
            raise ValueError(f"shrinkage must be 'auto' or a float in (0, 1], got {shrinkage!r}")
        return shrinkage
    g = float(shrinkage)
    if not 0.0 < g <= 1.0:
        raise ValueError(f"shrinkage must be in (0, 1], got {g}")
    return g


# ----------------------------------------------------------------------------- AUC helpers


def auc_from_scores(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``scores`` against the matching row of ``labels``.

    Args:
        scores: ``(n,)`` or ``(m, n)`` decision values (higher = more storm-like).
        labels: ``(n,)`` or ``(m, n)`` 0/1 labels; every row needs both classes.

    Returns:
        A float for 1-d input, else ``(m,)`` AUCs (ties count one half, as in
        ``sklearn.metrics.roc_auc_score``).
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    lab = np.atleast_2d(np.asarray(labels)).astype(bool)
    lab = np.broadcast_to(lab, s.shape)
    n_pos = lab.sum(axis=1)
    n_neg = lab.shape[1] - n_pos
    if np.any(n_pos == 0) or np.any(n_neg == 0):
        raise NotApplicableError("AUC needs both classes in every row of labels")
    ranks = scipy.stats.rankdata(s, axis=1)
    auc = ((ranks * lab).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(auc[0]) if np.ndim(scores) == 1 else auc


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
class ContrastiveAxis:
    """Normalised difference of class means in standardised feature space.

    Attributes:
        direction: ``(p,)`` unit vector ``(mu_storm - mu_calm) / ||.||`` in z-scored units.
        mean: ``(p,)`` training feature means.
        scale: ``(p,)`` training feature standard deviations (constant features 1).
        separation: Distance between the standardised class means, ``||mu_1 - mu_0||``.
    """

    direction: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    separation: float

    def project(self, x: np.ndarray) -> np.ndarray:
        """Projection ``(n,)`` of samples ``(n, p)`` on the axis (standardised with train stats)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.direction):
            raise ValueError(f"expected (n, {len(self.direction)}) samples, got shape {x.shape}")
        return ((x - self.mean) / self.scale) @ self.direction


def contrastive_axis(x_train: np.ndarray, y_train: np.ndarray) -> ContrastiveAxis:
    """Contrastive (storm minus calm mean) axis from training data.

    Args:
        x_train: ``(n, p)`` training features.
        y_train: ``(n,)`` 0/1 labels.
    """
    x, y = _check_xy(x_train, y_train)
    z, mean, scale = standardise(x)
    diff = z[y == 1].mean(axis=0) - z[y == 0].mean(axis=0)
    norm = float(np.linalg.norm(diff))
    if norm == 0:
        raise NotApplicableError("the two class means coincide; the contrastive axis is undefined")
    return ContrastiveAxis(direction=diff / norm, mean=mean, scale=scale, separation=norm)


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
    x, y = _check_xy(x, y)
    folds = _folds(y, k, seed, blocking)
    proj = np.empty(len(y))
    fold_aucs = np.full(k, np.nan)
    for f, (tr, te) in enumerate(folds):
        axis = contrastive_axis(x[tr], y[tr])
        proj[te] = axis.project(x[te])
        if 0 < int(y[te].sum()) < len(te):
            fold_aucs[f] = auc_from_scores(proj[te], y[te])
    return ContrastiveCVResult(auc=float(auc_from_scores(proj, y)), fold_aucs=fold_aucs, oof_projection=proj, k=k)


# ----------------------------------------------------------------------------- shrinkage LDA (dual)


def ledoit_wolf_shrinkage_dual(kernel: np.ndarray, p: int) -> float:
    """Ledoit-Wolf shrinkage of ``S = Z^T Z / n`` from the kernel ``K = Z Z^T``.

    Equals ``sklearn.covariance.ledoit_wolf_shrinkage(Z, assume_centered=True)`` for a
    centred ``(n, p)`` matrix ``Z`` but costs ``O(n^2)`` given ``K`` ``(n, n)``.
    """
    n = kernel.shape[0]
    frob_s = float(np.sum(kernel**2)) / n**2  # ||S||_F^2
    mu = float(np.trace(kernel)) / (n * p)
    delta = frob_s - p * mu**2  # ||S - mu I||_F^2
    sq_norms = np.diag(kernel)
    zsz = np.sum(kernel**2, axis=1) / n  # z_i^T S z_i
    beta = float(np.sum(sq_norms**2 - 2 * zsz + frob_s)) / n**2
    if delta <= 0:
        return 1.0
    return float(min(beta, delta) / delta)


@dataclasses.dataclass
class _LdaFold:
    """Linear maps from centred training labels to test and training decisions."""

    train: np.ndarray
    test: np.ndarray
    to_test: np.ndarray  # (n_test, n_train)
    to_train: np.ndarray  # (n_train, n_train)
    shrinkage: float


def _fold_data(
    x: np.ndarray, train: np.ndarray, test: np.ndarray, design: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test features, with ``design`` regressed out using the training fold only."""
    if design is None:
        return x[train], x[test]
    coef, *_ = np.linalg.lstsq(design[train], x[train], rcond=None)
    return x[train] - design[train] @ coef, x[test] - design[test] @ coef


def _annual_design(day_of_year: np.ndarray | None, n: int, n_harmonics: int) -> np.ndarray | None:
    if day_of_year is None:
        return None
    doy = np.asarray(day_of_year, dtype=np.float64)
    if doy.shape != (n,):
        raise ValueError(f"day_of_year must have shape ({n},), got {doy.shape}")
    if n_harmonics < 1:
        raise ValueError(f"n_harmonics must be >= 1, got {n_harmonics}")
    check_annual_coverage(doy, n_harmonics)
    return harmonic_design(doy, n_harmonics)


def _lda_fold(
    x: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    shrinkage: Shrinkage,
    design: np.ndarray | None = None,
) -> _LdaFold:
    x_tr, x_te = _fold_data(x, train, test, design)
    z_tr, mean, scale = standardise(x_tr)
    z_te = (x_te - mean) / scale
    k_tr = z_tr @ z_tr.T
    k_te = z_te @ z_tr.T
    n_tr, p = z_tr.shape
    gamma = ledoit_wolf_shrinkage_dual(k_tr, p) if shrinkage == "auto" else float(shrinkage)
    if gamma >= 1.0:
        return _LdaFold(train, test, k_te, k_tr, 1.0)
    lam = n_tr * gamma / (1.0 - gamma)
    cho = scipy.linalg.cho_factor(k_tr + lam * np.eye(n_tr))
    inv = scipy.linalg.cho_solve(cho, np.eye(n_tr))
    return _LdaFold(train, test, k_te @ inv, k_tr @ inv, gamma)


def _lda_decisions(folds: list[_LdaFold], labels: np.ndarray) -> np.ndarray:
    """Out-of-fold decisions ``(m, n)`` for label rows ``(m, n)`` (fixed folds).

    The threshold of each fold is the midpoint of the class means of the training
    samples' leave-one-out decisions. In-sample decisions would be biased when
    ``p >> n``: each training sample's own noise is fitted, which inflates the smaller
    class's mean decision and pushes the threshold towards it. For ridge the
    leave-one-out decisions are exact, ``yc - (yc - H yc) / (1 - diag H)``; for
    ``gamma = 1`` (nearest centroid) the self term ``K_ii yc_i`` is removed.
    """
    labels = np.atleast_2d(labels).astype(np.float64)
    out = np.empty_like(labels)
    for fold in folds:
        yt = labels[:, fold.train]  # (m, n_tr)
        n_pos = yt.sum(axis=1)
        n_neg = yt.shape[1] - n_pos
        yc = yt - (n_pos / yt.shape[1])[:, None]
        f_tr = yc @ fold.to_train.T  # (m, n_tr)
        h = np.diag(fold.to_train)
        if fold.shrinkage >= 1.0:
            f_loo = f_tr - h * yc
        else:
            f_loo = yc - (yc - f_tr) / (1.0 - h)
        with np.errstate(invalid="ignore", divide="ignore"):
            thr = 0.5 * ((f_loo * yt).sum(axis=1) / n_pos + (f_loo * (1 - yt)).sum(axis=1) / n_neg)
        thr = np.nan_to_num(thr)
        out[:, fold.test] = yc @ fold.to_test.T - thr[:, None]
    return out


def _logistic_decisions(
    x: np.ndarray, y: np.ndarray, folds, c: float, seed: int, design: np.ndarray | None = None
) -> np.ndarray:
    out = np.empty(len(y))
    for tr, te in folds:
        x_tr, x_te = _fold_data(x, tr, te, design)
        clf = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed),
        )
        clf.fit(x_tr, y[tr])
        out[te] = clf.decision_function(x_te)
    return out


def _decisions(
    x,
    y,
    folds,
    model: str,
    shrinkage: Shrinkage,
    c: float,
    seed: int,
    design: np.ndarray | None = None,
) -> np.ndarray:
    if model == "lda":
        return _lda_decisions([_lda_fold(x, tr, te, shrinkage, design) for tr, te in folds], y)[0]
    if model == "logistic":
        return _logistic_decisions(x, y, folds, c, seed, design)
    raise ValueError(f"model must be 'lda' or 'logistic', got {model!r}")


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
            (:func:`residualise_annual`) biases the CV AUC below 0.5 when the labels are
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
    x, y = _check_xy(x, y, min_per_class=k)
    shrinkage = _resolve_shrinkage(shrinkage)
    design = _annual_design(day_of_year, len(y), n_harmonics)
    if n_repeats < 1 or n_boot < 1:
        raise ValueError(f"n_repeats and n_boot must be >= 1, got {n_repeats} and {n_boot}")
    seeds = [seed] + _repeat_seeds(seed, n_repeats - 1)
    dec = np.stack([_decisions(x, y, _folds(y, k, s, blocking), model, shrinkage, c, s, design) for s in seeds])
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
        blocking: ``'none'`` (days' labels permuted within test folds) or the kind of
            blocked folds (labels of whole episodes permuted within test folds).
    """

    observed_auc: float
    null_aucs: np.ndarray
    p_value: float
    n_permutations: int
    model: str
    blocking: str = "none"


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
    x, y = _check_xy(x, y, min_per_class=k)
    shrinkage = _resolve_shrinkage(shrinkage)
    design = _annual_design(day_of_year, len(y), n_harmonics)
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
        lda_folds = [_lda_fold(x, tr, te, shrinkage, design) for tr, te in folds]
        observed = auc_from_scores(_lda_decisions(lda_folds, y)[0], y)
        null = np.empty(n_permutations)
        chunk = 500
        for start in range(0, n_permutations, chunk):
            lab = perm_labels[start : start + chunk]
            null[start : start + chunk] = auc_from_scores(_lda_decisions(lda_folds, lab), lab)
    else:
        observed = auc_from_scores(_logistic_decisions(x, y, folds, c, seed, design), y)
        null = np.array(
            [auc_from_scores(_logistic_decisions(x, lab, folds, c, seed, design), lab) for lab in perm_labels]
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


# ----------------------------------------------------------------------------- linear separability


@dataclasses.dataclass(frozen=True)
class LinearSeparability:
    """Whether a hyperplane separates the two classes of the training data.

    Attributes:
        separable: The LP ``y_i (w . z_i + b) >= 1`` (``y_i = +-1``) is feasible.
        margin: If separable, the geometric margin (distance from the maximum-margin
            hyperplane to the closest sample, in the units of the, by default
            standardised, features); NaN otherwise.
        n, p: Samples and features.
        trivially_separable: ``n <= p + 1``: any labelling of points in general
            position is then separable, so ``separable`` carries no information about
            the data and only ``margin`` (compared with label-shuffled data) does.
        lp_message: Status message of the LP solver.
    """

    separable: bool
    margin: float
    n: int
    p: int
    trivially_separable: bool
    lp_message: str


def linear_separability(
    x: np.ndarray, y: np.ndarray, standardize: bool = True, svm_c: float = 1e8
) -> LinearSeparability:
    """Hard-margin linear separability of the training data (100 % training accuracy).

    Feasibility of ``y_i (w . x_i + b) >= 1`` is decided exactly by a linear program
    (``scipy.optimize.linprog``, HiGHS). If feasible, the geometric margin comes from a
    linear SVM with a very large ``C`` (the hard-margin limit), checked to classify all
    samples correctly.

    For ``p >= n - 1`` (the usual case for full latent vectors) ``n`` points in general
    position are separable under *any* labelling, so the answer is almost always "yes"
    and says nothing about storms; that is why the test is repeated in the space of a
    few leading PCs (:func:`separability_in_pc_space`).

    Args:
        x: ``(n, p)`` features.
        y: ``(n,)`` 0/1 labels.
        standardize: Z-score the features first (does not change separability, only the
            units of the margin).
        svm_c: ``C`` of the SVM used for the margin.
    """
    x, y = _check_xy(x, y)
    z = standardise(x)[0] if standardize else x
    n, p = z.shape
    s = 2.0 * y - 1.0
    a_ub = -s[:, None] * np.hstack([z, np.ones((n, 1))])
    res = scipy.optimize.linprog(
        c=np.zeros(p + 1),
        A_ub=a_ub,
        b_ub=-np.ones(n),
        bounds=[(None, None)] * (p + 1),
        method="highs",
    )
    if res.status == 0:
        separable = bool(np.min(-(a_ub @ res.x)) >= 1 - 1e-6)
    elif res.status == 2:
        separable = False
    else:
        raise ValueError(f"separability LP did not finish: {res.message}")
    margin = float("nan")
    if separable:
        svm = SVC(kernel="linear", C=svm_c, max_iter=1_000_000).fit(z, y)
        w = svm.coef_.ravel()
        functional = s * (z @ w + svm.intercept_[0])
        if np.all(functional > 0):
            margin = float(np.min(functional) / np.linalg.norm(w))
    return LinearSeparability(
        separable=separable,
        margin=margin,
        n=n,
        p=p,
        trivially_separable=bool(n <= p + 1),
        lp_message=str(res.message),
    )


def separability_in_pc_space(x: np.ndarray, y: np.ndarray, n_pcs: int = 10) -> LinearSeparability:
    """:func:`linear_separability` of the scores on the ``n_pcs`` leading PCs.

    The PCA (of the standardised features, all samples, labels unused) projects onto
    orthonormal axes, so the margin is in the same units as the full-space margin of
    :func:`linear_separability` and can only be smaller.
    """
    x, y = _check_xy(x, y)
    if n_pcs < 1:
        raise ValueError(f"n_pcs must be >= 1, got {n_pcs}")
    if n_pcs > min(x.shape):
        raise NotApplicableError(f"{n_pcs} PCs cannot be taken from {x.shape[0]} samples of {x.shape[1]} features")
    scores = fit_pca(x, n_pcs, standardize=True).scores
    return linear_separability(scores, y, standardize=False)


# ----------------------------------------------------------------------------- season confounder


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
            (:func:`~aurora_xai.regimes.seasonal.check_annual_coverage`) or are too few.

    For cross-validated classification use the ``day_of_year`` argument of
    :func:`cv_classifier_scores` instead, which fits the regression on training folds
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
    x, y = _check_xy(x, y)
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


# ----------------------------------------------------------------------------- report


def storm_calm_report(
    x: np.ndarray,
    y: np.ndarray,
    day_of_year: np.ndarray,
    seasons: Sequence[str] | np.ndarray,
    seed: int = 0,
    n_permutations: int = 1000,
    k: int = 5,
    n_pcs: int = 10,
    n_repeats: int = 5,
    n_boot: int = 1000,
    model: str = "lda",
    include_logistic: bool = True,
    blocking: TimeBlocking | None = None,
) -> dict[str, Any]:
    """Headline storm-versus-calm numbers.

    Keys (``N`` is ``min(n_pcs, n - 2)``: in ``n - 1`` or more PC dimensions any labelling
    of ``n`` points is separable):

    - ``storm_calm_auc``, ``storm_calm_auc_ci_low``, ``storm_calm_auc_ci_high``,
      ``storm_calm_auc_n`` (samples), ``storm_calm_n_storm``, ``storm_calm_n_calm``:
      repeated stratified CV AUC of ``model`` (see :func:`cv_classifier_scores`);
    - ``storm_calm_balanced_accuracy`` with ``_ci_low`` / ``_ci_high``;
    - ``storm_calm_perm_p``: :func:`permutation_pvalue` of the same model;
    - ``storm_calm_auc_logistic`` (if ``include_logistic``);
    - ``storm_calm_linearly_separable`` (1/0, full standardised space),
      ``storm_calm_margin``, ``storm_calm_trivially_separable`` (1 if ``n <= p + 1``);
    - ``storm_calm_linearly_separable_pcN``, ``storm_calm_margin_pcN``;
    - ``storm_calm_contrastive_auc``: held-out AUC of the contrastive axis;
    - ``storm_calm_residualised_auc`` (+ ``_ci_low``, ``_ci_high``, ``_perm_p``): the
      model's AUC after regressing two annual harmonics out of every feature inside each
      training fold;
    - ``storm_calm_within_season_auc_<SEASON>`` (NaN where skipped);
    - ``storm_calm_model``, ``storm_calm_n_pcs``, ``storm_calm_k``;
    - with ``blocking`` (folds blocked in time, beside the values above which use
      shuffled folds of single days): ``storm_calm_auc_blocked``,
      ``storm_calm_balanced_accuracy_blocked`` and ``storm_calm_residualised_auc_blocked``
      (each with ``_ci_low`` / ``_ci_high`` from a bootstrap of whole groups),
      ``storm_calm_contrastive_auc_blocked``, ``storm_calm_perm_p_block`` (label
      episodes permuted as units), ``storm_calm_cv_blocking`` (the kind),
      ``storm_calm_cv_gap_days``, ``storm_calm_n_blocks`` (groups of the labelled days),
      ``storm_calm_n_storm_episodes`` and ``storm_calm_n_calm_episodes``;
    - ``storm_calm_not_applicable``: ``{key: reason}`` for every statistic above that
      the labelled days do not allow (fewer than ``k`` days of a class for the
      cross-validated ones, fewer than ``k`` groups holding a class for the blocked
      ones, no day of a class, dates covering too little of the year
      for the annual residualisation, fewer than 3 days for the PC space); those keys
      are then absent.

    Args:
        x: ``(n, p)`` features; y: ``(n,)`` 0/1 labels; day_of_year: ``(n,)``;
        seasons: ``(n,)`` season labels. Other arguments as in the functions above;
        ``blocking`` None computes no blocked statistic.

    Raises:
        ValueError: for malformed input (shapes, non-finite features, labels other than
            0/1, unknown model); never for too few days (those statistics are listed
            under ``storm_calm_not_applicable``).
    """
    x, y = _check_xy(x, y, min_per_class=0)
    if blocking is not None and len(blocking.days) != len(y):
        raise ValueError(f"the blocking has {len(blocking.days)} days but there are {len(y)} labelled days")
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    npc = min(n_pcs, len(y) - 2)
    if npc < 1:
        npc = n_pcs  # not applicable; reported under the requested name
    out: dict[str, Any] = {
        "storm_calm_model": model,
        "storm_calm_k": k,
        "storm_calm_auc_n": len(y),
        "storm_calm_n_storm": n_pos,
        "storm_calm_n_calm": n_neg,
        "storm_calm_n_pcs": npc,
    }
    notes: dict[str, str] = {}

    def attempt(keys: Sequence[str], compute) -> None:
        try:
            out.update(compute())
        except NotApplicableError as err:
            notes.update({key: str(err) for key in keys})

    def cv_keys(prefix: str, res: ClassifierCVResult) -> dict[str, float]:
        return {
            prefix: res.auc,
            f"{prefix}_ci_low": float(res.auc_ci[0]),
            f"{prefix}_ci_high": float(res.auc_ci[1]),
        }

    def cv_main() -> dict[str, float]:
        cv = cv_classifier_scores(x, y, model=model, k=k, n_repeats=n_repeats, seed=seed, n_boot=n_boot)
        return {
            **cv_keys("storm_calm_auc", cv),
            "storm_calm_balanced_accuracy": cv.balanced_accuracy,
            "storm_calm_balanced_accuracy_ci_low": float(cv.balanced_accuracy_ci[0]),
            "storm_calm_balanced_accuracy_ci_high": float(cv.balanced_accuracy_ci[1]),
        }

    def separable() -> dict[str, float]:
        sep = linear_separability(x, y)
        return {
            "storm_calm_linearly_separable": int(sep.separable),
            "storm_calm_margin": sep.margin,
            "storm_calm_trivially_separable": int(sep.trivially_separable),
        }

    def separable_pc() -> dict[str, float]:
        if len(y) - 2 < 1:
            raise NotApplicableError(
                f"{len(y)} labelled days leave no PC space below the {max(len(y) - 1, 0)} dimensions in "
                "which any labelling is separable"
            )
        sep_pc = separability_in_pc_space(x, y, npc)
        return {
            f"storm_calm_linearly_separable_pc{npc}": int(sep_pc.separable),
            f"storm_calm_margin_pc{npc}": sep_pc.margin,
        }

    def residualised() -> dict[str, float]:
        cv_r = cv_classifier_scores(
            x,
            y,
            model=model,
            k=k,
            n_repeats=n_repeats,
            seed=seed,
            n_boot=n_boot,
            day_of_year=day_of_year,
            n_harmonics=2,
        )
        perm_r = permutation_pvalue(
            x, y, model=model, k=k, n_permutations=n_permutations, seed=seed, day_of_year=day_of_year, n_harmonics=2
        )
        return {**cv_keys("storm_calm_residualised_auc", cv_r), "storm_calm_residualised_perm_p": perm_r.p_value}

    def within() -> dict[str, float]:
        table = within_season_auc(x, y, seasons, k=k, seed=seed, model=model)
        return {f"storm_calm_within_season_auc_{row.season}": float(row.auc) for row in table.itertuples()}

    attempt(
        ["storm_calm_auc", "storm_calm_balanced_accuracy"],
        cv_main,
    )
    attempt(
        ["storm_calm_perm_p"],
        lambda: {
            "storm_calm_perm_p": permutation_pvalue(
                x, y, model=model, k=k, n_permutations=n_permutations, seed=seed
            ).p_value
        },
    )
    attempt(["storm_calm_linearly_separable", "storm_calm_margin"], separable)
    attempt([f"storm_calm_linearly_separable_pc{npc}", f"storm_calm_margin_pc{npc}"], separable_pc)
    attempt(
        ["storm_calm_contrastive_auc"],
        lambda: {"storm_calm_contrastive_auc": cv_contrastive_auc(x, y, k=k, seed=seed).auc},
    )
    attempt(["storm_calm_residualised_auc", "storm_calm_residualised_perm_p"], residualised)
    if include_logistic:
        attempt(
            ["storm_calm_auc_logistic"],
            lambda: {
                "storm_calm_auc_logistic": cv_classifier_scores(
                    x, y, model="logistic", k=k, n_repeats=1, seed=seed, n_boot=n_boot
                ).auc
            },
        )
    attempt(["storm_calm_within_season_auc"], within)
    if blocking is not None:
        groups = blocking.groups(y)
        episodes = TimeBlocking("episode", blocking.days, 0).groups(y)
        out.update(
            storm_calm_cv_blocking=blocking.kind,
            storm_calm_cv_gap_days=blocking.gap_days,
            storm_calm_n_blocks=len(np.unique(groups)),
            storm_calm_n_storm_episodes=len(np.unique(episodes[y == 1])),
            storm_calm_n_calm_episodes=len(np.unique(episodes[y == 0])),
        )

        def cv_blocked() -> dict[str, float]:
            cv = cv_classifier_scores(
                x, y, model=model, k=k, n_repeats=n_repeats, seed=seed, n_boot=n_boot, blocking=blocking
            )
            return {
                **cv_keys("storm_calm_auc_blocked", cv),
                "storm_calm_balanced_accuracy_blocked": cv.balanced_accuracy,
                "storm_calm_balanced_accuracy_blocked_ci_low": float(cv.balanced_accuracy_ci[0]),
                "storm_calm_balanced_accuracy_blocked_ci_high": float(cv.balanced_accuracy_ci[1]),
            }

        def residualised_blocked() -> dict[str, float]:
            cv_r = cv_classifier_scores(
                x,
                y,
                model=model,
                k=k,
                n_repeats=n_repeats,
                seed=seed,
                n_boot=n_boot,
                day_of_year=day_of_year,
                n_harmonics=2,
                blocking=blocking,
            )
            return cv_keys("storm_calm_residualised_auc_blocked", cv_r)

        attempt(["storm_calm_auc_blocked", "storm_calm_balanced_accuracy_blocked"], cv_blocked)
        attempt(
            ["storm_calm_perm_p_block"],
            lambda: {
                "storm_calm_perm_p_block": permutation_pvalue(
                    x, y, model=model, k=k, n_permutations=n_permutations, seed=seed, blocking=blocking
                ).p_value
            },
        )
        attempt(
            ["storm_calm_contrastive_auc_blocked"],
            lambda: {
                "storm_calm_contrastive_auc_blocked": cv_contrastive_auc(x, y, k=k, seed=seed, blocking=blocking).auc
            },
        )
        attempt(["storm_calm_residualised_auc_blocked"], residualised_blocked)
    out["storm_calm_not_applicable"] = notes
    return out
