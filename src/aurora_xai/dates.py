"""The study's date table: target times, their history step, season metadata, shards."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DateSpec", "season_of_month", "date_metadata", "shard_dates", "SEASONS"]

SEASONS: tuple[str, ...] = ("DJF", "MAM", "JJA", "SON")
_MONTH_TO_SEASON = {m: SEASONS[(m % 12) // 3] for m in range(1, 13)}


def season_of_month(month: int | Sequence[int] | np.ndarray) -> str | np.ndarray:
    """Meteorological season of a calendar month (1 = January ... 12 = December).

    Args:
        month: A single month or an array-like of months, shape ``(n,)``.

    Returns:
        ``'DJF'``, ``'MAM'``, ``'JJA'`` or ``'SON'`` for a scalar; an ``(n,)`` array of those
        strings for an array-like.
    """
    if np.isscalar(month):
        m = int(month)  # type: ignore[arg-type]
        if m != month or m not in _MONTH_TO_SEASON:
            raise ValueError(f"month must be an integer in 1..12, got {month!r}")
        return _MONTH_TO_SEASON[m]
    arr = np.asarray(month)
    if arr.size and (not np.all(np.mod(arr, 1) == 0) or arr.min() < 1 or arr.max() > 12):
        bad = arr[(np.mod(arr, 1) != 0) | (arr < 1) | (arr > 12)]
        raise ValueError(f"months must be integers in 1..12, got e.g. {bad.flat[0]!r}")
    lookup = np.array([""] + [_MONTH_TO_SEASON[m] for m in range(1, 13)], dtype="<U3")
    return lookup[arr.astype(int)]


@dataclasses.dataclass(frozen=True)
class DateSpec:
    """Which samples to take.

    Args:
        start, end: First and last day (inclusive).
        step_days: Days between samples.
        target_hour: UTC hour of each sample's current time (the study: 6).
        history_hours: Hours between the history step and the current time (the study: 6,
            i.e. history at 00 UTC).
        shard_size: Dates per extraction job.
    """

    start: str = "2005-01-01"
    end: str = "2005-12-31"
    step_days: int = 1
    target_hour: int = 6
    history_hours: int = 6
    shard_size: int = 31

    def __post_init__(self) -> None:
        try:
            s, e = pd.Timestamp(self.start), pd.Timestamp(self.end)
        except ValueError as err:
            raise ValueError(f"dates.start/dates.end: not a date ({err})") from None
        if e < s:
            raise ValueError(f"dates.end ({self.end}) is before dates.start ({self.start})")
        if self.step_days < 1:
            raise ValueError("dates.step_days must be >= 1")
        if not 0 <= self.target_hour <= 23:
            raise ValueError("dates.target_hour must be in 0..23")
        if self.history_hours <= 0:
            raise ValueError("dates.history_hours must be positive")
        if self.shard_size < 1:
            raise ValueError("dates.shard_size must be >= 1")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DateSpec:
        return cls(**{k: (str(v) if k in ("start", "end") else v) for k, v in cfg.items()})

    def times(self) -> pd.DatetimeIndex:
        """Current (target) times of the samples."""
        days = pd.date_range(pd.Timestamp(self.start), pd.Timestamp(self.end), freq=f"{self.step_days}D")
        return days + pd.Timedelta(hours=self.target_hour)

    @property
    def history(self) -> pd.Timedelta:
        return pd.Timedelta(hours=self.history_hours)

    def shards(self) -> dict[str, pd.DatetimeIndex]:
        """Shard id -> its target times, in order."""
        return shard_dates(self.times(), self.shard_size)


def shard_dates(times: pd.DatetimeIndex, size: int) -> dict[str, pd.DatetimeIndex]:
    """Split ``times`` into consecutive shards of ``size``; ids ``s000``, ``s001``, ..."""
    return {f"s{i // size:03d}": times[i : i + size] for i in range(0, len(times), size)}


def date_metadata(times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Per-date metadata: month, day of year, season."""
    months = np.asarray(times.month)
    return {
        "month": months.astype(np.int64),
        "day_of_year": np.asarray(times.dayofyear, dtype=np.int64),
        "season": np.asarray(season_of_month(months)).astype(str),
    }
