"""Best-track files: every documented quirk of HURDAT2 and IBTrACS read; malformed rows named or skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from aurora_xai.settings import load_config
from aurora_xai.storms.best_track import KNOT, BestTrackError, BestTracks, read_hurdat2, read_ibtracs
from aurora_xai.storms.catalogue import catalogue_from_config, storm_to_config

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------
# HURDAT2
# ---------------------------------------------------------------------------------------

RADII_20 = "  130,  110,   80,  110,   70,   60,   40,   60,   40,   30,   20,   25"
KATRINA_ROWS = [
    # older files: 20 fields then a comma
    f"20050828, 0600,  , HU, 25.2N,  86.7W, 125,  930,{RADII_20},",
    f"20050828, 1200,  , HU, 25.7N,  87.7W, 145, -999,{RADII_20},",
    f"20050828, 1800, I, HU, 26.3N,  88.6W, 150,  902,{RADII_20},",
    f"20050829, 0000,  , HU, 27.2N,  89.2W, 140,  905,{RADII_20},",
    # off-synoptic landfall record
    f"20050829, 1110, L, HU, 29.3N,  89.6W, 110,  920,{RADII_20},",
    f"20050829, 1200,  , HU, 29.5N,  89.6W, 110,  923,{RADII_20},",
]


def _katrina(rows=None, count=None) -> str:
    rows = KATRINA_ROWS if rows is None else rows
    return f"AL122005,            KATRINA,     {len(rows) if count is None else count},\n" + "\n".join(rows) + "\n"


# newer files: 21 fields (radius of maximum wind), no trailing comma; a central Pacific
# storm crossing the dateline (E longitudes), missing wind (-99) and pressure (-999)
NEWER = (
    "CP012015,              HALOLA,      4,\n"
    f"20150710, 0000,  , TS, 10.1N, 179.5W,  35, 1005,{RADII_20},   20\n"
    f"20150710, 0600,  , TS, 10.3N, 179.9E, -99, -999,{RADII_20},   20\n"
    f"20150710, 1130, T, TS, 10.4N, 179.1E,  40, 1001,{RADII_20}, -999\n"
    f"20150710, 1800,  , TS, 10.6N, 178.3E,  45,  999,{RADII_20},   15\n"
)


def _write(tmp_path: Path, text: str, name: str = "hurdat2.txt", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_hurdat2_documented_quirks(tmp_path, caplog):
    # header counts that disagree with the rows (one too many, one too few), blank lines,
    # a byte-order mark and Windows line ends
    text = "\ufeff" + _katrina(count=7) + "\n" + NEWER.replace("      4,", "      3,") + "\n"
    path = _write(tmp_path, text, newline="\r\n")
    with caplog.at_level(logging.WARNING, logger="aurora_xai.storms"):
        storms = read_hurdat2(path)
    assert isinstance(storms, BestTracks) and storms.skipped == [] and storms.path == str(path)
    assert list(storms) == ["AL122005", "CP012015"]
    warnings = [r.getMessage() for r in caplog.records]
    assert any("AL122005" in m and "announces 7 data rows, 6 follow" in m for m in warnings)
    assert any("CP012015" in m and "announces 3 data rows, 4 follow" in m for m in warnings)
    k = storms["AL122005"]
    assert k.name == "KATRINA" and k.kind == "tropical" and len(k.track) == 6
    assert k.track[4].time == pd.Timestamp("2005-08-29T11:10")  # landfall record kept
    assert k.track[1].msl_hpa == pytest.approx((930 + 902) / 2)  # -999 interpolated
    assert k.track[2].lon == pytest.approx(360 - 88.6)
    h = storms["CP012015"]
    assert [p.lon for p in h.track] == pytest.approx([180.5, 179.9, 179.1, 178.3])
    assert h.track[1].wind_ms == pytest.approx((35 + (40 - 35) * 6 / 11.5) * KNOT)  # -99 interpolated in time
    assert h.track[2].time == pd.Timestamp("2015-07-10T11:30")
    assert h.track[2].msl_hpa == 1001
    synoptic = read_hurdat2(path, hours=(0, 6, 12, 18))
    assert len(synoptic["AL122005"].track) == 5 and len(synoptic["CP012015"].track) == 3


# (field, the bad text, where it goes in row 2 of Katrina)
BAD_FIELDS = [
    ("max_wind", "1O0", lambda f: f[:6] + ["1O0"] + f[7:]),
    ("min_pressure", "9O2", lambda f: f[:7] + ["9O2"] + f[8:]),
    ("min_pressure", "90", lambda f: f[:7] + ["90"] + f[8:]),  # not hPa
    ("latitude", "25.7X", lambda f: f[:4] + ["25.7X"] + f[5:]),
    ("latitude", "25.7W", lambda f: f[:4] + ["25.7W"] + f[5:]),
    ("longitude", "87.7", lambda f: f[:5] + ["87.7"] + f[6:]),
    ("longitude", "187.7W", lambda f: f[:5] + ["187.7W"] + f[6:]),
    ("date", "20050230", lambda f: ["20050230"] + f[1:]),
    ("date", "2005O828", lambda f: ["2005O828"] + f[1:]),
    ("time", "2460", lambda f: f[:1] + ["2460"] + f[2:]),
    ("time", "12:00", lambda f: f[:1] + ["12:00"] + f[2:]),
    ("status", "XX", lambda f: f[:3] + ["XX"] + f[4:]),
    ("record_identifier", "Q", lambda f: f[:2] + ["Q"] + f[3:]),
    ("wind_radii_34kt_ne", "1O", lambda f: f[:8] + ["1O"] + f[9:]),
    ("row", "", lambda f: f[:5] + f[6:]),  # a field lost
]


@pytest.mark.parametrize("field,text,edit", BAD_FIELDS, ids=[f"{f}-{t}" for f, t, _ in BAD_FIELDS])
def test_hurdat2_malformed_field_named_or_skipped(tmp_path, caplog, field, text, edit):
    rows = list(KATRINA_ROWS)
    rows[1] = ", ".join(edit([x.strip() for x in rows[1].split(",")]))
    path = _write(tmp_path, NEWER + _katrina(rows))
    line = NEWER.count("\n") + 3  # the second data row of Katrina
    with pytest.raises(BestTrackError) as info:
        read_hurdat2(path)
    msg = str(info.value)
    assert str(path) in msg and f"line {line}," in msg and "storm AL122005" in msg and f"field {field}:" in msg
    assert text in msg
    assert isinstance(info.value, ValueError) and info.value.bad_row.line == line
    with caplog.at_level(logging.WARNING, logger="aurora_xai.storms"):
        storms = read_hurdat2(path, on_bad_row="skip")
    assert len(storms["AL122005"].track) == 5 and len(storms["CP012015"].track) == 4
    (bad,) = storms.skipped
    assert (bad.path, bad.line, bad.storm, bad.field) == (str(path), line, "AL122005", field)
    assert any(
        "skipping a malformed row" in r.getMessage() and f"line {line}" in r.getMessage() for r in caplog.records
    )
    frame = storms.skipped_frame()
    assert list(frame.columns) == ["path", "line", "storm", "field", "value", "reason"] and len(frame) == 1
    # a storm that is not asked for is not checked
    assert list(read_hurdat2(path, ids=["cp012015"])) == ["CP012015"]


def test_hurdat2_malformed_headers_and_stray_rows(tmp_path):
    # a header whose id is corrupt: its rows cannot be told apart, they are skipped with it
    path = _write(tmp_path, NEWER + _katrina().replace("AL122005", "AL12200S"))
    with pytest.raises(BestTrackError, match=r"line 6, storm \(unknown\), field storm_id"):
        read_hurdat2(path)
    storms = read_hurdat2(path, on_bad_row="skip")
    assert list(storms) == ["CP012015"]
    assert [b.line for b in storms.skipped] == list(range(6, 13))
    assert {b.reason for b in storms.skipped[1:]} == {"belongs to the malformed header at line 6"}
    # an unreadable count: the storm's rows are still read (the count is not needed)
    path = _write(tmp_path, _katrina(count="6x"), "count.txt")
    with pytest.raises(BestTrackError, match="line 1, storm AL122005, field count"):
        read_hurdat2(path)
    storms = read_hurdat2(path, on_bad_row="skip")
    assert len(storms["AL122005"].track) == 6 and [b.field for b in storms.skipped] == ["count"]
    # a data row before any header
    path = _write(tmp_path, KATRINA_ROWS[0] + "\n" + NEWER, "orphan.txt")
    with pytest.raises(BestTrackError, match="line 1, storm .unknown., field row: a data row before any header"):
        read_hurdat2(path)
    assert [b.line for b in read_hurdat2(path, on_bad_row="skip").skipped] == [1]
    with pytest.raises(ValueError, match="on_bad_row must be one of"):
        read_hurdat2(path, on_bad_row="ignore")
    # a file that is not text
    (tmp_path / "bin.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="bin.txt: not a HURDAT2 text file"):
        read_hurdat2(tmp_path / "bin.txt")


def test_hurdat2_many_bad_rows_are_all_recorded(tmp_path, caplog):
    rows = [r.replace(" HU,", " H?,") for r in KATRINA_ROWS * 5]
    rows = [f"2005{8 + i // 31:02d}{1 + i % 28:02d}" + r[8:] for i, r in enumerate(rows)]
    path = _write(tmp_path, _katrina(rows) + NEWER)
    with caplog.at_level(logging.WARNING, logger="aurora_xai.storms"):
        storms = read_hurdat2(path, on_bad_row="skip")
    assert len(storms.skipped) == 30 and list(storms) == ["CP012015"]
    assert any("30 malformed rows skipped in all" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------------
# IBTrACS
# ---------------------------------------------------------------------------------------

COLUMNS = "SID,SEASON,NUMBER,BASIN,SUBBASIN,NAME,ISO_TIME,NATURE,LAT,LON,WMO_WIND,WMO_PRES,WMO_AGENCY,TRACK_TYPE,USA_WIND,USA_PRES,TOKYO_WIND,TOKYO_PRES"
UNITS = " ,Year, , , , , , ,degrees_north,degrees_east,kts,mb, , ,kts,mb,kts,mb"


def _ib_rows() -> list[str]:
    # Typhoon crossing the dateline: longitudes in both conventions within one track,
    # blank cells as single spaces, the USA agency blank where only Tokyo and WMO report.
    return [
        "2015180N10180,2015,40,WP,MM,HALOLA,2015-07-10 00:00:00,TS,10.1,-179.5, , , ,main,35,1005, , ",
        "2015180N10180,2015,40,WP,MM,HALOLA,2015-07-10 03:00:00,TS,10.2,180.3, , , ,main,37, , , ",
        "2015180N10180,2015,40,WP,MM,HALOLA,2015-07-10 06:00:00,TS,10.3,179.9,40,1000,tokyo,main, , ,40,1000",
        "2015180N10180,2015,40,WP,MM,HALOLA,2015-07-10 12:00:00,TS,10.4,179.1,45,998,tokyo,main,50,996,45,998",
        "2015180N10180,2015,40,WP,MM,HALOLA,2015-07-10 18:00:00,ET,10.6,178.3,45,999,tokyo,main,45, ,45,999",
        "1987288N45350,1987,70,NA,NA,NOT_NAMED,1987-10-16 00:00:00,ET,50.0,-3.0,70,953, ,main, , , , ",
        "1987288N45350,1987,70,NA,NA,NOT_NAMED,1987-10-16 06:00:00,ET,53.5,2.0,65,959, ,main, , , , ",
    ]


def _ib(tmp_path: Path, rows: list[str] | None = None, units: bool = True, name: str = "ib.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([COLUMNS, *([UNITS] if units else []), *(rows or _ib_rows())]) + "\n")
    return path


def test_ibtracs_documented_quirks(tmp_path):
    with_units = read_ibtracs(_ib(tmp_path))
    without = read_ibtracs(_ib(tmp_path, units=False, name="no_units.csv"))
    assert list(with_units) == list(without) == ["2015180N10180", "1987288N45350"]
    assert with_units.skipped == []
    h = with_units["2015180N10180"]
    assert [p.lon for p in h.track] == pytest.approx([180.5, 180.3, 179.9, 179.1, 178.3])
    assert [p.lon for p in without["2015180N10180"].track] == [p.lon for p in h.track]
    # USA first, then WMO: the 06 UTC fix has only WMO, the 18 UTC pressure only WMO
    assert [p.wind_ms / KNOT for p in h.track] == pytest.approx([35, 37, 40, 50, 45])
    assert h.track[4].msl_hpa == 999 and h.track[3].msl_hpa == 996
    assert h.track[1].msl_hpa == pytest.approx(1005 + (1000 - 1005) / 2)  # blank: interpolated
    assert h.kind == "tropical" and with_units["1987288N45350"].kind == "extratropical"
    # another agency preferred
    tokyo = read_ibtracs(_ib(tmp_path), sids=["2015180N10180"], agencies=("TOKYO", "USA"))
    assert [p.wind_ms / KNOT for p in tokyo["2015180N10180"].track] == pytest.approx([35, 37, 40, 45, 45])
    with pytest.raises(ValueError, match=r"none of the agencies \['CMA'\].*found \['TOKYO', 'USA', 'WMO'\]"):
        read_ibtracs(_ib(tmp_path), agencies=("CMA",))
    assert len(read_ibtracs(_ib(tmp_path), hours=(0, 6, 12, 18))["2015180N10180"].track) == 4
    assert list(read_ibtracs(_ib(tmp_path), seasons=[1987], names=["not_named"])) == ["1987288N45350"]


# (column, bad text, how the row's cells change)
IB_BAD = [
    ("USA_WIND", "1O0", {14: "1O0"}),
    ("USA_PRES", "9O2", {15: "9O2"}),
    ("LAT", "1O.3", {8: "1O.3"}),
    ("LAT", "", {8: " "}),
    ("LON", "370.0", {9: "370.0"}),
    ("ISO_TIME", "2015-07-10 6:00", {6: "2015-07-10 6:00"}),
    ("ISO_TIME", "2015-02-30 06:00:00", {6: "2015-02-30 06:00:00"}),
    ("SEASON", "2O15", {1: "2O15"}),
    ("NATURE", "XX", {7: "XX"}),
    ("WMO_WIND", "forty", {10: "forty", 14: " "}),
]


@pytest.mark.parametrize("column,text,cells", IB_BAD, ids=[f"{c}-{t}" for c, t, _ in IB_BAD])
def test_ibtracs_malformed_cell_named_or_skipped(tmp_path, column, text, cells):
    rows = _ib_rows()
    row = rows[2].split(",")
    for i, v in cells.items():
        row[i] = v
    rows[2] = ",".join(row)
    path = _ib(tmp_path, rows)
    with pytest.raises(BestTrackError) as info:
        read_ibtracs(path)
    msg = str(info.value)
    assert str(path) in msg and "line 5," in msg and "storm 2015180N10180" in msg and f"field {column}:" in msg
    assert repr(text) in msg
    storms = read_ibtracs(path, on_bad_row="skip")
    assert len(storms["2015180N10180"].track) == 4 and len(storms["1987288N45350"].track) == 2
    (bad,) = storms.skipped
    assert (bad.line, bad.storm, bad.field, bad.value) == (5, "2015180N10180", column, text)
    # rows of a storm not asked for are not checked
    assert list(read_ibtracs(path, sids=["1987288N45350"])) == ["1987288N45350"]


def test_ibtracs_rows_with_the_wrong_number_of_fields(tmp_path):
    rows = _ib_rows()
    rows[1] = rows[1] + ",extra"
    rows[5] = ",".join(rows[5].split(",")[:8])
    path = _ib(tmp_path, rows)
    with pytest.raises(BestTrackError, match=r"line 4, storm 2015180N10180, field row: 19 fields; the header has 18"):
        read_ibtracs(path)
    storms = read_ibtracs(path, on_bad_row="skip")
    assert [(b.line, b.storm) for b in storms.skipped] == [(4, "2015180N10180"), (8, "1987288N45350")]
    assert len(storms["2015180N10180"].track) == 4 and "1987288N45350" not in storms  # one fix left
    path.write_text("A,B\n1,2\n")
    with pytest.raises(ValueError, match="not an IBTrACS CSV, missing columns"):
        read_ibtracs(path)


# ---------------------------------------------------------------------------------------
# Catalogue entries from best tracks
# ---------------------------------------------------------------------------------------


def test_storm_to_config_round_trips_through_safe_yaml(tmp_path):
    hurdat = read_hurdat2(_write(tmp_path, _katrina() + NEWER))
    ib = read_ibtracs(_ib(tmp_path))
    config_storms = load_config(ROOT / "config" / "config.yaml")["storms"]
    storms = {
        "katrina": (hurdat["AL122005"], {"case_time": pd.Timestamp("2005-08-29T06:00"), "description": "Katrina"}),
        "halola": (hurdat["CP012015"], {}),
        "halola_ib": (ib["2015180N10180"], {"case_time": np.datetime64("2015-07-10T06:00")}),
        "great_storm": (ib["1987288N45350"], {"box": catalogue_from_config(config_storms)["great_storm_1987"].box}),
    }
    section = {name: storm_to_config(storm, **kw) for name, (storm, kw) in storms.items()}
    text = yaml.safe_dump({"storms": section}, sort_keys=False)
    back = yaml.safe_load(text)["storms"]
    assert back == section
    cat = catalogue_from_config(back)
    for name, (storm, _) in storms.items():
        ev = cat[name]
        assert [p.time for p in ev.track] == [p.time for p in storm.track]
        assert [p.lat for p in ev.track] == pytest.approx([p.lat for p in storm.track], abs=0.005)
        assert [p.lon for p in ev.track] == pytest.approx([p.lon for p in storm.track], abs=0.005)
        assert ev.kind == storm.kind and all(ev.box.contains(p.lat, p.lon) for p in ev.track)
    assert cat["katrina"].case_time == pd.Timestamp("2005-08-29T06:00") and cat["katrina"].description == "Katrina"
    assert cat["halola_ib"].case_time == pd.Timestamp("2015-07-10T06:00")
    assert cat["halola"].box.crosses_meridian is False and cat["great_storm"].box.crosses_meridian
