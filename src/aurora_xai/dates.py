"""The study's date table: target times, their history step, season metadata, shards."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .sections import from_section

__all__ = [
    "DateSpec",
    "season_of_month",
    "date_metadata",
    "shard_dates",
    "SEASONS",
    "utc_timestamp",
    "utc_index",
    "utc_datetime",
]

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


def utc_timestamp(value: Any) -> pd.Timestamp:
    """A time as a timezone-naive ``pd.Timestamp`` that means UTC.

    The library keeps times naive-UTC (as the stores' time axes are): pandas never
    reads a naive time as local time, so the process time zone cannot change them.
    A timezone-aware input (``datetime`` with ``tzinfo``, a string with an offset such
    as ``"2005-03-01T15:00+09:00"``) is converted to UTC first; a naive one is taken
    as UTC.

    Raises:
        ValueError: ``value`` is not a time (``NaT`` included).
    """
    t = pd.Timestamp(value)
    if t is pd.NaT:
        raise ValueError(f"not a time: {value!r}")
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t


def utc_index(values: Iterable[Any]) -> pd.DatetimeIndex:
    """Times as a timezone-naive ``DatetimeIndex`` meaning UTC (see :func:`utc_timestamp`).

    Shape ``(n,)``; the order of ``values`` is kept. Aware inputs (also mixed zones)
    are converted to UTC.
    """
    if isinstance(values, pd.DatetimeIndex):
        return values.tz_convert("UTC").tz_localize(None) if values.tz is not None else values
    return pd.DatetimeIndex([utc_timestamp(v) for v in values])


def utc_datetime(value: Any) -> _dt.datetime:
    """A time as a timezone-aware UTC ``datetime.datetime`` (what ``aurora.Metadata.time`` needs).

    Aurora embeds absolute time with ``datetime.timestamp()``, which reads a naive
    datetime as local time; an aware UTC datetime gives the same number in every time
    zone. Naive inputs are taken as UTC, aware ones converted.
    """
    return utc_timestamp(value).to_pydatetime().replace(tzinfo=_dt.UTC)


@dataclasses.dataclass(frozen=True)
class DateSpec:
    """Which samples to take.

    Args:
        start, end: First and last day (inclusive).
        step_days: Days between samples.
        target_hour: UTC hour of each sample's current time (the study: 6).
        history_hours: Hours between the history step and the current time (the study: 6,
            i.e. history at 00 UTC). The model takes it to be its forecast step; the
            config check (:func:`aurora_xai.config.check_config`) refuses any other value
            unless ``allow_history_mismatch``.
        shard_size: Dates per extraction job.
        allow_history_mismatch: Accept a ``history_hours`` other than the model's step
            (an experiment; warned about and recorded).
    """

    start: str
    end: str
    step_days: int
    target_hour: int
    history_hours: int
    shard_size: int
    allow_history_mismatch: bool

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
        """From the ``dates`` section (every key required; the schema holds the defaults).

        Raises:
            UndeclaredSettingError: a key is missing, naming it.
            ValueError: inconsistent values, naming the key.
        """
        return from_section(cls, "dates", cfg)

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
    """Per-date metadata in UTC: month, day of year, season (each ``(n,)``).

    Aware times are converted to UTC first, naive ones are taken as UTC.
    """
    times = utc_index(times)
    months = np.asarray(times.month)
    return {
        "month": months.astype(np.int64),
        "day_of_year": np.asarray(times.dayofyear, dtype=np.int64),
        "season": np.asarray(season_of_month(months)).astype(str),
    }
