"""Storm and calm days: the study's labelling rule applied to the store's 10 m wind.

The rule: the daily maximum 10 m wind speed inside a box at one hour (12 UTC) through a
year; storm days at or above one threshold, calm days at or below another, the ``n``
strongest and ``n`` calmest. When fewer days pass a threshold the passing days are kept
and the shortfall is logged and recorded, never hidden by relaxing the threshold. Only
the two 10 m wind components, at that hour, in that box, are read (one vectorised read
per component). The resulting table is written by :mod:`aurora_xai.storms.table`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dates import season_of_month, utc_index
from ..regions import Region
from ..sections import from_section, require
from .table import write_storm_days

__all__ = [
    "LabelSpec",
    "daily_max_wind",
    "label_storm_days",
    "select_storm_calm",
    "storm_days_to_files",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """The storm/calm labelling rule.

    Args:
        region: Box in which the daily maximum wind speed is taken (the study: the US box
            24-50 N, 235-295 E).
        hour: UTC hour of the one field per day (the study: 12).
        start, end: First and last day labelled (the study: 2005; the config may give
            ``year`` instead).
        n_days: Days per label at most (the study: 30).
        storm_threshold: A storm day's maximum wind is at least this (m/s; the published
            script uses 18, its README says 24).
        calm_threshold: A calm day's maximum wind is at most this (m/s; script 12, README 18).
    """

    region: Region
    hour: int
    start: str
    end: str
    n_days: int
    storm_threshold: float
    calm_threshold: float

    def __post_init__(self) -> None:
        if not 0 <= self.hour <= 23:
            raise ValueError(f"labels.hour must be in 0..23, got {self.hour}")
        if pd.Timestamp(self.end) < pd.Timestamp(self.start):
            raise ValueError(f"labels.end ({self.end}) is before labels.start ({self.start})")
        if self.n_days < 1:
            raise ValueError(f"labels.n_days must be >= 1, got {self.n_days}")
        if not self.storm_threshold > self.calm_threshold:
            raise ValueError(
                f"labels.storm_threshold ({self.storm_threshold}) must exceed labels.calm_threshold "
                f"({self.calm_threshold}), or a day could be both"
            )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], regions: Mapping[str, Region] | None = None) -> LabelSpec:
        """From ``labels:``; ``region`` is a name in ``regions`` or a box mapping; an empty
        ``start``/``end`` stands for 1 January / 31 December of ``year``.

        Raises:
            UndeclaredSettingError: a key is missing, naming it.
            ValueError: an unknown region or inconsistent values, naming the key.
        """

        def get(key: str) -> Any:
            return require("labels", cfg, key)

        year = get("year")
        start = get("start") or f"{int(year)}-01-01"
        end = get("end") or f"{int(year)}-12-31"
        reg = get("region")
        if isinstance(reg, Mapping):
            region = Region(
                "labels", float(reg["lat_min"]), float(reg["lat_max"]), float(reg["lon_min"]), float(reg["lon_max"])
            )
        elif regions is not None and reg in regions:
            region = regions[reg]
        else:
            raise ValueError(f"labels.region: unknown region {reg!r}; defined: {sorted(regions or {})}")
        return from_section(cls, "labels", cfg, region=region, start=str(start), end=str(end))

    def times(self) -> pd.DatetimeIndex:
        days = pd.date_range(pd.Timestamp(self.start), pd.Timestamp(self.end), freq="D")
        return days + pd.Timedelta(hours=self.hour)


def daily_max_wind(source, region: Region, times: Sequence[pd.Timestamp]) -> tuple[pd.Series, list[pd.Timestamp]]:
    """Maximum 10 m wind speed inside ``region`` at each of ``times``.

    Reads only ``10u`` and ``10v`` on the box's rows and columns at these times, one
    vectorised read per component (a store chunked one time per chunk still reads each
    time's chunk whole: chunk layout, not the code, sets that floor).

    Args:
        source: An opened :class:`~aurora_xai.data.era5.ERA5Source`.
        region: The box.
        times: One time per day.

    Returns:
        ``(wind, skipped)``: a series in m/s indexed by time (naive UTC), and the times not
        stored or stored as NaN (both components entirely NaN in the box: missing data),
        in order (only with ``source.on_missing == "skip"``; otherwise such a time raises
        :class:`~aurora_xai.data.era5.MissingTimeError` naming it; other NaNs raise
        ``ValueError`` naming variable and time). ``source.missing_reason(t, history=False)``
        says why a time was skipped.
    """
    from ..data.era5 import MissingTimeError

    times = utc_index(times)
    have = source.available("10u", times).intersection(source.available("10v", times))
    skipped = [t for t in times if t not in have]
    if skipped:
        if source.on_missing != "skip":
            raise MissingTimeError(
                f"time {skipped[0]:%Y-%m-%d %H:%M} (10 m wind for the storm/calm labels) is not in "
                f"{source.source} store {source.path}; {len(skipped)} of {len(times)} days missing"
            )
        for t in skipped:
            log.warning("skipping %s: not in the store (data.on_missing = skip)", f"{t:%Y-%m-%d %H:%M}")
    rows = np.flatnonzero(region.lat_mask(source.lat))
    cols = np.flatnonzero(region.lon_mask(source.lon))
    if not rows.size or not cols.size:
        raise ValueError(f"region {region.name!r} holds no grid point of the store")
    have = pd.DatetimeIndex([t for t in times if t in have])
    boxes, kept = source.read_boxes(("10u", "10v"), have, rows, cols, skip_empty=source.on_missing == "skip")
    for t in have.difference(kept):
        log.warning("skipping %s: stored as NaN (data.on_missing = skip)", f"{t:%Y-%m-%d %H:%M}")
    skipped = [t for t in times if t not in kept]
    have = kept
    u, v = boxes["10u"], boxes["10v"]
    speed = np.sqrt(u.astype(np.float64) ** 2 + v.astype(np.float64) ** 2)
    return pd.Series(speed.max(axis=(1, 2)), index=have, name="wind"), skipped


def select_storm_calm(wind: pd.Series, spec: LabelSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Apply the rule to a daily wind series: top ``n`` storm days and ``n`` calm days.

    Storm days: wind >= ``storm_threshold``, strongest first; calm days: wind <=
    ``calm_threshold``, calmest first; ties broken by date. Fewer passing days than
    ``n`` are kept as they are and reported (log warning, ``shortfall`` in the summary).

    Returns:
        ``(table, summary)``: the table has columns ``date, label, rank, wind, season,
        month`` (storm rows first); the summary counts passing and selected days.
    """
    w = wind.dropna()
    frame = pd.DataFrame({"time": w.index, "wind": w.to_numpy(dtype=float)})
    storm = frame[frame["wind"] >= spec.storm_threshold].sort_values(["wind", "time"], ascending=[False, True])
    calm = frame[frame["wind"] <= spec.calm_threshold].sort_values(["wind", "time"], ascending=[True, True])
    parts = []
    summary: dict[str, Any] = {"n_requested": spec.n_days, "n_days_labelled": int(len(frame))}
    for label, cand, thr in (("storm", storm, spec.storm_threshold), ("calm", calm, spec.calm_threshold)):
        chosen = cand.head(spec.n_days).copy()
        chosen["label"] = label
        chosen["rank"] = np.arange(1, len(chosen) + 1)
        parts.append(chosen)
        short = spec.n_days - len(chosen)
        summary[f"n_pass_{label}"] = int(len(cand))
        summary[f"n_{label}"] = int(len(chosen))
        summary[f"shortfall_{label}"] = int(short)
        summary[f"{label}_threshold"] = float(thr)
        if short > 0:
            log.warning(
                "only %d of %d days reach the %s threshold %s %.1f m/s; %d %s days short (threshold kept)",
                len(cand),
                len(frame),
                label,
                ">=" if label == "storm" else "<=",
                thr,
                short,
                label,
            )
    table = pd.concat(parts, ignore_index=True)
    times = pd.DatetimeIndex(table["time"])
    out = pd.DataFrame(
        {
            "date": times.strftime("%Y-%m-%d"),
            "label": table["label"].to_numpy(),
            "rank": table["rank"].to_numpy(dtype=np.int64),
            "wind": table["wind"].to_numpy(dtype=float),
            "season": np.asarray(season_of_month(np.asarray(times.month)), dtype=str) if len(times) else [],
            "month": np.asarray(times.month, dtype=np.int64),
        }
    )
    out.attrs["summary"] = summary
    return out, summary


def label_storm_days(source, spec: LabelSpec) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
    """Label a year's days storm or calm from the store (the study's rule).

    Returns:
        ``(table, daily_wind, summary)``; ``summary`` also records the rule, the store and
        skipped days.
    """
    wind, skipped = daily_max_wind(source, spec.region, spec.times())
    table, summary = select_storm_calm(wind, spec)
    r = spec.region
    summary.update(
        region={"name": r.name, "lat_min": r.lat_min, "lat_max": r.lat_max, "lon_min": r.lon_min, "lon_max": r.lon_max},
        hour=spec.hour,
        start=str(spec.start),
        end=str(spec.end),
        source=getattr(source, "source", ""),
        path=str(getattr(source, "path", "")),
        skipped_dates=[f"{t:%Y-%m-%d}" for t in skipped],
        skipped_reasons={f"{t:%Y-%m-%d}": source.missing_reason(t, history=False) for t in skipped},
        flipped_times=[f"{t:%Y-%m-%dT%H:%M}" for t in getattr(source, "flipped", [])],
        wind_max=float(wind.max()) if len(wind) else math.nan,
        wind_median=float(wind.median()) if len(wind) else math.nan,
    )
    table.attrs["summary"] = summary
    log.info(
        "%d storm days (%d pass >= %.1f m/s), %d calm days (%d pass <= %.1f m/s) of %d days",
        summary["n_storm"],
        summary["n_pass_storm"],
        spec.storm_threshold,
        summary["n_calm"],
        summary["n_pass_calm"],
        spec.calm_threshold,
        summary["n_days_labelled"],
    )
    return table, wind, summary


def storm_days_to_files(
    source: Any, spec: LabelSpec, tsv_path: str | Path, json_path: str | Path, daily_path: str | Path
) -> dict[str, Any]:
    """Label storm and calm days as ``spec`` says and write the outputs (the workflow rule).

    ``source`` is the store the labels read: ``data``, or another store through
    ``labels.source`` and ``labels.path`` (e.g. another store with the label hour's winds;
    a store downloaded with ``download.enabled`` holds them, see
    :mod:`aurora_xai.data.needs`), as :attr:`aurora_xai.settings.Settings.labels_data`
    opens it. Returns the summary.
    """
    table, daily, summary = label_storm_days(source, spec)
    write_storm_days(table, summary, tsv_path, json_path, daily, daily_path)
    return summary
