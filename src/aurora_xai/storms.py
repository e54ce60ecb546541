"""Storms: the named-event catalogue, best-track readers, and the storm/calm day labels.

* **Catalogue.** Named events from the config (``storms:``), each a
  :class:`~aurora_xai.data.synthetic.Storm` (kind, track of ``{time, lat, lon, msl, wind}``
  fixes; the synthetic generator plants these) plus a box and an optional case time.
  :data:`DEFAULT_STORMS` holds the study's events (the Great Storm of October 1987,
  hurricanes Katrina, Rita and Wilma of 2005); their tracks are approximate transcriptions
  of the best tracks, good to a few tenths of a degree, for planting and for boxes. For
  exact tracks read the archive files below.
* **Best tracks.** :func:`read_hurdat2` (NHC text format) and :func:`read_ibtracs` (NCEI
  CSV) read files a user supplies into the same track structure (positions in degrees
  east [0, 360), central pressure hPa, maximum sustained wind converted from knots to
  m/s). Every documented quirk of both formats is read; a malformed row raises
  :class:`BestTrackError` naming the file, line, storm id and field, or, with
  ``on_bad_row="skip"``, is skipped with a warning and recorded in the result's
  ``skipped`` (:class:`BadRow`).
* **Labels.** The study's rule: the daily maximum 10 m wind speed inside a box at one
  hour (12 UTC) through a year; storm days at or above one threshold, calm days at or
  below another, the ``n`` strongest and ``n`` calmest. When fewer days pass a threshold
  the passing days are kept and the shortfall is logged and recorded, never hidden by
  relaxing the threshold. Only the two 10 m wind components, at that hour, in that box,
  are read (one vectorised read per component).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .data.synthetic import Storm, StormTrackPoint
from .dates import season_of_month, utc_timestamp
from .regions import Region

if TYPE_CHECKING:  # pragma: no cover
    from .settings import Settings

__all__ = [
    "KNOT",
    "DEFAULT_STORMS",
    "StormEvent",
    "catalogue_from_config",
    "storm_to_config",
    "read_hurdat2",
    "read_ibtracs",
    "BadRow",
    "BestTrackError",
    "BestTracks",
    "ON_BAD_ROW",
    "find_storm",
    "LabelSpec",
    "daily_max_wind",
    "select_storm_calm",
    "label_storm_days",
    "write_storm_days",
    "read_storm_days",
    "STORM_DAYS_SCHEMA",
    "validate_storm_days",
    "storm_days_from_settings",
]

log = logging.getLogger(__name__)

#: One knot in m/s.
KNOT = 1852.0 / 3600.0


# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------


def _fixes(rows: Sequence[tuple[str, float, float, float, float]]) -> list[dict[str, Any]]:
    return [{"time": t, "lat": la, "lon": lo, "msl": p, "wind": w} for t, la, lo, p, w in rows]


def _kt(v: float) -> float:
    return round(v * KNOT, 1)


#: The study's named events as config entries (``storms:`` in config/config.yaml).
DEFAULT_STORMS: dict[str, dict[str, Any]] = {
    "great_storm_1987": {
        "kind": "extratropical",
        "description": "Great Storm of 15-16 October 1987: deepened over the Bay of Biscay, "
        "~953 hPa, crossed southern England 00-06 UTC on the 16th, then the North Sea",
        "case_time": "1987-10-16T06:00",
        "box": {"lat_min": 40, "lat_max": 60, "lon_min": 345, "lon_max": 15},
        "radius_deg": 5.0,
        "track": _fixes(
            [
                ("1987-10-15T00:00", 41.5, -12.0, 985, 18.0),
                ("1987-10-15T06:00", 43.0, -10.0, 975, 21.0),
                ("1987-10-15T12:00", 44.5, -8.0, 966, 26.0),
                ("1987-10-15T18:00", 46.0, -6.0, 958, 30.0),
                ("1987-10-16T00:00", 50.0, -3.0, 953, 35.0),
                ("1987-10-16T06:00", 53.5, 2.0, 959, 33.0),
                ("1987-10-16T12:00", 56.0, 6.0, 965, 28.0),
                ("1987-10-16T18:00", 58.5, 9.0, 972, 22.0),
            ]
        ),
    },
    "katrina_2005": {
        "kind": "tropical",
        "description": "Hurricane Katrina: 902 hPa on 28 Aug in the central Gulf of Mexico; "
        "landfall Louisiana ~11 UTC 29 Aug",
        "case_time": "2005-08-29T06:00",
        "box": {"lat_min": 20, "lat_max": 38, "lon_min": 265, "lon_max": 285},
        "radius_deg": 3.5,
        "track": _fixes(
            [
                ("2005-08-25T00:00", 26.0, -77.7, 1000, _kt(45)),
                ("2005-08-25T12:00", 26.2, -79.0, 994, _kt(55)),
                ("2005-08-26T00:00", 25.9, -80.3, 983, _kt(70)),
                ("2005-08-26T12:00", 25.1, -82.0, 979, _kt(75)),
                ("2005-08-27T00:00", 24.6, -83.3, 959, _kt(90)),
                ("2005-08-27T12:00", 24.4, -84.7, 942, _kt(100)),
                ("2005-08-28T00:00", 24.8, -85.9, 941, _kt(100)),
                ("2005-08-28T06:00", 25.2, -86.7, 930, _kt(125)),
                ("2005-08-28T12:00", 25.7, -87.7, 909, _kt(145)),
                ("2005-08-28T18:00", 26.3, -88.6, 902, _kt(150)),
                ("2005-08-29T00:00", 27.2, -89.2, 905, _kt(140)),
                ("2005-08-29T06:00", 28.2, -89.6, 913, _kt(125)),
                ("2005-08-29T12:00", 29.5, -89.6, 923, _kt(110)),
                ("2005-08-29T18:00", 31.1, -89.6, 948, _kt(80)),
                ("2005-08-30T00:00", 32.6, -89.1, 961, _kt(50)),
                ("2005-08-30T12:00", 35.6, -88.0, 985, _kt(30)),
            ]
        ),
    },
    "rita_2005": {
        "kind": "tropical",
        "description": "Hurricane Rita: 895 hPa on 22 Sep in the central Gulf of Mexico; "
        "landfall near Sabine Pass ~07:30 UTC 24 Sep",
        "case_time": "2005-09-22T06:00",
        "box": {"lat_min": 20, "lat_max": 35, "lon_min": 260, "lon_max": 285},
        "radius_deg": 3.5,
        "track": _fixes(
            [
                ("2005-09-20T12:00", 23.9, -80.3, 982, _kt(80)),
                ("2005-09-21T00:00", 24.2, -82.7, 967, _kt(95)),
                ("2005-09-21T12:00", 24.4, -85.2, 937, _kt(130)),
                ("2005-09-22T00:00", 24.7, -86.9, 897, _kt(155)),
                ("2005-09-22T06:00", 24.8, -87.6, 895, _kt(155)),
                ("2005-09-22T18:00", 25.7, -89.1, 913, _kt(130)),
                ("2005-09-23T06:00", 26.7, -90.7, 924, _kt(115)),
                ("2005-09-23T18:00", 28.0, -92.5, 931, _kt(105)),
                ("2005-09-24T06:00", 29.4, -93.6, 937, _kt(100)),
                ("2005-09-24T18:00", 31.7, -94.2, 974, _kt(45)),
            ]
        ),
    },
    "wilma_2005": {
        "kind": "tropical",
        "description": "Hurricane Wilma: 882 hPa on 19 Oct in the north-western Caribbean; "
        "landfall in Florida ~10:30 UTC 24 Oct",
        "case_time": "2005-10-19T06:00",
        "box": {"lat_min": 12, "lat_max": 32, "lon_min": 270, "lon_max": 295},
        "radius_deg": 3.0,
        "track": _fixes(
            [
                ("2005-10-18T06:00", 16.4, -79.8, 988, _kt(55)),
                ("2005-10-18T18:00", 16.9, -80.8, 954, _kt(110)),
                ("2005-10-19T06:00", 17.2, -82.0, 885, _kt(150)),
                ("2005-10-19T12:00", 17.3, -82.8, 882, _kt(160)),
                ("2005-10-20T00:00", 17.8, -84.3, 910, _kt(140)),
                ("2005-10-21T00:00", 19.0, -86.2, 924, _kt(130)),
                ("2005-10-21T18:00", 20.3, -86.9, 930, _kt(125)),
                ("2005-10-22T12:00", 21.1, -87.1, 950, _kt(85)),
                ("2005-10-23T12:00", 22.6, -85.8, 963, _kt(85)),
                ("2005-10-24T06:00", 25.1, -82.5, 951, _kt(105)),
                ("2005-10-24T18:00", 28.2, -79.0, 955, _kt(95)),
            ]
        ),
    },
}


@dataclasses.dataclass(frozen=True)
class StormEvent:
    """A catalogued storm: its track, a box around it and an optional case time.

    Args:
        storm: Name, kind and track (the synthetic generator plants it).
        box: Region to look at (attribution targets, figures).
        case_time: The sample time the study examines (e.g. 1987-10-16 06 UTC).
        description: One line for captions.
    """

    storm: Storm
    box: Region
    case_time: pd.Timestamp | None = None
    description: str = ""

    @property
    def name(self) -> str:
        return self.storm.name

    @property
    def kind(self) -> str:
        return self.storm.kind

    @property
    def track(self) -> tuple[StormTrackPoint, ...]:
        return self.storm.track

    def lowest(self) -> StormTrackPoint:
        """The fix of lowest central pressure."""
        return min(self.track, key=lambda p: p.msl_hpa)

    def track_frame(self) -> pd.DataFrame:
        """Track as a table: ``time, lat, lon, msl, wind``."""
        return pd.DataFrame(
            {
                "time": [p.time for p in self.track],
                "lat": [p.lat for p in self.track],
                "lon": [p.lon for p in self.track],
                "msl": [p.msl_hpa for p in self.track],
                "wind": [p.wind_ms for p in self.track],
            }
        )


def catalogue_from_config(cfg: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, StormEvent]:
    """Build the catalogue from ``storms:`` (default: :data:`DEFAULT_STORMS`).

    An entry without ``box`` gets the track's extent plus 5 degrees; without
    ``case_time``, none. Errors name the entry.
    """
    cfg = DEFAULT_STORMS if cfg is None else cfg
    out: dict[str, StormEvent] = {}
    for name, entry in cfg.items():
        try:
            storm = Storm.from_config(name, entry)
            if entry.get("box"):
                b = entry["box"]
                box = Region(name, float(b["lat_min"]), float(b["lat_max"]), float(b["lon_min"]), float(b["lon_max"]))
            else:
                box = _track_box(name, storm.track)
            case = entry.get("case_time")
            out[name] = StormEvent(
                storm=storm,
                box=box,
                case_time=utc_timestamp(case) if case else None,
                description=str(entry.get("description", "")),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"storms.{name}: {err}") from None
    return out


def _track_box(name: str, track: Sequence[StormTrackPoint], margin: float = 5.0) -> Region:
    lats = [p.lat for p in track]
    lons = np.array([p.lon for p in track])
    # unwrap around the first fix so a track crossing 0 E gives a small box
    rel = (lons - lons[0] + 180) % 360 - 180
    lo, hi = lons[0] + rel.min() - margin, lons[0] + rel.max() + margin
    return Region(
        name,
        max(-90.0, min(lats) - margin),
        min(90.0, max(lats) + margin),
        lo % 360 if hi - lo < 360 else 0.0,
        hi % 360 if hi - lo < 360 else 360.0,
    )


def storm_to_config(
    storm: Storm, box: Region | None = None, case_time: Any = None, description: str = ""
) -> dict[str, Any]:
    """A catalogue entry (as in ``storms:``) for a storm read from a best-track file.

    Every value is a plain Python ``str``, ``float`` or ``list``/``dict`` of them, so the
    entry can be written with ``yaml.safe_dump`` (or JSON) into the config's ``storms:``
    section and read back by :func:`catalogue_from_config`. Positions are rounded to
    0.01 degree, pressure to 0.1 hPa, wind to 0.01 m/s; times are written to the minute
    (``YYYY-MM-DDTHH:MM``, UTC).

    Args:
        storm: The storm (e.g. from :func:`read_hurdat2` or :func:`read_ibtracs`).
        box: The entry's box; default the track's extent plus 5 degrees.
        case_time: The sample time the study examines (anything ``pd.Timestamp`` reads).
        description: One line for captions.
    """
    entry: dict[str, Any] = {
        "kind": str(storm.kind),
        "radius_deg": float(storm.radius_deg),
        "track": [
            {
                "time": f"{pd.Timestamp(p.time):%Y-%m-%dT%H:%M}",
                "lat": round(float(p.lat), 2),
                "lon": round(float(p.lon), 2),
                "msl": round(float(p.msl_hpa), 1),
                "wind": round(float(p.wind_ms), 2),
            }
            for p in storm.track
        ],
    }
    box = box or _track_box(storm.name, storm.track)
    entry["box"] = {k: float(getattr(box, k)) for k in ("lat_min", "lat_max", "lon_min", "lon_max")}
    if case_time is not None:
        entry["case_time"] = f"{pd.Timestamp(case_time):%Y-%m-%dT%H:%M}"
    if description:
        entry["description"] = str(description)
    return entry


# --------------------------------------------------------------------------------------
# Best-track readers
# --------------------------------------------------------------------------------------

#: HURDAT2 / IBTrACS status codes of a tropical or subtropical system.
_TROPICAL_STATUS = {"HU", "TS", "TD", "SS", "SD", "TY", "ST"}

#: What a reader does with a malformed row: raise :class:`BestTrackError` or skip it.
ON_BAD_ROW = ("raise", "skip")

#: Bad rows logged one by one before the rest are only counted.
_LOG_BAD_ROWS = 20


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A malformed row of a best-track file.

    Attributes:
        path: The file.
        line: Line number in the file (1-based).
        storm: Storm id of the row (HURDAT2 ATCF id, IBTrACS SID); ``""`` when unknown.
        field: The field at fault (HURDAT2: ``date``, ``time``, ``record_identifier``,
            ``status``, ``latitude``, ``longitude``, ``max_wind``, ``min_pressure``,
            ``wind_radii``, ``radius_max_wind``, ``storm_id``, ``name``, ``count``;
            IBTrACS: the column name), or ``row`` for the row as a whole.
        value: The text read.
        reason: What is wrong with it.
    """

    path: str
    line: int
    storm: str
    field: str
    value: str
    reason: str

    def message(self) -> str:
        storm = self.storm or "(unknown)"
        return f"{self.path}, line {self.line}, storm {storm}, field {self.field}: {self.reason} (read {self.value!r})"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class BestTrackError(ValueError):
    """A malformed best-track row; the message names file, line, storm id and field."""

    def __init__(self, bad: BadRow) -> None:
        super().__init__(bad.message())
        self.bad_row = bad


class BestTracks(dict[str, Storm]):
    """``{storm id: Storm}`` read from a best-track file, with the rows skipped.

    Attributes:
        path: The file read.
        skipped: The malformed rows skipped (``on_bad_row="skip"``), in file order;
            empty otherwise.
    """

    def __init__(self, path: str | Path, storms: Mapping[str, Storm] = (), skipped: Sequence[BadRow] = ()) -> None:
        super().__init__(storms)
        self.path = str(path)
        self.skipped: list[BadRow] = list(skipped)

    def skipped_frame(self) -> pd.DataFrame:
        """The skipped rows as a table ``path, line, storm, field, value, reason`` (one row each)."""
        cols = [f.name for f in dataclasses.fields(BadRow)]
        return pd.DataFrame([b.as_dict() for b in self.skipped], columns=cols)


class _BadField(Exception):
    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


class _BadRows:
    """Raises on the first bad row, or records and logs each (``on_bad_row="skip"``)."""

    def __init__(self, path: str | Path, on_bad_row: str) -> None:
        if on_bad_row not in ON_BAD_ROW:
            raise ValueError(f"on_bad_row must be one of {ON_BAD_ROW}, got {on_bad_row!r}")
        self.path = str(path)
        self.skip = on_bad_row == "skip"
        self.rows: list[BadRow] = []

    def add(self, line: int, storm: str, field: str, value: str, reason: str) -> None:
        bad = BadRow(self.path, line, storm, field, value, reason)
        if not self.skip:
            raise BestTrackError(bad)
        self.rows.append(bad)
        if len(self.rows) <= _LOG_BAD_ROWS:
            log.warning("skipping a malformed row (on_bad_row = skip): %s", bad.message())

    def result(self, storms: Mapping[str, Storm]) -> BestTracks:
        if len(self.rows) > _LOG_BAD_ROWS:
            log.warning("%s: %d malformed rows skipped in all", self.path, len(self.rows))
        return BestTracks(self.path, storms, self.rows)


def _number(field: str, text: str, lo: float, hi: float, what: str, missing: Sequence[float] = ()) -> float:
    """``text`` as a number in ``[lo, hi]``; a value in ``missing`` (e.g. -999) gives NaN."""
    try:
        value = float(text)
    except ValueError:
        raise _BadField(field, text, f"not a number ({what})") from None
    if value in missing:
        return math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise _BadField(field, text, f"outside {lo:g}..{hi:g} ({what})")
    return value


def _fill(values: np.ndarray, hours: np.ndarray, what: str, storm: str) -> np.ndarray:
    """Fill missing values by linear interpolation in time (``hours``; nearest at the ends)."""
    ok = np.isfinite(values)
    if ok.all():
        return values
    if not ok.any():
        raise ValueError(f"storm {storm}: no {what} value at any fix")
    log.info("storm %s: %d missing %s values interpolated in time", storm, int((~ok).sum()), what)
    return np.interp(hours, hours[ok], values[ok])


def _make_storm(
    sid: str,
    name: str,
    fixes: Sequence[tuple[pd.Timestamp, str, float, float, float, float]],
    hours: Sequence[int] | None,
    tropical_only: bool,
    path: str,
) -> Storm | None:
    """A storm from its parsed fixes ``(time, status, lat, lon, wind kt, pressure hPa)``.

    Fixes are sorted in time; a second fix at an already listed time is dropped with a
    warning; missing pressure and wind are interpolated in time. ``None`` when fewer
    than two fixes remain after the selection.
    """
    stamps = [f[0] for f in fixes]
    times = np.array([t.to_datetime64() for t in stamps], dtype="datetime64[ns]")
    status = np.array([f[1] for f in fixes], dtype=object)
    values = np.array([f[2:] for f in fixes], dtype=float).reshape(len(fixes), 4)  # lat, lon, wind, pressure
    _, keep = np.unique(times, return_index=True)  # first of each time, in time order
    if len(keep) < len(times):
        dup = np.setdiff1d(np.arange(len(times)), keep)
        log.warning(
            "%s: storm %s has %d fixes at an already listed time (first kept): %s",
            path,
            sid,
            len(dup),
            [f"{pd.Timestamp(t):%Y-%m-%d %H:%M}" for t in times[dup[:5]]],
        )
    sel = np.ones(len(keep), dtype=bool)
    t = times[keep]
    if hours is not None:
        on_hour = t == t.astype("datetime64[h]")
        hour = (t.astype("datetime64[h]") - t.astype("datetime64[D]")).astype(int)
        sel &= on_hour & np.isin(hour, list(hours))
    if tropical_only:
        sel &= np.isin(status[keep], list(_TROPICAL_STATUS))
    keep = keep[sel]
    if len(keep) < 2:
        log.info("%s: storm %s (%s) has %d fixes after selection; not returned", path, sid, name, len(keep))
        return None
    t = times[keep]
    lat, lon, wind, msl = values[keep].T
    elapsed = (t - t[0]) / np.timedelta64(1, "h")
    label = f"{sid} ({name})"
    msl = _fill(msl, elapsed, "pressure", label)
    wind = _fill(wind, elapsed, "wind", label)
    kind = "tropical" if np.isin(status[keep], list(_TROPICAL_STATUS)).any() else "extratropical"
    track = tuple(
        StormTrackPoint(time=stamps[i], lat=float(la), lon=float(lo) % 360, msl_hpa=float(p), wind_ms=float(w) * KNOT)
        for i, la, lo, p, w in zip(keep, lat, lon, msl, wind)
    )
    return Storm(name=name, kind=kind, track=track, radius_deg=3.5 if kind == "tropical" else 5.0)


# HURDAT2 (https://www.nhc.noaa.gov/data/hurdat/hurdat2-format-atl-1851-2021.pdf) -----------

_HURDAT_ID = re.compile(r"^[A-Z]{2}\d{6}$")
_HURDAT_DATE = re.compile(r"^\d{8}$")
_HURDAT_TIME = re.compile(r"^\d{1,4}$")
_HURDAT_COORD = re.compile(r"^(\d{1,3}(?:\.\d+)?)\s*([NSEW])$")
#: Record identifiers: closest approach, genesis, intensity peak, landfall, minimum
#: pressure, rapid changes, status change, track detail, maximum wind.
_HURDAT_RECORD_IDS = {"", "C", "G", "I", "L", "P", "R", "S", "T", "W"}
_HURDAT_STATUS = {"TD", "TS", "HU", "EX", "SD", "SS", "LO", "WV", "DB"}
#: Wind radii (34, 50, 64 kt; NE, SE, SW, NW quadrants), nautical miles.
_HURDAT_RADII = [f"wind_radii_{kt}kt_{q}" for kt in (34, 50, 64) for q in ("ne", "se", "sw", "nw")]
_HURDAT_MISSING = (-99.0, -999.0)


def _hurdat_coord(field: str, text: str) -> float:
    m = _HURDAT_COORD.match(text)
    want = "NS" if field == "latitude" else "EW"
    if not m or m.group(2) not in want:
        raise _BadField(field, text, f"expected degrees and a hemisphere letter {' or '.join(want)}, e.g. 28.2N, 89.6W")
    value = float(m.group(1))
    limit = 90.0 if field == "latitude" else 180.0
    if value > limit:
        raise _BadField(field, text, f"more than {limit:g} degrees")
    return -value if m.group(2) in "SW" else value


def _hurdat_row(fields: list[str]) -> tuple[pd.Timestamp, str, float, float, float, float]:
    """One data row: ``(time, status, lat, lon, wind kt, pressure hPa)``; raises :class:`_BadField`."""
    if fields and fields[-1] == "":
        fields = fields[:-1]  # older files end each row with a comma
    if len(fields) not in (20, 21):
        raise _BadField(
            "row", ",".join(fields), f"{len(fields)} fields; a data row has 20 (21 with the radius of maximum wind)"
        )
    date, hhmm, record, status, lat, lon, wind, pres = fields[:8]
    if not _HURDAT_DATE.match(date):
        raise _BadField("date", date, "expected YYYYMMDD")
    if not _HURDAT_TIME.match(hhmm):
        raise _BadField("time", hhmm, "expected HHMM (UTC)")
    hh, mm = divmod(int(hhmm), 100)
    if hh > 23 or mm > 59:
        raise _BadField("time", hhmm, "expected HHMM (UTC) with hours 00..23 and minutes 00..59")
    try:
        time = pd.Timestamp(year=int(date[:4]), month=int(date[4:6]), day=int(date[6:]), hour=hh, minute=mm)
    except ValueError:
        raise _BadField("date", date, "not a calendar date") from None
    if record not in _HURDAT_RECORD_IDS:
        raise _BadField("record_identifier", record, f"expected blank or one of {sorted(_HURDAT_RECORD_IDS - {''})}")
    if status not in _HURDAT_STATUS:
        raise _BadField("status", status, f"expected one of {sorted(_HURDAT_STATUS)}")
    la = _hurdat_coord("latitude", lat)
    lo = _hurdat_coord("longitude", lon)
    w = _number("max_wind", wind, 0, 300, "knots, -99 or -999 if missing", _HURDAT_MISSING)
    p = _number("min_pressure", pres, 800, 1100, "hPa, -999 if missing", _HURDAT_MISSING)
    for name, text in zip([*_HURDAT_RADII, "radius_max_wind"], fields[8:]):
        _number(name, text, 0, 2000, "nautical miles, -999 if missing", _HURDAT_MISSING)
    return time, status, la, lo, w, p


def read_hurdat2(
    path: str | Path,
    ids: Sequence[str] | None = None,
    hours: Sequence[int] | None = None,
    tropical_only: bool = False,
    on_bad_row: str = "raise",
) -> BestTracks:
    """Read storms from a HURDAT2 file (NHC best-track text format).

    A header line ``AL122005,            KATRINA,     34,`` (basin, number, year; name;
    number of data rows) is followed by its data rows ``20050828, 1800,  , HU, 26.3N,
    88.6W, 150,  902, ...``: date, time (HHMM UTC; off-synoptic times such as ``1130``
    mark landfalls and other special records), record identifier (blank or ``C G I L P
    R S T W``; ``L`` = landfall), status (``TD TS HU EX SD SS LO WV DB``), latitude,
    longitude (``28.2N``, ``89.6W``), maximum sustained wind (knots), minimum pressure
    (hPa), twelve wind radii and, in newer files, the radius of maximum wind (nautical
    miles; ignored); ``-999`` (``-99`` for the wind) marks a missing value. Rows may end
    with a comma (older files). The rows of a storm are those up to the next header: a
    header count that disagrees with them is logged, not trusted. Blank lines are
    ignored.

    Args:
        path: The file.
        ids: Only these ATCF ids (``AL122005``); default all. Data rows of other storms
            are not checked.
        hours: Keep only fixes at these UTC hours (e.g. ``(0, 6, 12, 18)`` to drop the
            special landfall records); default all.
        tropical_only: Drop fixes whose status is not tropical or subtropical
            (``EX``, ``LO``, ``WV``, ``DB``).
        on_bad_row: ``"raise"`` (default): a malformed row raises
            :class:`BestTrackError` naming the file, the line, the storm id and the
            field. ``"skip"``: the row is skipped with a warning and recorded in the
            result's ``skipped``. A header with a malformed id or number of fields is
            skipped with all its data rows; one with an unreadable count is recorded
            and its rows are read.

    Returns:
        :class:`BestTracks` ``{atcf id: Storm}`` (storm names in upper case as in the
        file, wind in m/s, missing pressure and wind interpolated in time); storms with
        fewer than two fixes after the selection are left out.

    Raises:
        BestTrackError: a malformed row (``on_bad_row="raise"``).
        ValueError: a bad ``on_bad_row``; a storm without any pressure or wind value.
    """
    bad = _BadRows(path, on_bad_row)
    wanted = {i.upper() for i in ids} if ids else None
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a HURDAT2 text file ({err})") from None
    storms: dict[str, Storm] = {}
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is None or current.get("skip"):
            return
        n, count = len(current["rows"]), current["count"]
        if count is not None and n != count:
            log.warning(
                "%s: storm %s (header at line %d) announces %d data rows, %d follow; all %d read",
                path,
                current["sid"],
                current["line"],
                count,
                n,
                n,
            )
        if wanted is not None and current["sid"] not in wanted:
            return
        good = [r for r in current["rows"] if r is not None]
        if not good:
            return
        storm = _make_storm(current["sid"], current["name"], good, hours, tropical_only, str(path))
        if storm is not None:
            storms[current["sid"]] = storm

    for k, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [x.strip() for x in line.split(",")]
        first = fields[0]
        is_id = bool(_HURDAT_ID.match(first))
        if is_id or (not _HURDAT_DATE.match(first) and len(fields) in (3, 4)):
            close()
            current = {"sid": first if is_id else "", "name": "", "count": None, "line": k, "rows": []}
            if not is_id:
                bad.add(k, "", "storm_id", first, "expected a header 'ALnnYYYY, NAME, N,' (basin, number, year)")
                current["skip"] = True  # its rows cannot be told from another storm's
            elif len(fields) not in (3, 4) or (len(fields) == 4 and fields[3]):
                bad.add(k, first, "row", line.strip(), "a header has 3 fields: id, name, number of data rows")
                current["skip"] = True
            else:
                current["name"] = fields[1].upper()
                if fields[2].isdigit():
                    current["count"] = int(fields[2])
                else:  # the count is not needed: the rows up to the next header are read
                    bad.add(k, first, "count", fields[2], "not a whole number of data rows; count ignored")
            continue
        if current is None:
            bad.add(k, "", "row", line.strip(), "a data row before any header line")
            continue
        if current.get("skip"):
            bad.add(
                k, current["sid"], "row", line.strip(), f"belongs to the malformed header at line {current['line']}"
            )
            continue
        if wanted is not None and current["sid"] not in wanted:
            current["rows"].append(None)  # counted, not checked
            continue
        try:
            current["rows"].append(_hurdat_row(fields))
        except _BadField as e:
            current["rows"].append(None)
            bad.add(k, current["sid"], e.field, e.value, e.reason)
    close()
    return bad.result(storms)


# IBTrACS (https://www.ncei.noaa.gov/products/international-best-track-archive) -------------

_IBTRACS_NEED = ("SID", "SEASON", "NAME", "ISO_TIME", "LAT", "LON")
_IBTRACS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")
#: IBTrACS ``NATURE`` codes and the HURDAT2-like status they stand for here.
_IBTRACS_NATURE = {"TS": "TS", "SS": "SS", "ET": "EX", "DS": "LO", "NR": "NR", "MX": "MX"}


def _ibtracs_row(
    cells: Mapping[str, str], agencies: Sequence[tuple[str, str | None, str | None]]
) -> tuple[pd.Timestamp, str, float, float, float, float]:
    """One data row: ``(time, status, lat, lon, wind kt, pressure hPa)``; raises :class:`_BadField`."""
    iso = cells["ISO_TIME"]
    if not _IBTRACS_TIME.match(iso):
        raise _BadField("ISO_TIME", iso, "expected YYYY-MM-DD HH:MM:SS (UTC)")
    try:
        time = pd.Timestamp(iso)
    except ValueError:
        raise _BadField("ISO_TIME", iso, "not a valid date and time") from None
    nature = cells.get("NATURE", "") or "NR"
    if nature not in _IBTRACS_NATURE:
        raise _BadField("NATURE", nature, f"expected one of {sorted(_IBTRACS_NATURE)}")
    for col in ("LAT", "LON"):
        if not cells[col]:
            raise _BadField(col, cells[col], "position missing")
    lat = _number("LAT", cells["LAT"], -90, 90, "degrees north")
    lon = _number("LON", cells["LON"], -180, 360, "degrees east, -180..180 or 0..360")
    wind = pres = math.nan
    for wcol, pcol in ((w, p) for _, w, p in agencies):
        if wcol and cells[wcol] and not math.isfinite(wind):
            wind = _number(wcol, cells[wcol], 0, 300, "knots")
        if pcol and cells[pcol] and not math.isfinite(pres):
            pres = _number(pcol, cells[pcol], 800, 1100, "hPa")
    return time, _IBTRACS_NATURE[nature], lat, lon, wind, pres


def read_ibtracs(
    path: str | Path,
    sids: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    seasons: Sequence[int] | None = None,
    hours: Sequence[int] | None = None,
    tropical_only: bool = False,
    agencies: Sequence[str] = ("USA", "WMO"),
    on_bad_row: str = "raise",
) -> BestTracks:
    """Read storms from an IBTrACS CSV file (NCEI).

    Uses ``SID, SEASON, NAME, ISO_TIME, NATURE, LAT, LON`` and the wind (knots) and
    pressure (hPa) of the agencies in ``agencies``, the first non-blank per row (IBTrACS
    holds one ``<AGENCY>_WIND`` / ``<AGENCY>_PRES`` pair per agency, e.g. ``USA``
    (1-minute winds), ``WMO`` (the responsible agency's, usually 10-minute winds),
    ``TOKYO``, ``CMA``, ``BOM``...). The second header row of units is recognised and
    skipped (also when absent), cells holding a single space are blank, longitudes may
    be in -180..180 or 0..360 (also mixed within one track; returned in [0, 360)).
    IBTrACS interleaves 3-hourly interpolated positions; pass ``hours=(0, 6, 12, 18)``
    for the synoptic fixes only. Rows of storms not selected by ``sids``, ``names`` or
    ``seasons`` are checked only for their number of fields.

    Args:
        path: The file.
        sids, names, seasons: Only these storm ids, names (case-insensitive) and seasons.
        hours: Keep only fixes at these UTC hours.
        tropical_only: Drop fixes whose ``NATURE`` is not ``TS`` or ``SS``.
        agencies: Wind and pressure sources in order of preference (column prefixes).
        on_bad_row: ``"raise"`` (default): a malformed row raises
            :class:`BestTrackError` naming the file, the line, the storm id and the
            column. ``"skip"``: the row is skipped with a warning and recorded in the
            result's ``skipped``.

    Returns:
        :class:`BestTracks` ``{SID: Storm}``, wind in m/s.

    Raises:
        BestTrackError: a malformed row (``on_bad_row="raise"``).
        ValueError: not an IBTrACS CSV (required columns missing, naming them), none of
            ``agencies`` in the file, a bad ``on_bad_row``.
    """
    bad = _BadRows(path, on_bad_row)
    want_sids = {s.strip() for s in sids} if sids else None
    want_names = {n.strip().upper() for n in names} if names else None
    want_seasons = {int(s) for s in seasons} if seasons else None
    rows: dict[str, list[Any]] = {}
    storm_names: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [c.strip() for c in next(reader, [])]
            missing = [c for c in _IBTRACS_NEED if c not in header]
            if missing:
                raise ValueError(f"{path}: not an IBTrACS CSV, missing columns {missing}")
            col = {c: i for i, c in enumerate(header)}
            pairs = [
                (a, f"{a}_WIND" if f"{a}_WIND" in col else None, f"{a}_PRES" if f"{a}_PRES" in col else None)
                for a in (s.upper() for s in agencies)
            ]
            if not any(w or p for _, w, p in pairs):
                found = sorted({c.rsplit("_", 1)[0] for c in header if c.endswith(("_WIND", "_PRES"))})
                raise ValueError(
                    f"{path}: none of the agencies {list(agencies)} has wind or pressure columns; found {found}"
                )
            used = [c for c in (*_IBTRACS_NEED, "NATURE") if c in col] + [c for _, w, p in pairs for c in (w, p) if c]
            i_sid, i_name, i_lat, i_season = col["SID"], col["NAME"], col["LAT"], col["SEASON"]
            ncols = len(header)
            first = True
            for row in reader:
                k = reader.line_num
                if len(row) != ncols:
                    if not any(c.strip() for c in row):
                        continue  # a blank line
                    sid = row[i_sid].strip() if i_sid < len(row) else ""
                    bad.add(k, sid, "row", ",".join(row), f"{len(row)} fields; the header has {ncols}")
                    continue
                if first:
                    first = False
                    if row[i_lat].strip() == "degrees_north" or row[i_season].strip() == "Year":
                        continue  # the row of units
                sid = row[i_sid].strip()
                if want_sids is not None and sid not in want_sids:
                    continue
                if want_names is not None and row[i_name].strip().upper() not in want_names:
                    continue
                if not sid:
                    if any(c.strip() for c in row):
                        bad.add(k, "", "SID", row[i_sid], "storm id missing")
                    continue
                cells = {c: row[col[c]].strip() for c in used}
                try:
                    if not cells["SEASON"].isdigit():
                        raise _BadField("SEASON", cells["SEASON"], "not a year")
                    if want_seasons is not None and int(cells["SEASON"]) not in want_seasons:
                        continue
                    rows.setdefault(sid, []).append(_ibtracs_row(cells, pairs))
                    storm_names.setdefault(sid, cells["NAME"].upper())
                except _BadField as e:
                    bad.add(k, sid, e.field, e.value, e.reason)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not an IBTrACS CSV text file ({err})") from None
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    out: dict[str, Storm] = {}
    for sid, fixes in rows.items():
        storm = _make_storm(sid, storm_names[sid], fixes, hours, tropical_only, str(path))
        if storm is not None:
            out[sid] = storm
    return bad.result(out)


def find_storm(storms: Mapping[str, Storm], name: str, year: int | None = None) -> Storm:
    """The one storm called ``name`` (case-insensitive) starting in ``year``."""
    hits = [
        s for s in storms.values() if s.name.upper() == name.upper() and (year is None or s.track[0].time.year == year)
    ]
    if len(hits) != 1:
        found = sorted({f"{s.name} {s.track[0].time.year}" for s in storms.values()})
        raise KeyError(f"{len(hits)} storms named {name!r}{f' in {year}' if year else ''}; the file has {found[:20]}")
    return hits[0]


# --------------------------------------------------------------------------------------
# Storm / calm day labels
# --------------------------------------------------------------------------------------

US_BOX = Region("us", 24.0, 50.0, 235.0, 295.0)


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

    region: Region = US_BOX
    hour: int = 12
    start: str = "2005-01-01"
    end: str = "2005-12-31"
    n_days: int = 30
    storm_threshold: float = 18.0
    calm_threshold: float = 12.0

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
        from .settings import require

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
        elif reg == "us":
            region = US_BOX
        else:
            raise ValueError(f"labels.region: unknown region {reg!r}; defined: {sorted(regions or {})}")
        return cls(
            region=region,
            hour=int(get("hour")),
            start=str(start),
            end=str(end),
            n_days=int(get("n_days")),
            storm_threshold=float(get("storm_threshold")),
            calm_threshold=float(get("calm_threshold")),
        )

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
    from .data.era5 import MissingTimeError
    from .dates import utc_index

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


def write_storm_days(
    table: pd.DataFrame,
    summary: Mapping[str, Any],
    tsv_path: str | Path,
    json_path: str | Path | None = None,
    daily: pd.Series | None = None,
    daily_path: str | Path | None = None,
) -> None:
    """Write the date table (TSV), the summary (JSON) and optionally the daily winds (TSV)."""
    validate_storm_days(table, summary)
    Path(tsv_path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(tsv_path, sep="\t", index=False, float_format="%.4f")
    if json_path is not None:
        Path(json_path).write_text(json.dumps(dict(summary), indent=2, sort_keys=True) + "\n")
    if daily is not None and daily_path is not None:
        pd.DataFrame(
            {"date": pd.DatetimeIndex(daily.index).strftime("%Y-%m-%d"), "wind": daily.to_numpy(dtype=float)}
        ).to_csv(daily_path, sep="\t", index=False, float_format="%.4f")


def read_storm_days(path: str | Path) -> pd.DataFrame:
    """Read a date table written by :func:`write_storm_days` and validate it."""
    table = pd.read_csv(path, sep="\t", dtype={"date": str, "label": str, "season": str})
    validate_storm_days(table)
    return table


#: JSON schema of one row of the storm/calm date table (copied in
#: workflow/schemas/storm_days.schema.yaml), plus ``x-unique``: columns unique over rows.
STORM_DAYS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "description": "One row of the storm/calm date table (results/labels/storm_days.tsv).",
    "type": "object",
    "required": ["date", "label", "rank", "wind", "season", "month"],
    "properties": {
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "Day (UTC), YYYY-MM-DD."},
        "label": {"type": "string", "enum": ["storm", "calm"], "description": "The day's regime."},
        "rank": {"type": "integer", "minimum": 1, "description": "1 = strongest storm day / calmest calm day."},
        "wind": {"type": "number", "minimum": 0, "description": "Daily maximum 10 m wind speed in the box, m/s."},
        "season": {"type": "string", "enum": ["DJF", "MAM", "JJA", "SON"], "description": "Meteorological season."},
        "month": {"type": "integer", "minimum": 1, "maximum": 12, "description": "Calendar month."},
    },
    "x-unique": ["date"],
}


def _check_value(value: Any, rule: Mapping[str, Any]) -> str | None:
    kind = rule.get("type")
    if kind == "string" and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    if kind == "integer" and not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            return f"expected an integer, got {value!r}"
    if kind == "number" and not (isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)):
        return f"expected a finite number, got {value!r}"
    if "enum" in rule and value not in rule["enum"]:
        return f"{value!r} not one of {rule['enum']}"
    if "minimum" in rule and value < rule["minimum"]:
        return f"{value!r} below the minimum {rule['minimum']}"
    if "maximum" in rule and value > rule["maximum"]:
        return f"{value!r} above the maximum {rule['maximum']}"
    if "pattern" in rule and not re.search(rule["pattern"], value):
        return f"{value!r} does not match {rule['pattern']}"
    return None


def validate_storm_days(
    table: pd.DataFrame, summary: Mapping[str, Any] | None = None, schema: Mapping[str, Any] | str | Path | None = None
) -> None:
    """Check the date table against the schema and the labelling rule; ``ValueError`` lists problems.

    Per row: required columns, types, enums, ranges, date pattern (the schema); over the
    table: unique dates, ranks 1..k per label, storm winds not below calm winds, and, with
    the ``summary``, winds on the right side of the thresholds and at most ``n_requested``
    days per label.
    """
    if schema is None:
        schema = STORM_DAYS_SCHEMA
    elif not isinstance(schema, Mapping):
        import yaml

        schema = yaml.safe_load(Path(schema).read_text())
    problems: list[str] = []
    missing = [c for c in schema.get("required", []) if c not in table.columns]
    if missing:
        raise ValueError(f"storm/calm table: missing columns {missing}")
    props = schema.get("properties", {})
    for i, row in enumerate(table.to_dict("records")):
        for col, rule in props.items():
            if col in row:
                msg = _check_value(row[col], rule)
                if msg:
                    problems.append(f"row {i + 1}, {col}: {msg}")
    for col in schema.get("x-unique", []):
        dup = table[col][table[col].duplicated()]
        if len(dup):
            problems.append(f"{col} repeated: {sorted(set(dup))[:5]}")
    for label, grp in table.groupby("label"):
        if list(grp["rank"]) != list(range(1, len(grp) + 1)):
            problems.append(f"{label} ranks are not 1..{len(grp)} in order")
    storm_w = table.loc[table["label"] == "storm", "wind"]
    calm_w = table.loc[table["label"] == "calm", "wind"]
    if len(storm_w) and len(calm_w) and storm_w.min() <= calm_w.max():
        problems.append("a storm day is no windier than a calm day")
    if summary is not None:
        if len(storm_w) and storm_w.min() < summary["storm_threshold"]:
            problems.append(f"storm day below the storm threshold {summary['storm_threshold']}")
        if len(calm_w) and calm_w.max() > summary["calm_threshold"]:
            problems.append(f"calm day above the calm threshold {summary['calm_threshold']}")
        for label, w in (("storm", storm_w), ("calm", calm_w)):
            if len(w) > summary["n_requested"]:
                problems.append(f"{len(w)} {label} days, more than the {summary['n_requested']} requested")
    if problems:
        raise ValueError("storm/calm table invalid: " + "; ".join(problems[:20]))


def storm_days_from_settings(
    settings: Settings,
    tsv_path: str | Path,
    json_path: str | Path,
    daily_path: str | Path | None = None,
) -> dict[str, Any]:
    """Label storm and calm days as the settings say and write the outputs (the workflow rule).

    Reads ``labels`` (the rule), ``regions`` (named boxes) and ``data`` (the store); the
    labels may read another store than the samples through ``labels.source`` and
    ``labels.path`` (e.g. the remote store when ``data.path`` is a downloaded subset
    without the 12 UTC times). Returns the summary.
    """
    import dataclasses as _dc

    labels = settings.raw("labels")
    data = settings.data
    if labels["path"]:
        data = _dc.replace(data, path=labels["path"], source=labels["source"] or data.source, static_path="")
    spec = settings.labels
    source = data.open(history_hours=6)
    table, daily, summary = label_storm_days(source, spec)
    write_storm_days(table, summary, tsv_path, json_path, daily, daily_path)
    return summary
