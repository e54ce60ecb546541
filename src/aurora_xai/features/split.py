"""The held-out split of the SAE evaluation: whole ISO weeks.

A date is held out when its ISO week number is a multiple of ``every``
(``features.evaluation.holdout_every``): with ``every = 5`` weeks 5, 10, ..., 50 of
every year, about a fifth of the dates, spread over the seasons. Whole weeks are held
out so that a held-out date's neighbours (whose weather, and so whose tokens, are
correlated with its own) are held out with it; the evaluation's interval resamples
these weeks (:func:`holdout_weeks` gives each date's week label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["holdout_dates", "holdout_weeks", "week_counts"]


def _iso(dates: Sequence[Any] | pd.DatetimeIndex | np.ndarray) -> pd.DataFrame:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).isocalendar()


def holdout_dates(dates: Sequence[Any] | pd.DatetimeIndex | np.ndarray, every: int) -> np.ndarray:
    """Which dates are held out: ISO week number ``% every == 0``.

    Args:
        dates: ``(n,)`` dates (anything :func:`pandas.to_datetime` reads; naive UTC).
        every: Every ``every``-th ISO week is held out (>= 2).

    Returns:
        ``(n,)`` bool, True for a held-out date.

    Raises:
        ValueError: for ``every < 2`` (nothing, or everything, would be held out).
    """
    if int(every) < 2:
        raise ValueError(f"holdout_every must be >= 2, got {every}")
    if len(dates) == 0:
        return np.zeros(0, dtype=bool)
    week = _iso(dates)["week"].to_numpy(dtype=np.int64)
    return week % int(every) == 0


def holdout_weeks(dates: Sequence[Any] | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """``(n,)`` int64 label of each date's ISO week, ``iso_year * 100 + week`` (the
    blocks of the evaluation's bootstrap)."""
    if len(dates) == 0:
        return np.zeros(0, dtype=np.int64)
    iso = _iso(dates)
    return iso["year"].to_numpy(dtype=np.int64) * 100 + iso["week"].to_numpy(dtype=np.int64)


def week_counts(n_weeks: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_weeks)`` float counts of a bootstrap of whole weeks: each row draws
    ``n_weeks`` weeks with replacement (``numpy.random.default_rng(seed)``), so each row
    sums to ``n_weeks``. The resamples of the SAE evaluation's and the planted match's
    intervals."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, max(n_weeks, 1), size=(n_boot, n_weeks))
    counts = np.zeros((n_boot, n_weeks))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_weeks), draws.reshape(-1)), 1.0)
    return counts
