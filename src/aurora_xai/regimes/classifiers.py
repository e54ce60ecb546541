"""Linear storm/calm classifiers of pooled latents, fitted on a training fold.

Labels are ``0`` (calm) / ``1`` (storm) arrays of shape ``(n,)`` and features ``(n, p)``
arrays, typically with ``p >> n``. Features are standardised with training-fold
statistics only. Cross-validation, permutation tests (:mod:`aurora_xai.regimes.cv`) and
the storm/calm report (:mod:`aurora_xai.regimes.storm_calm`) are built on these.

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
    :func:`~aurora_xai.regimes.cv.permutation_pvalue`.
``'logistic'``
    scikit-learn ``LogisticRegression`` (L2, ``C``, balanced class weights) after a
    ``StandardScaler``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg
import scipy.stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.pca import standardise
from aurora_xai.regimes.seasonal import check_annual_coverage, harmonic_design

__all__ = [
    "ContrastiveAxis",
    "LdaFold",
    "Shrinkage",
    "annual_design",
    "auc_from_scores",
    "check_xy",
    "contrastive_axis",
    "fold_decisions",
    "lda_decisions",
    "lda_fold",
    "ledoit_wolf_shrinkage_dual",
    "logistic_decisions",
    "resolve_shrinkage",
]

Shrinkage = float | str


# ----------------------------------------------------------------------------- checks


def check_xy(x: np.ndarray, y: np.ndarray, min_per_class: int = 1) -> tuple[np.ndarray, np.ndarray]:
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


def resolve_shrinkage(shrinkage: Shrinkage) -> Shrinkage:
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
    x, y = check_xy(x_train, y_train)
    z, mean, scale = standardise(x)
    diff = z[y == 1].mean(axis=0) - z[y == 0].mean(axis=0)
    norm = float(np.linalg.norm(diff))
    if norm == 0:
        raise NotApplicableError("the two class means coincide; the contrastive axis is undefined")
    return ContrastiveAxis(direction=diff / norm, mean=mean, scale=scale, separation=norm)


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
class LdaFold:
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


def annual_design(day_of_year: np.ndarray | None, n: int, n_harmonics: int) -> np.ndarray | None:
    if day_of_year is None:
        return None
    doy = np.asarray(day_of_year, dtype=np.float64)
    if doy.shape != (n,):
        raise ValueError(f"day_of_year must have shape ({n},), got {doy.shape}")
    if n_harmonics < 1:
        raise ValueError(f"n_harmonics must be >= 1, got {n_harmonics}")
    check_annual_coverage(doy, n_harmonics)
    return harmonic_design(doy, n_harmonics)


def lda_fold(
    x: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    shrinkage: Shrinkage,
    design: np.ndarray | None = None,
) -> LdaFold:
    x_tr, x_te = _fold_data(x, train, test, design)
    z_tr, mean, scale = standardise(x_tr)
    z_te = (x_te - mean) / scale
    k_tr = z_tr @ z_tr.T
    k_te = z_te @ z_tr.T
    n_tr, p = z_tr.shape
    gamma = ledoit_wolf_shrinkage_dual(k_tr, p) if shrinkage == "auto" else float(shrinkage)
    if gamma >= 1.0:
        return LdaFold(train, test, k_te, k_tr, 1.0)
    lam = n_tr * gamma / (1.0 - gamma)
    try:
        cho = scipy.linalg.cho_factor(k_tr + lam * np.eye(n_tr))
        inv = scipy.linalg.cho_solve(cho, np.eye(n_tr))
    except np.linalg.LinAlgError:
        # a singular Gram matrix (no shrinkage and fewer independent training days than
        # needed, e.g. two): the minimum-norm solution, the limit of the ridge as it vanishes
        inv = scipy.linalg.pinvh(k_tr + lam * np.eye(n_tr))
    return LdaFold(train, test, k_te @ inv, k_tr @ inv, gamma)


def lda_decisions(folds: list[LdaFold], labels: np.ndarray) -> np.ndarray:
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


def logistic_decisions(
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


def fold_decisions(
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
        return lda_decisions([lda_fold(x, tr, te, shrinkage, design) for tr, te in folds], y)[0]
    if model == "logistic":
        return logistic_decisions(x, y, folds, c, seed, design)
    raise ValueError(f"model must be 'lda' or 'logistic', got {model!r}")
