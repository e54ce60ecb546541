"""The top mask ranked among the random masks: its exceedance p and a rank interval of the ratio.

One case gives one top mask per fraction and ``N`` random masks of the same size. The
bootstrap of :func:`~aurora_xai.perturbation.metrics.bootstrap_ratio` resamples only the
random masks, so its interval says how well the random baseline's mean is known, not
whether the top mask could be one more random mask: under that null it excludes 1 in most
cases. Here the top mask is treated as one more draw.

* :func:`exceedance_p`: the one-sided Monte Carlo rank p-value
  ``(1 + #{random >= top}) / (N + 1)`` (Davison & Hinkley 1997, eq. 4.11). Under the null
  that the top mask's MSE is exchangeable with the random masks' it is exactly uniform on
  ``{1, ..., N + 1} / (N + 1)``; its floor is ``1 / (N + 1)``.
* :func:`rank_interval`: the interval of the ratio ``theta`` in the scale model
  ``top = theta * X`` with ``X`` exchangeable with the random masks' MSEs (the top mask
  varies, across dates or cases, as a random mask of its size does, scaled by ``theta``).
  It inverts the two-sided rank test of ``top / theta`` among the random draws: with
  ``k = floor(alpha (N + 1) / 2)`` and the sorted draws ``r_(1) <= ... <= r_(N)``, the set
  of ``theta`` not rejected is ``[top / r_(N-k+1), top / r_(k)]``, with coverage at least
  ``1 - 2k / (N + 1) >= 1 - alpha`` under the model (exact for continuous draws). For
  ``k = 0`` (fewer than ``2 / alpha - 1`` draws: 39 at 95 %) no ``theta`` is rejected and
  the interval is ``[0, inf)``: one case with that few draws cannot bound the ratio.
* :func:`rank_ratio` and :func:`aopc_rank_ratio`: the ratio ``top / mean(random)`` with
  both, for one fraction, and for the AOPC (each random draw's curve over the fractions
  is one draw: the top curve's AOPC against the draws' AOPCs).

One case is one date: the top mask's own variability across dates is not observed; the
scale model takes it from the random masks. The functions need no torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "RankRatio",
    "aopc_rank_ratio",
    "exceedance_p",
    "min_draws_for_interval",
    "rank_interval",
    "rank_ratio",
]


@dataclasses.dataclass(frozen=True)
class RankRatio:
    """The top mask against ``n_draws`` random masks.

    Attributes:
        ratio: ``top / mean(random)`` (dimensionless; ``inf`` for a zero random mean).
        ci_low, ci_high: :func:`rank_interval` (``0`` and ``inf`` when the draws are too
            few to bound it).
        p_exceed: :func:`exceedance_p`.
        n_draws: Random draws ``N``.
        level: Confidence level of the interval.
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_exceed: float
    n_draws: int
    level: float

    @property
    def bounded(self) -> bool:
        """Whether the interval is finite on both sides (enough draws, no zero draw)."""
        return self.ci_low > 0 and math.isfinite(self.ci_high)


def _draws(random: Sequence[float]) -> np.ndarray:
    r = np.asarray(random, dtype=np.float64)
    if r.ndim != 1 or len(r) == 0:
        raise ValueError("the random masks' values must be a 1-D array of at least one value")
    if not np.all(np.isfinite(r)):
        raise ValueError("the random masks' values must be finite")
    return r


def exceedance_p(top: float, random: Sequence[float]) -> float:
    """One-sided rank p ``(1 + #{random >= top}) / (N + 1)`` of ``top`` among ``random`` ``(N,)``.

    Raises:
        ValueError: for an empty or non-finite ``random``.
    """
    r = _draws(random)
    return float((1 + np.sum(r >= top)) / (len(r) + 1))


def min_draws_for_interval(level: float = 0.95) -> int:
    """The fewest random draws ``N`` for which :func:`rank_interval` is bounded: the
    smallest ``N`` with ``floor((1 - level) (N + 1) / 2) >= 1`` (39 at 95 %)."""
    alpha = 1.0 - float(level)
    if not 0 < alpha < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return max(1, math.ceil(2.0 / alpha - 1.0 - 1e-9))


def rank_interval(top: float, random: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Interval ``(low, high)`` of ``theta`` in ``top = theta * X``, ``X`` exchangeable with ``random``.

    See the module docstring. Values are MSEs (non-negative); a zero draw at a bound
    makes that bound infinite.

    Raises:
        ValueError: for an empty or non-finite ``random``, or ``level`` outside (0, 1).
    """
    r = np.sort(_draws(random))
    n = len(r)
    alpha = 1.0 - float(level)
    if not 0 < alpha < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    k = int(math.floor(alpha * (n + 1) / 2 + 1e-12))
    if k == 0:
        return 0.0, math.inf
    hi_draw, lo_draw = r[n - k], r[k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        low = float(top / hi_draw) if hi_draw > 0 else math.inf
        high = float(top / lo_draw) if lo_draw > 0 else math.inf
    return low, high


def rank_ratio(top: float, random: Sequence[float], level: float = 0.95) -> RankRatio:
    """The ratio ``top / mean(random)`` of one fraction, its rank interval and exceedance p.

    Args:
        top: The top mask's MSE (a scalar).
        random: The random masks' MSEs ``(N,)``.
        level: Confidence level of the interval.
    """
    r = _draws(random)
    mean = float(r.mean())
    ratio = float(top / mean) if mean > 0 else (math.inf if top > 0 else math.nan)
    lo, hi = rank_interval(top, r, level)
    return RankRatio(ratio, lo, hi, exceedance_p(top, r), len(r), float(level))


def aopc_rank_ratio(relevant: Sequence[float], random: Sequence[Sequence[float]], level: float = 0.95) -> RankRatio:
    """The AOPC ratio with the rank interval and p of the top curve among the draws' curves.

    Args:
        relevant: The top masks' MSE per fraction ``(P,)``.
        random: The random draws' MSE per fraction ``(P, N)``; draw ``j`` of every
            fraction makes one curve, whose AOPC (mean over the fractions) is one draw.

    Raises:
        ValueError: when the shapes do not match.
    """
    rel = np.asarray(relevant, dtype=np.float64)
    rnd = np.asarray(random, dtype=np.float64)
    if rnd.ndim != 2 or rel.shape != rnd.shape[:1]:
        raise ValueError(f"aopc_rank_ratio: relevant {rel.shape} and random {rnd.shape} must be (P,) and (P, N)")
    return rank_ratio(float(rel.mean()), rnd.mean(axis=0), level)
