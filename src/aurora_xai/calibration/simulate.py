"""Simulated data with the dependence of daily atmospheric samples, for calibration.

Everything here is torch-free (numpy and scipy) and driven by a
``numpy.random.Generator``, so a realisation is reproducible from its seed.

* :func:`ar1` draws stationary AR(1) series (unit marginal variance) along the first axis,
  any number of features or realisations at once.
* :func:`year_days`, :func:`seasons_of` give the 365 daily dates of one (non-leap) year,
  their day numbers, days of year and meteorological seasons.
* :func:`seasonal_labels` picks storm and calm days as the windiest and calmest days of
  a wind index that is a seasonal cycle plus AR(1) noise, independent of any features:
  the labels cluster in runs and by season, as threshold-chosen labels of real data do.
* :func:`episode_days` lays out storm and calm days as a given number of episodes of
  consecutive days, far apart in time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.signal import lfilter

__all__ = [
    "YEAR_START",
    "LabelledDays",
    "ar1",
    "episode_days",
    "seasonal_labels",
    "seasons_of",
    "year_days",
]

#: First date of the simulated year (a non-leap year: 365 days).
YEAR_START = "2021-01-01"


def ar1(rng: np.random.Generator, n: int, shape: tuple[int, ...] = (), phi: float = 0.9) -> np.ndarray:
    """Stationary AR(1) series ``(n, *shape)`` with coefficient ``phi`` and unit marginal variance.

    ``x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t`` with ``x_0 ~ N(0, 1)``: every column is an
    independent series, stationary from its first value.

    Args:
        rng: Random generator.
        n: Length of the series (time is the first axis).
        shape: Trailing shape (features, realisations ...).
        phi: Lag-one autocorrelation in ``[0, 1)``.
    """
    if not 0.0 <= phi < 1.0:
        raise ValueError(f"phi must be in [0, 1), got {phi}")
    e = rng.standard_normal((n, *shape))
    e[1:] *= np.sqrt(1.0 - phi * phi)
    return lfilter([1.0], [1.0, -phi], e, axis=0)


def year_days(n: int = 365) -> pd.DatetimeIndex:
    """``n`` consecutive daily dates from :data:`YEAR_START`."""
    return pd.date_range(YEAR_START, periods=n, freq="D")


def seasons_of(dates: pd.DatetimeIndex) -> np.ndarray:
    """Meteorological season ``(n,)`` (``DJF``, ``MAM``, ``JJA``, ``SON``) of each date."""
    names = np.array(["DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF"])
    return names[dates.month.to_numpy() - 1]


@dataclasses.dataclass(frozen=True)
class LabelledDays:
    """Storm and calm days chosen from a year of daily dates.

    Attributes:
        index: ``(m,)`` positions of the labelled days among the year's days, in time order.
        y: ``(m,)`` 1 storm, 0 calm.
        days: ``(m,)`` integer day numbers (days since 1970-01-01).
        day_of_year: ``(m,)`` day of year (1-based).
        seasons: ``(m,)`` season labels.
        dates: The labelled dates.
    """

    index: np.ndarray
    y: np.ndarray
    days: np.ndarray
    day_of_year: np.ndarray
    seasons: np.ndarray
    dates: pd.DatetimeIndex


def _labelled(index: np.ndarray, y: np.ndarray, dates: pd.DatetimeIndex) -> LabelledDays:
    order = np.argsort(index, kind="stable")
    index, y = index[order], y[order]
    sel = dates[index]
    days = ((sel - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    return LabelledDays(
        index=index,
        y=y.astype(np.int64),
        days=days,
        day_of_year=sel.dayofyear.to_numpy(),
        seasons=seasons_of(sel),
        dates=sel,
    )


def seasonal_labels(
    rng: np.random.Generator,
    n_days: int = 365,
    n_each: int = 30,
    amplitude: float = 1.0,
    phi: float = 0.8,
) -> LabelledDays:
    """The ``n_each`` windiest (storm) and calmest (calm) days of a seasonal wind index.

    The index is ``amplitude * cos(2 pi (doy - 15) / 365.25)`` (windiest in mid-January)
    plus AR(1) noise of coefficient ``phi`` and unit variance; it is drawn independently of
    any features, so the labels carry no signal, but storm days fall in winter runs and
    calm days in summer runs.
    """
    dates = year_days(n_days)
    doy = dates.dayofyear.to_numpy()
    wind = amplitude * np.cos(2 * np.pi * (doy - 15) / 365.25) + ar1(rng, n_days, phi=phi)
    order = np.argsort(wind)
    index = np.concatenate([order[-n_each:], order[:n_each]])
    y = np.concatenate([np.ones(n_each, dtype=np.int64), np.zeros(n_each, dtype=np.int64)])
    return _labelled(index, y, dates)


def episode_days(n_episodes: int, length: int, spacing: int | None = None, n_days: int | None = None) -> LabelledDays:
    """Storm and calm days as ``n_episodes`` runs each of ``length`` consecutive days.

    Storm and calm episodes alternate, ``spacing`` days apart (start to start; default
    ``max(2 length, 365 // (2 n_episodes))``), so that episodes are separate runs.
    """
    spacing = spacing or max(2 * length, 365 // (2 * n_episodes))
    total = 2 * n_episodes * spacing
    dates = year_days(n_days or max(total, 365))
    starts = np.arange(2 * n_episodes) * spacing
    index = (starts[:, None] + np.arange(length)[None, :]).ravel()
    y = np.repeat(np.tile([1, 0], n_episodes), length)
    return _labelled(index, y, dates)
