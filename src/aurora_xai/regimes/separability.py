"""Linear separability of storm and calm days: is there a hyperplane with every storm day
on one side, in the full (standardised) feature space or in that of a few leading PCs?"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize
from sklearn.svm import SVC

from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.classifiers import check_xy
from aurora_xai.regimes.pca import fit_pca, standardise

__all__ = ["LinearSeparability", "linear_separability", "separability_in_pc_space"]


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
    x, y = check_xy(x, y)
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
    x, y = check_xy(x, y)
    if n_pcs < 1:
        raise ValueError(f"n_pcs must be >= 1, got {n_pcs}")
    if n_pcs > min(x.shape):
        raise NotApplicableError(f"{n_pcs} PCs cannot be taken from {x.shape[0]} samples of {x.shape[1]} features")
    scores = fit_pca(x, n_pcs, standardize=True).scores
    return linear_separability(scores, y, standardize=False)
