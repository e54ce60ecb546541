"""Principal component analysis of standardised features, by SVD."""

from __future__ import annotations

import dataclasses

import numpy as np

from .applicability import NotApplicableError

__all__ = ["PCAResult", "standardise", "fit_pca"]


@dataclasses.dataclass(frozen=True)
class PCAResult:
    """A fitted PCA.

    Attributes:
        components: ``(k, p)`` unit-norm principal axes, rows ordered by variance. The
            sign of each axis is fixed so that its largest-magnitude loading is positive.
        explained_variance: ``(k,)`` variance of the scores along each axis.
        explained_variance_ratio: ``(k,)`` fraction of the total variance of the
            standardised features.
        scores: ``(n, k)`` projections of the standardised samples.
        mean: ``(p,)`` feature means used for standardising.
        scale: ``(p,)`` feature standard deviations used for standardising (constant
            features get scale 1).
    """

    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    scores: np.ndarray
    mean: np.ndarray
    scale: np.ndarray


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score the columns of ``x`` of shape ``(n, p)``.

    Returns:
        ``(z, mean, scale)`` with ``z = (x - mean) / scale``; columns with zero variance
        get ``scale = 1`` so they stay zero instead of turning into NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (samples, features) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"non-finite feature value at sample {bad[0]}, feature {bad[1]}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (x - mean) / scale, mean, scale


def _fix_signs(components: np.ndarray) -> np.ndarray:
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def fit_pca(x: np.ndarray, n_components: int | None = None, standardize: bool = True) -> PCAResult:
    """Fit PCA to ``x`` of shape ``(n, p)``.

    Args:
        x: Samples by features.
        n_components: How many leading components to keep (default ``min(n, p)``).
        standardize: Z-score the features first (the study's choice); otherwise only
            centre them.

    Returns:
        A :class:`PCAResult` whose ratios are fractions of the total variance of all
        components, not only the kept ones.

    Raises:
        NotApplicableError: for fewer than 2 samples.
        ValueError: for malformed input (not 2-d, non-finite values).
    """
    x = np.asarray(x, dtype=np.float64)
    if standardize:
        z, mean, scale = standardise(x)
    else:
        mean = x.mean(axis=0)
        scale = np.ones(x.shape[1])
        z = x - mean
    n = z.shape[0]
    if n < 2:
        raise NotApplicableError(f"PCA needs at least 2 samples, got {n}")
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    var = s**2 / (n - 1)
    total = var.sum()
    k = min(n_components or len(s), len(s))
    comps = _fix_signs(vt[:k])
    ratio = var[:k] / total if total > 0 else np.zeros(k)
    return PCAResult(
        components=comps,
        explained_variance=var[:k],
        explained_variance_ratio=ratio,
        scores=z @ comps.T,
        mean=mean,
        scale=scale,
    )
