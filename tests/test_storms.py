"""Storm catalogue, best-track readers, storm/calm labelling and the date-table schema."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from presets import US_BOX, preset

from aurora_xai.data.era5 import MissingTimeError, open_source
from aurora_xai.data.read_bytes import measure_read_bytes
from aurora_xai.data.synthetic import SyntheticSpec
from aurora_xai.data.variables import UNITS
from aurora_xai.regions import Region
from aurora_xai.sections import section_defaults
from aurora_xai.settings import load_config
from aurora_xai.storms.best_track import KNOT, find_storm, read_hurdat2, read_ibtracs
from aurora_xai.storms.catalogue import StormEvent, catalogue_from_config, storm_to_config
from aurora_xai.storms.labels import (
    LabelSpec,
    daily_max_wind,
    label_storm_days,
    select_storm_calm,
)
from aurora_xai.storms.table import (
    STORM_DAYS_SCHEMA,
    read_storm_days,
    validate_storm_days,
    write_storm_days,
)
from aurora_xai.storms.tracks import Storm, StormTrackPoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------


def _labels(**values) -> LabelSpec:
    """The ``labels`` section at the schema's defaults, with ``values`` replaced."""
    return LabelSpec.from_config({**section_defaults("labels"), **values}, {"us": US_BOX})


def config_storms(name: str | None = None) -> dict:
    """The ``storms:`` section of the default config or of a preset over it, defaults filled in."""
    return (preset(name) if name else load_config(ROOT / "config" / "config.yaml"))["storms"]


def lowest(event: StormEvent) -> StormTrackPoint:
    """The fix of lowest central pressure."""
    return min(event.track, key=lambda p: p.msl_hpa)


@pytest.mark.parametrize("config", [None, "study"])
def test_configured_catalogue_holds_the_study_events(config):
    cat = catalogue_from_config(config_storms(config))
    assert set(cat) == {"great_storm_1987", "katrina_2005", "rita_2005", "wilma_2005"}
    gs = cat["great_storm_1987"]
    assert gs.kind == "extratropical" and gs.case_time == pd.Timestamp("1987-10-16T06:00")
    low = lowest(gs)
    assert low.msl_hpa == 953 and low.time == pd.Timestamp("1987-10-16T00:00")
    assert (low.lat, low.lon) == (50.0, 357.0)
    assert gs.box.crosses_meridian
    assert lowest(cat["katrina_2005"]).msl_hpa == 902 and lowest(cat["katrina_2005"]).time.day == 28
    assert lowest(cat["rita_2005"]).msl_hpa == 895 and lowest(cat["rita_2005"]).time.day == 22
    w = lowest(cat["wilma_2005"])
    assert w.msl_hpa == 882 and w.time.day == 19 and abs(w.lat - 17) < 1 and abs(w.lon - 278) < 1.5
    for ev in cat.values():
        assert all(ev.box.contains(p.lat, p.lon) for p in ev.track), ev.name
        assert ev.track[0].time <= ev.case_time <= ev.track[-1].time
        assert isinstance(ev.storm, Storm)
        assert ev.kind == ("extratropical" if ev.name.startswith("great") else "tropical")


def test_catalogue_feeds_the_synthetic_generator_and_errors_name_the_entry():
    configured = config_storms()
    storms = tuple(Storm.from_config(n, e) for n, e in configured.items())
    spec = SyntheticSpec.from_schema(storms=storms)
    assert [s.name for s in spec.storms] == list(configured)
    with pytest.raises(ValueError, match="storms.bad: .*kind"):
        catalogue_from_config({"bad": {"kind": "polar", "track": configured["rita_2005"]["track"]}})
    with pytest.raises(ValueError, match="storms.nobox"):
        catalogue_from_config({"nobox": {"track": [{"time": "2005-01-01", "lat": 0, "lon": 0}]}})
    # no box: the track's extent plus 5 degrees, also across 0 E
    entry = {
        "kind": "extratropical",
        "track": [
            {"time": "2005-01-01T00", "lat": 50, "lon": -10, "msl": 980, "wind": 20},
            {"time": "2005-01-01T06", "lat": 52, "lon": 5, "msl": 975, "wind": 22},
        ],
    }
    box = catalogue_from_config({"x": entry})["x"].box
    assert (box.lat_min, box.lat_max, box.lon_min, box.lon_max) == (45, 57, 345, 10)


# ---------------------------------------------------------------------------------------
# Best tracks
# ---------------------------------------------------------------------------------------

HURDAT = """\
AL122005,            KATRINA,      6,
20050828, 0600,  , HU, 25.2N,  86.7W, 125,  930,  130,  110,   80,  110,   70,   60,   40,   60,   40,   30,   20,   25, -999,
20050828, 1200,  , HU, 25.7N,  87.7W, 145, -999,  150,  120,  100,  120,   90,   75,   50,   75,   45,   40,   25,   35, -999,
20050828, 1800,  , HU, 26.3N,  88.6W, 150,  902,  150,  120,  100,  120,   90,   75,   50,   75,   45,   40,   25,   35, -999,
20050829, 0000,  , HU, 27.2N,  89.2W, 140,  905,  160,  140,  100,  120,  100,   75,   50,   75,   50,   40,   25,   35, -999,
20050829, 1110, L, HU, 29.3N,  89.6W, 110,  920,  170,  150,  110,  110,  120,  110,   80,   60,   70,   50,   35,   35, -999,
20050829, 1200,  , HU, 29.5N,  89.6W, 110,  923,  180,  150,  110,  110,  120,  100,   80,   60,   70,   50,   35,   35, -999,
AL022005,              BRET,      2,
20050628, 1800,  , TD, 19.4N,  95.7W,  30, 1005,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0, -999,
20050629, 0000,  , TS, 19.6N,  96.0W,  35, 1003,   30,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0, -999,
"""

IBTRACS_HEAD = (
    "SID,SEASON,NUMBER,BASIN,SUBBASIN,NAME,ISO_TIME,NATURE,LAT,LON,WMO_WIND,WMO_PRES,WMO_AGENCY,TRACK_TYPE,USA_WIND,USA_PRES\n"
    " ,Year, , , , , , ,degrees_north,degrees_east,kts,mb, , ,kts,mb\n"
)


def _ibtracs_rows() -> str:
    rows = [
        ("2005-08-28 06:00:00", 25.2, -86.7, "125", "930"),
        ("2005-08-28 09:00:00", 25.45, -87.2, "135", ""),  # interpolated 3-hourly position
        ("2005-08-28 12:00:00", 25.7, -87.7, "145", " "),
        ("2005-08-28 18:00:00", 26.3, -88.6, "150", "902"),
        ("2005-08-29 00:00:00", 27.2, -89.2, "140", "905"),
        ("2005-08-29 11:10:00", 29.3, -89.6, "110", "920"),
        ("2005-08-29 12:00:00", 29.5, -89.6, "110", "923"),
    ]
    out = [
        f"2005236N23285,2005,61,NA,GM,KATRINA,{t},TS,{la},{lo},,,hurdat_atl,main,{w},{p}" for t, la, lo, w, p in rows
    ]
    out.append("1987288N45350,1987,70,NA,NA,NOT_NAMED,1987-10-16 00:00:00,ET,50.0,-3.0,70,953,,main,,")
    out.append("1987288N45350,1987,70,NA,NA,NOT_NAMED,1987-10-16 06:00:00,ET,53.5,2.0,65,959,,main,,")
    return "\n".join(out) + "\n"


def test_read_hurdat2(tmp_path):
    path = tmp_path / "hurdat2.txt"
    path.write_text(HURDAT)
    storms = read_hurdat2(path)
    assert set(storms) == {"AL122005", "AL022005"}
    k = storms["AL122005"]
    assert k.name == "KATRINA" and k.kind == "tropical" and len(k.track) == 6
    p = k.track[2]
    assert p.time == pd.Timestamp("2005-08-28T18:00") and p.lat == 26.3 and p.lon == pytest.approx(271.4)
    assert p.msl_hpa == 902 and p.wind_ms == pytest.approx(150 * 0.514444, rel=1e-5)
    assert k.track[1].msl_hpa == pytest.approx((930 + 902) / 2)  # -999 interpolated in time
    assert k.track[4].time == pd.Timestamp("2005-08-29T11:10")  # landfall record kept by default
    syn = read_hurdat2(path, ids=["al122005"], hours=(0, 6, 12, 18))
    assert list(syn) == ["AL122005"] and len(syn["AL122005"].track) == 5
    assert find_storm(storms, "katrina", 2005) is k
    with pytest.raises(KeyError, match="0 storms named 'Rita'"):
        find_storm(storms, "Rita")
    # a header count that disagrees with the rows is a documented quirk: logged, not trusted
    short = tmp_path / "short.txt"
    short.write_text("AL122005,            KATRINA,      9,\n" + "\n".join(HURDAT.splitlines()[1:3]) + "\n")
    assert len(read_hurdat2(short)["AL122005"].track) == 2


def test_ibtracs_gives_the_same_track_as_hurdat2(tmp_path):
    (tmp_path / "h.txt").write_text(HURDAT)
    (tmp_path / "ib.csv").write_text(IBTRACS_HEAD + _ibtracs_rows())
    hurdat = read_hurdat2(tmp_path / "h.txt", hours=(0, 6, 12, 18))["AL122005"]
    ib = read_ibtracs(tmp_path / "ib.csv", hours=(0, 6, 12, 18))
    assert set(ib) == {"2005236N23285", "1987288N45350"}
    assert ib["2005236N23285"].name == "KATRINA" and ib["2005236N23285"].kind == "tropical"
    for a, b in zip(hurdat.track, ib["2005236N23285"].track, strict=True):
        assert a.time == b.time and a.lat == b.lat and a.lon == pytest.approx(b.lon)
        assert a.msl_hpa == pytest.approx(b.msl_hpa) and a.wind_ms == pytest.approx(b.wind_ms)
    gs = read_ibtracs(tmp_path / "ib.csv", seasons=[1987])["1987288N45350"]
    assert gs.kind == "extratropical" and gs.track[0].wind_ms == pytest.approx(70 * KNOT)  # WMO fallback
    assert gs.track[0].lon == 357.0
    assert len(read_ibtracs(tmp_path / "ib.csv", names=["katrina"])["2005236N23285"].track) == 7
    # a best-track storm becomes a catalogue entry and back
    entry = storm_to_config(hurdat, case_time="2005-08-29T06:00")
    back = catalogue_from_config({"katrina": entry})["katrina"]
    assert [p.time for p in back.track] == [p.time for p in hurdat.track]
    assert all(back.box.contains(p.lat, p.lon) for p in back.track)
    (tmp_path / "no.csv").write_text("A,B\n1,2\n")
    with pytest.raises(ValueError, match="not an IBTrACS CSV"):
        read_ibtracs(tmp_path / "no.csv")


# ---------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------


def test_select_storm_calm_known_answer_and_shortfall(caplog):
    days = pd.date_range("2005-01-01T12", periods=10, freq="D")
    wind = pd.Series([5.0, 20.0, 12.0, 18.0, 30.0, 11.0, 25.0, 13.0, 12.0, 17.9], index=days)
    spec = _labels(n_days=3, storm_threshold=18.0, calm_threshold=12.0)
    table, summary = select_storm_calm(wind, spec)
    storm = table[table.label == "storm"]
    calm = table[table.label == "calm"]
    assert list(storm.date) == ["2005-01-05", "2005-01-07", "2005-01-02"] and list(storm["rank"]) == [1, 2, 3]
    # thresholds inclusive; ties (12.0 twice) broken by date
    assert list(calm.date) == ["2005-01-01", "2005-01-06", "2005-01-03"]
    assert summary["n_pass_storm"] == 4 and summary["n_pass_calm"] == 4
    assert summary["shortfall_storm"] == summary["shortfall_calm"] == 0
    with caplog.at_level(logging.WARNING, logger="aurora_xai.storms"):
        table, summary = select_storm_calm(wind, _labels(n_days=6, storm_threshold=18.0, calm_threshold=12.0))
    assert summary["n_storm"] == 4 and summary["shortfall_storm"] == 2 and summary["shortfall_calm"] == 2
    assert (table.loc[table.label == "storm", "wind"] >= 18.0).all()  # threshold not relaxed
    assert any("2 storm days short" in r.message for r in caplog.records)
    assert list(table.columns) == ["date", "label", "rank", "wind", "season", "month"]
    assert table.loc[0, "season"] == "DJF" and table.loc[0, "month"] == 1
    validate_storm_days(table, summary)
    with pytest.raises(ValueError, match="must exceed"):
        _labels(storm_threshold=12, calm_threshold=12)


def _wind_store(path: Path, days: pd.DatetimeIndex, planted: np.ndarray) -> str:
    """A small WeatherBench 2-schema store whose 12 UTC box maxima are ``planted``."""
    lat = np.linspace(90, -90, 21)
    lon = np.arange(40) * 9.0
    times = (days + pd.Timedelta(hours=6)).append(days + pd.Timedelta(hours=12)).sort_values()
    shape = (len(times), len(lat), len(lon))
    u = np.ones(shape, np.float32)
    v = np.zeros(shape, np.float32)
    box = US_BOX
    r_in = np.flatnonzero(box.lat_mask(lat))
    c_in = np.flatnonzero(box.lon_mask(lon))
    r_out = np.flatnonzero(lat == 0)[0]
    for i, t in enumerate(times):
        u[i, r_out, 0] = 99.0  # outside the box: ignored
        if t.hour == 6:
            u[i, r_in[0], c_in[0]] = 77.0  # wrong hour: ignored
        else:
            k = days.get_loc(t.normalize())
            u[i, r_in[1], c_in[2]] = 0.6 * planted[k]
            v[i, r_in[1], c_in[2]] = -0.8 * planted[k]
    zeros3 = np.zeros(shape, np.float32)
    orography = np.zeros((21, 40), np.float32)
    orography[5, 5] = 2000 * 9.80665  # a global orography has high ground
    zeros4 = np.zeros((len(times), 1, len(lat), len(lon)), np.float32)
    ds = xr.Dataset(
        {
            "10m_u_component_of_wind": (("time", "latitude", "longitude"), u),
            "10m_v_component_of_wind": (("time", "latitude", "longitude"), v),
            "2m_temperature": (("time", "latitude", "longitude"), zeros3 + 280),
            "mean_sea_level_pressure": (("time", "latitude", "longitude"), zeros3 + 1e5),
            # plausible values at 500 hPa: every read is checked against the plausible bands
            **{
                n: (("time", "level", "latitude", "longitude"), zeros4 + value)
                for n, value in (
                    ("geopotential", 5500 * 9.80665),
                    ("u_component_of_wind", 0.0),
                    ("v_component_of_wind", 0.0),
                    ("temperature", 250.0),
                    ("specific_humidity", 1e-3),
                )
            },
            "geopotential_at_surface": (("latitude", "longitude"), orography),
            **{n: (("latitude", "longitude"), np.zeros((21, 40), np.float32)) for n in ("land_sea_mask", "soil_type")},
            "total_cloud_cover": (("time", "latitude", "longitude"), zeros3),
        },
        coords={"time": times, "level": [500], "latitude": lat, "longitude": lon},
    )
    for n in ds.data_vars:  # units declared, as in the real stores
        ds[n].attrs["units"] = UNITS.get(n, "1")
    enc = {
        n: {"compressors": None, **({"chunks": (1,) + ds[n].shape[1:]} if "time" in ds[n].dims else {})}
        for n in ds.data_vars
    }
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return str(path)


def test_label_storm_days_end_to_end(tmp_path):
    days = pd.date_range("2005-01-28", "2005-02-10", freq="D")
    planted = np.array([5, 20, 11.5, 18.5, 30, 11, 25, 13, 12.5, 17.9, 40, 2, 19, 14], dtype=float)
    store = _wind_store(tmp_path / "w.zarr", days, planted)
    src = open_source("weatherbench2", store, levels=(500,))
    spec = LabelSpec.from_config(
        {
            "region": "us",
            "hour": 12,
            "year": 2005,
            "start": "2005-01-28",
            "end": "2005-02-10",
            "n_days": 4,
            "storm_threshold": 18,
            "calm_threshold": 12,
        },
        {"us": US_BOX},
    )
    table, daily, summary = label_storm_days(src, spec)
    np.testing.assert_allclose(daily.to_numpy(), planted, rtol=1e-6)  # the box maximum at 12 UTC only
    assert list(table[table.label == "storm"].date) == ["2005-02-07", "2005-02-01", "2005-02-03", "2005-01-29"]
    assert list(table[table.label == "calm"].date) == ["2005-02-08", "2005-01-28", "2005-02-02", "2005-01-30"]
    assert summary["start"] == "2005-01-28" and summary["hour"] == 12 and summary["region"]["lat_min"] == 24
    out = tmp_path / "labels"
    write_storm_days(table, summary, out / "storm_days.tsv", out / "storm_days.json", daily, out / "daily.tsv")
    back = read_storm_days(out / "storm_days.tsv")
    pd.testing.assert_frame_equal(back, table, check_dtype=False, atol=1e-4)
    assert json.loads((out / "storm_days.json").read_text())["n_storm"] == 4
    assert len(pd.read_csv(out / "daily.tsv", sep="\t")) == len(days)


def test_labels_read_only_the_wind_at_that_hour(tmp_path):
    days = pd.date_range("2005-03-01", periods=20, freq="D")
    store = _wind_store(tmp_path / "w.zarr", days, np.linspace(1, 30, 20))
    src = open_source("weatherbench2", store, levels=(500,))
    times = days + pd.Timedelta(hours=12)
    daily_max_wind(src, US_BOX, times[:2])  # warm-up
    from aurora_xai.data import read_bytes

    before = read_bytes._rchar()
    daily_max_wind(src, US_BOX, times)
    read = read_bytes._rchar() - before
    field = 21 * 40 * 4  # one uncompressed chunk: one time, the whole grid
    assert 2 * len(times) * field <= read <= 1.1 * 2 * len(times) * field
    r, n = measure_read_bytes(src, times[3])  # the sample read, for comparison
    assert r >= n


def test_labels_missing_days(tmp_path):
    days = pd.date_range("2005-03-01", periods=5, freq="D")
    store = _wind_store(tmp_path / "w.zarr", days, np.arange(5.0))
    want = pd.date_range("2005-03-01T12", periods=7, freq="D")
    src = open_source("weatherbench2", store, levels=(500,))
    with pytest.raises(MissingTimeError, match="2005-03-06 12:00"):
        daily_max_wind(src, US_BOX, want)
    skip = open_source("weatherbench2", store, levels=(500,), on_missing="skip")
    wind, skipped = daily_max_wind(skip, US_BOX, want)
    assert len(wind) == 5 and [f"{t:%d}" for t in skipped] == ["06", "07"]
    with pytest.raises(ValueError, match="no grid point"):
        daily_max_wind(skip, Region("tiny", 1, 2, 1, 2), want[:2])


# ---------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------


def test_schema_file_matches_the_library_and_jsonschema():
    on_disk = yaml.safe_load((ROOT / "workflow/schemas/storm_days.schema.yaml").read_text())
    assert on_disk == STORM_DAYS_SCHEMA
    jsonschema = pytest.importorskip("jsonschema")
    row = {"date": "2005-01-02", "label": "storm", "rank": 1, "wind": 20.5, "season": "DJF", "month": 1}
    jsonschema.validate(row, on_disk)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**row, "label": "windy"}, on_disk)


def test_validation_catches_bad_tables():
    good = pd.DataFrame(
        {
            "date": ["2005-01-02", "2005-01-03"],
            "label": ["storm", "calm"],
            "rank": [1, 1],
            "wind": [20.0, 3.0],
            "season": ["DJF", "DJF"],
            "month": [1, 1],
        }
    )
    validate_storm_days(good)
    cases = {
        "date repeated": good.assign(date=["2005-01-02", "2005-01-02"]),
        "not one of": good.assign(label=["storm", "windy"]),
        "does not match": good.assign(date=["2005-1-2", "2005-01-03"]),
        "above the maximum": good.assign(month=[13, 1]),
        "no windier": good.assign(wind=[2.0, 3.0]),
        "ranks": good.assign(rank=[2, 1]),
    }
    for msg, bad in cases.items():
        with pytest.raises(ValueError, match=msg):
            validate_storm_days(bad)
    with pytest.raises(ValueError, match="missing columns"):
        validate_storm_days(good.drop(columns="season"))
    summary = {"storm_threshold": 24.0, "calm_threshold": 18.0, "n_requested": 30}
    with pytest.raises(ValueError, match="below the storm threshold"):
        validate_storm_days(good, summary)


def test_labels_and_download_import_without_torch():
    """The data environment has no torch: reading, labelling and downloading must not need it."""
    import subprocess

    code = (
        "import sys; sys.modules['torch'] = None; "
        "import aurora_xai.storms.best_track, aurora_xai.storms.catalogue, aurora_xai.storms.labels, "
        "aurora_xai.storms.table, aurora_xai.data.download, aurora_xai.data.era5, aurora_xai.data.sources"
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
