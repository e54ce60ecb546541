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
  m/s).
* **Labels.** The study's rule: the daily maximum 10 m wind speed inside a box at one
  hour (12 UTC) through a year; storm days at or above one threshold, calm days at or
  below another, the ``n`` strongest and ``n`` calmest. When fewer days pass a threshold
  the passing days are kept and the shortfall is logged and recorded, never hidden by
  relaxing the threshold. Only the two 10 m wind components, at that hour, in that box,
  are read (one vectorised read per component).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data.synthetic import Storm, StormTrackPoint
from .dates import season_of_month
from .regions import Region

__all__ = [
    "KNOT",
    "DEFAULT_STORMS",
    "StormEvent",
    "catalogue_from_config",
    "storm_to_config",
    "read_hurdat2",
    "read_ibtracs",
    "find_storm",
    "LabelSpec",
    "daily_max_wind",
    "select_storm_calm",
    "label_storm_days",
    "write_storm_days",
    "read_storm_days",
    "STORM_DAYS_SCHEMA",
    "validate_storm_days",
    "storm_days_from_config",
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
                case_time=pd.Timestamp(case) if case else None,
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


def storm_to_config(storm: Storm, box: Region | None = None, case_time=None, description: str = "") -> dict[str, Any]:
    """A catalogue entry (as in ``storms:``) for a storm read from a best-track file."""
    entry: dict[str, Any] = {
        "kind": storm.kind,
        "radius_deg": storm.radius_deg,
        "track": [
            {
                "time": f"{p.time:%Y-%m-%dT%H:%M}",
                "lat": round(p.lat, 2),
                "lon": round(p.lon, 2),
                "msl": round(p.msl_hpa, 1),
                "wind": round(p.wind_ms, 2),
            }
            for p in storm.track
        ],
    }
    box = box or _track_box(storm.name, storm.track)
    entry["box"] = {"lat_min": box.lat_min, "lat_max": box.lat_max, "lon_min": box.lon_min, "lon_max": box.lon_max}
    if case_time is not None:
        entry["case_time"] = f"{pd.Timestamp(case_time):%Y-%m-%dT%H:%M}"
    if description:
        entry["description"] = description
    return entry


# --------------------------------------------------------------------------------------
# Best-track readers
# --------------------------------------------------------------------------------------

#: HURDAT2 / IBTrACS status codes of a tropical or subtropical system.
_TROPICAL_STATUS = {"HU", "TS", "TD", "SS", "SD", "TY", "ST"}


def _fill(values: np.ndarray, times: pd.DatetimeIndex, what: str, storm: str) -> np.ndarray:
    """Fill missing values by linear interpolation in time (nearest at the ends)."""
    ok = np.isfinite(values)
    if ok.all():
        return values
    if not ok.any():
        raise ValueError(f"storm {storm}: no {what} value at any fix")
    x = (times - times[0]) / pd.Timedelta(hours=1)
    x = np.asarray(x, dtype=float)
    log.info("storm %s: %d missing %s values interpolated in time", storm, int((~ok).sum()), what)
    return np.interp(x, x[ok], values[ok])


def _make_storm(
    name: str, times, lats, lons, pres, winds, statuses, hours: Sequence[int] | None, tropical_only: bool
) -> Storm | None:
    frame = pd.DataFrame(
        {"time": pd.DatetimeIndex(times), "lat": lats, "lon": lons, "msl": pres, "wind": winds, "status": statuses}
    )
    frame = frame.dropna(subset=["lat", "lon"]).drop_duplicates("time").sort_values("time")
    if hours is not None:
        frame = frame[frame["time"].dt.hour.isin(list(hours)) & (frame["time"].dt.minute == 0)]
    if tropical_only:
        frame = frame[frame["status"].isin(_TROPICAL_STATUS)]
    if len(frame) < 2:
        return None
    t = pd.DatetimeIndex(frame["time"])
    msl = _fill(frame["msl"].to_numpy(dtype=float), t, "pressure", name)
    wind = _fill(frame["wind"].to_numpy(dtype=float), t, "wind", name)
    kind = "tropical" if frame["status"].isin(_TROPICAL_STATUS).any() else "extratropical"
    track = tuple(
        StormTrackPoint(time=tt, lat=float(la), lon=float(lo) % 360, msl_hpa=float(p), wind_ms=float(w) * KNOT)
        for tt, la, lo, p, w in zip(t, frame["lat"], frame["lon"], msl, wind)
    )
    return Storm(name=name, kind=kind, track=track, radius_deg=3.5 if kind == "tropical" else 5.0)


_HURDAT_HEADER = re.compile(r"^\s*([A-Z]{2}\d{6})\s*,\s*([^,]*?)\s*,\s*(\d+)\s*,")


def _hurdat_coord(text: str) -> float:
    text = text.strip()
    value = float(text[:-1])
    return -value if text[-1] in "SW" else value


def read_hurdat2(
    path: str | Path,
    ids: Sequence[str] | None = None,
    hours: Sequence[int] | None = None,
    tropical_only: bool = False,
) -> dict[str, Storm]:
    """Read storms from a HURDAT2 file (NHC best-track text format).

    A header line ``AL122005,            KATRINA,     34,`` is followed by that many data
    lines ``20050828, 1800,  , HU, 26.3N,  88.6W, 150,  902, ...`` (date, time, record
    identifier, status, latitude, longitude, maximum sustained wind in knots, minimum
    pressure in hPa with -999 for missing, wind radii ignored).

    Args:
        path: The file.
        ids: Only these ATCF ids (``AL122005``); default all.
        hours: Keep only fixes at these UTC hours (e.g. ``(0, 6, 12, 18)`` to drop the
            special landfall records); default all.
        tropical_only: Drop fixes whose status is not tropical or subtropical
            (``EX``, ``LO``, ``WV``, ``DB``).

    Returns:
        ``{atcf id: Storm}``, storm names in upper case as in the file, wind in m/s.
    """
    storms: dict[str, Storm] = {}
    wanted = {i.upper() for i in ids} if ids else None
    lines = Path(path).read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = _HURDAT_HEADER.match(line)
        if not m:
            raise ValueError(f"{path}:{i + 1}: expected a HURDAT2 header line, got {line!r}")
        sid, name, count = m.group(1), m.group(2).strip(), int(m.group(3))
        rows = lines[i + 1 : i + 1 + count]
        if len(rows) < count:
            raise ValueError(f"{path}: storm {sid} announces {count} lines, the file ends after {len(rows)}")
        i += 1 + count
        if wanted is not None and sid not in wanted:
            continue
        times, lats, lons, pres, winds, status = [], [], [], [], [], []
        for k, row in enumerate(rows):
            f = [x.strip() for x in row.split(",")]
            if len(f) < 8:
                raise ValueError(f"{path}: storm {sid}, line {k + 1}: expected at least 8 fields, got {row!r}")
            times.append(pd.Timestamp(f"{f[0]} {f[1].zfill(4)}"))
            status.append(f[3])
            lats.append(_hurdat_coord(f[4]))
            lons.append(_hurdat_coord(f[5]))
            w, p = float(f[6]), float(f[7])
            winds.append(w if w >= 0 else np.nan)
            pres.append(p if p > 0 else np.nan)
        storm = _make_storm(name.upper(), times, lats, lons, pres, winds, status, hours, tropical_only)
        if storm is not None:
            storms[sid] = storm
    return storms


def read_ibtracs(
    path: str | Path,
    sids: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    seasons: Sequence[int] | None = None,
    hours: Sequence[int] | None = None,
    tropical_only: bool = False,
) -> dict[str, Storm]:
    """Read storms from an IBTrACS CSV file (NCEI; second header row holds units).

    Uses ``SID, SEASON, NAME, ISO_TIME, NATURE, LAT, LON`` and the wind and pressure of
    the US agencies (``USA_WIND`` in knots, ``USA_PRES`` in hPa), falling back to
    ``WMO_WIND`` / ``WMO_PRES`` where those are blank. IBTrACS interleaves 3-hourly
    interpolated positions; pass ``hours=(0, 6, 12, 18)`` for the synoptic fixes only.

    Returns:
        ``{SID: Storm}``, wind in m/s.
    """
    frame = pd.read_csv(path, skiprows=[1], keep_default_na=False, na_values=["", " "], low_memory=False, dtype=str)
    frame.columns = [c.strip() for c in frame.columns]
    need = {"SID", "SEASON", "NAME", "ISO_TIME", "LAT", "LON"}
    if need - set(frame.columns):
        raise ValueError(f"{path}: not an IBTrACS CSV, missing columns {sorted(need - set(frame.columns))}")
    if sids:
        frame = frame[frame["SID"].isin(list(sids))]
    if names:
        frame = frame[frame["NAME"].str.upper().isin([n.upper() for n in names])]
    if seasons:
        frame = frame[frame["SEASON"].astype(int).isin([int(s) for s in seasons])]

    def num(col: str) -> pd.Series:
        if col not in frame.columns:
            return pd.Series(np.nan, index=frame.index)
        return pd.to_numeric(frame[col].str.strip(), errors="coerce")

    wind = num("USA_WIND").fillna(num("WMO_WIND"))
    pres = num("USA_PRES").fillna(num("WMO_PRES"))
    nature = frame["NATURE"].str.strip() if "NATURE" in frame.columns else pd.Series("NR", index=frame.index)
    nature = nature.replace({"TS": "TS", "SS": "SS", "ET": "EX", "DS": "LO", "NR": "NR", "MX": "MX"})
    out: dict[str, Storm] = {}
    for sid, idx in frame.groupby("SID", sort=False).groups.items():
        sub = frame.loc[idx]
        storm = _make_storm(
            str(sub["NAME"].iloc[0]).strip().upper(),
            pd.to_datetime(sub["ISO_TIME"].str.strip()),
            pd.to_numeric(sub["LAT"], errors="coerce").to_numpy(),
            pd.to_numeric(sub["LON"], errors="coerce").to_numpy(),
            pres.loc[idx].to_numpy(),
            wind.loc[idx].to_numpy(),
            nature.loc[idx].to_numpy(),
            hours,
            tropical_only,
        )
        if storm is not None:
            out[str(sid)] = storm
    return out


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
        """From ``labels:``; ``region`` is a name in ``regions`` or a box mapping; ``year``
        stands for ``start``/``end`` of that calendar year."""
        cfg = dict(cfg)
        if cfg.get("year") is not None:
            cfg.setdefault("start", f"{int(cfg['year'])}-01-01")
            cfg.setdefault("end", f"{int(cfg['year'])}-12-31")
        reg = cfg.pop("region", "us")
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
            hour=int(cfg.get("hour", 12)),
            start=str(cfg.get("start", "2005-01-01")),
            end=str(cfg.get("end", "2005-12-31")),
            n_days=int(cfg.get("n_days", 30)),
            storm_threshold=float(cfg.get("storm_threshold", 18.0)),
            calm_threshold=float(cfg.get("calm_threshold", 12.0)),
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
        ``(wind, skipped)``: a series in m/s indexed by time, and the times not stored
        (only with ``source.on_missing == "skip"``; otherwise a missing time raises
        :class:`~aurora_xai.data.era5.MissingTimeError` naming it).
    """
    from .data.era5 import MissingTimeError

    times = pd.DatetimeIndex(times)
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
    u = source.read_box("10u", have, rows, cols)
    v = source.read_box("10v", have, rows, cols)
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


def storm_days_from_config(
    cfg: Mapping[str, Any],
    tsv_path: str | Path,
    json_path: str | Path,
    daily_path: str | Path | None = None,
) -> dict[str, Any]:
    """Label storm and calm days as the config says and write the outputs (the workflow rule).

    Reads ``labels:`` (rule), ``regions:`` (named boxes) and ``data:`` (the store); the
    labels may read another store than the samples through ``labels.source`` and
    ``labels.path`` (e.g. the remote store when ``data.path`` is a downloaded subset
    without the 12 UTC times). Returns the summary.
    """
    from .data.era5 import source_from_config
    from .regions import regions_from_config

    labels = dict(cfg.get("labels") or {})
    data = dict(cfg["data"])
    if labels.get("path"):
        data.update(path=labels["path"], source=labels.get("source") or data.get("source", "weatherbench2"))
        data.pop("static_path", None)
    spec = LabelSpec.from_config(
        {k: v for k, v in labels.items() if k not in ("source", "path")}, regions_from_config(cfg.get("regions") or {})
    )
    source = source_from_config(data)
    table, daily, summary = label_storm_days(source, spec)
    write_storm_days(table, summary, tsv_path, json_path, daily, daily_path)
    return summary
