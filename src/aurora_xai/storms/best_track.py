"""Best-track readers: HURDAT2 (NHC text format) and IBTrACS (NCEI CSV).

:func:`read_hurdat2` and :func:`read_ibtracs` read files a user supplies into
:class:`~aurora_xai.data.synthetic.Storm` tracks (positions in degrees east [0, 360),
central pressure hPa, maximum sustained wind converted from knots to m/s). Every
documented quirk of both formats is read; a malformed row raises
:class:`BestTrackError` naming the file, line, storm id and field, or, with
``on_bad_row="skip"``, is skipped with a warning and recorded in the result's
``skipped`` (:class:`BadRow`). :func:`find_storm` picks one storm by name and year;
:func:`aurora_xai.storms.catalogue.storm_to_config` turns it into a catalogue entry.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .tracks import Storm, StormTrackPoint

__all__ = [
    "KNOT",
    "ON_BAD_ROW",
    "BadRow",
    "BestTrackError",
    "BestTracks",
    "find_storm",
    "read_hurdat2",
    "read_ibtracs",
]

log = logging.getLogger(__name__)

#: One knot in m/s.
KNOT = 1852.0 / 3600.0

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
