"""Unit tests of the data, geometry, pooling, dates and config layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.config import ConfigError, check_config
from aurora_xai.data.era5 import ERA5Source
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset
from aurora_xai.dates import DateSpec, season_of_month, shard_dates
from aurora_xai.latents.extract import extract_pooled
from aurora_xai.latents.geometry import patch_centres, stage_resolutions, token_resolution, tokens_to_grid
from aurora_xai.latents.pooling import pool_grid, region_weights
from aurora_xai.latents.taps import capture_latents
from aurora_xai.logs import Progress
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import Region, regions_from_config
from aurora_xai.sections import section_defaults


# --- regions ---------------------------------------------------------------------------
def test_region_across_prime_meridian():
    europe = Region("europe", 30, 72, 348, 45)
    assert europe.crosses_meridian
    lon = np.arange(0, 360, 3.0)
    inside = lon[europe.lon_mask(lon)]
    assert set(inside) == set(np.r_[np.arange(0, 46, 3.0), np.arange(348, 360, 3.0)])
    assert europe.contains(50, 0) and europe.contains(50, 350) and not europe.contains(50, 100)
    assert Region("neg", 30, 72, -12, 45).lon_mask(np.array([350.0, 10.0, 100.0])).tolist() == [True, True, False]


def test_region_rejects_bad_bounds():
    with pytest.raises(ValueError, match="region 'x'"):
        Region("x", 50, 24, 0, 10)
    with pytest.raises(ValueError, match="coincide"):
        Region("y", 0, 10, 20, 380 - 360)


# --- token geometry ---------------------------------------------------------------------
def test_patch_centres_follow_the_crop():
    lat = np.linspace(90, -90, 61)  # 61 rows: the model drops the last
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon)
    assert lat_c.shape == (15,) and lon_c.shape == (30,)
    assert lat_c[0] == pytest.approx(lat[:4].mean()) and lat_c[-1] == pytest.approx(lat[56:60].mean())
    assert np.all(np.diff(lat_c) < 0) and lon_c[0] == pytest.approx(4.5)
    # stage 1 merges pairs and pads the odd last row: 15 -> 8 rows
    lat1, lon1 = patch_centres(lat, lon, stage=1)
    assert lat1.shape == (8,) and lon1.shape == (15,)
    assert lat1[-1] == pytest.approx(lat_c[-1])
    assert stage_resolutions((4, 15, 30), 3) == [(4, 15, 30), (4, 8, 15), (4, 4, 8)]


@pytest.mark.parametrize("n_lat,n_lon", [(61, 120), (181, 360), (721, 1440), (32, 64)])
def test_token_resolution_matches_the_token_centres(n_lat, n_lon):
    """One resolution per stage and grid, whose rows and columns are the token centres'."""
    lat, lon = np.linspace(90, -90, n_lat), np.arange(n_lon) * 360.0 / n_lon
    for stage in range(4):
        c, h, w = token_resolution(lat, lon, 4, 4, 4, stage)
        lat_c, lon_c = patch_centres(lat, lon, 4, stage)
        assert (c, h, w) == (4, len(lat_c), len(lon_c))
    assert token_resolution(np.linspace(90, -90, 721), np.arange(1440) * 0.25, 4, 4, 3, 0) == (4, 180, 360)
    with pytest.raises(ValueError, match="stage 3 out of range"):
        token_resolution(lat, lon, 4, 4, 3, 3)
    with pytest.raises(ValueError, match="crop at most one row"):
        token_resolution(np.linspace(90, -90, 63), lon, 4, 4, 3, 0)


def test_planted_token_pattern_lands_in_its_region():
    """Tokens ordered (level, lat, lon) must reshape to (C, H, W), not (C*H, W)."""
    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon)
    c, h, w, d = 4, len(lat_c), len(lon_c), 3
    us = Region("us", 24, 50, 235, 295)
    grid = np.zeros((c, h, w, d))
    grid[2][us.mask(lat_c, lon_c)] = 7.0  # plant a pattern on level 2 inside the US box
    tokens = torch.from_numpy(grid.reshape(1, c * h * w, d))  # Aurora's token order
    back = tokens_to_grid(tokens, (c, h, w))[0]
    pooled = pool_grid(back, lat_c, lon_c, {"us": us, "south": Region("south", -90, -60, 0, 360)}, area_weighted=False)
    assert pooled[0, 2, 0] == pytest.approx(np.full(d, 7.0))  # mean inside the US box on level 2
    assert np.all(pooled[0, [0, 1, 3], 0] == 0)
    assert np.all(pooled[1, :, 0] == 0)  # nothing near Antarctica (the published defect)
    with pytest.raises(ValueError, match="do not match"):
        tokens_to_grid(tokens, (c, h * 4, w))


def test_pooling_statistics_and_weights():
    rng = np.random.default_rng(0)
    lat = np.array([60.0, 0.0, -60.0])
    lon = np.array([0.0, 90.0, 180.0, 270.0])
    x = rng.normal(size=(2, 3, 4, 5))
    out = pool_grid(x, lat, lon, {"g": Region("g", -90, 90, 0, 360)}, area_weighted=False)
    flat = x.reshape(2, 12, 5)
    np.testing.assert_allclose(out[0, :, 0], flat.mean(1))
    np.testing.assert_allclose(out[0, :, 1], flat.std(1))
    np.testing.assert_allclose(out[0, :, 2], np.sqrt((flat**2).mean(1)))
    w = region_weights(Region("g", -90, 90, 0, 360), lat, lon, area_weighted=True)
    assert w.sum() == pytest.approx(1.0) and w[1, 0] / w[0, 0] == pytest.approx(1 / np.cos(np.radians(60)))
    with pytest.raises(ValueError, match="no latent patch"):
        region_weights(Region("tiny", 10, 11, 5, 6), lat, lon, True)


# --- latent taps on the tiny model ------------------------------------------------------
def test_capture_latents_shapes_and_geometry(small_store):
    src = ERA5Source(str(small_store))
    model = build_model(ModelSpec.from_schema())
    batch = src.batch(pd.Timestamp("2005-01-05T06"))
    lat_c, lon_c = patch_centres(src.lat, src.lon)
    for tap, stage, dim in [
        ("encoder", 0, 32),
        ("backbone.encoder.1", 1, 64),
        ("bottleneck", 2, 128),
        ("backbone", 0, 64),
    ]:
        with capture_latents(model, tap) as box, torch.inference_mode():
            model(batch)
        res = stage_resolutions((4, len(lat_c), len(lon_c)), 3)[box["stage"]]
        assert box["stage"] == stage
        assert box["tokens"].shape == (1, np.prod(res), dim)
    assert not model.backbone._forward_hooks and not model.encoder._forward_hooks
    with pytest.raises(ValueError, match="unknown tap"):
        with capture_latents(model, "decoder"):
            pass


def test_tiny_model_is_seeded():
    a, b = build_model(ModelSpec.from_schema(seed=3)), build_model(ModelSpec.from_schema(seed=3))
    c = build_model(ModelSpec.from_schema(seed=4))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_extraction_is_deterministic_and_records_skips(small_store):
    src = ERA5Source(str(small_store))
    model = build_model(ModelSpec.from_schema())
    regions = regions_from_config({"us": dict(lat_min=24, lat_max=50, lon_min=235, lon_max=295)})
    times = pd.DatetimeIndex(["2005-01-02T06", "2005-01-03T06"])
    a = extract_pooled(src, model, times, "backbone", regions)
    b = extract_pooled(src, model, times, "backbone", regions)
    assert a["pooled"].dims == ("date", "region", "latent_level", "stat", "channel")
    assert list(a["latent_level"].values) == ["surface", "atmos_1", "atmos_2", "atmos_3"]
    assert a["pooled"].shape == (2, 2, 4, 3, 64)
    np.testing.assert_array_equal(a["pooled"].values, b["pooled"].values)
    assert list(a["season"].values) == ["DJF", "DJF"]
    skipped = extract_pooled(
        src, model, times.append(pd.DatetimeIndex(["2005-03-01T06"])), "backbone", regions, skip_missing=True
    )
    assert skipped.attrs["skipped_dates"] == "2005-03-01T06" and skipped.sizes["date"] == 2


# --- synthetic store -------------------------------------------------------------------
def test_synthetic_store_schema(small_store):
    ds = xr.open_zarr(small_store)
    assert ds["latitude"].values[0] == 90 and np.all(np.diff(ds["latitude"].values) < 0)
    assert ds["longitude"].values[0] == 0 and np.all(np.diff(ds["longitude"].values) > 0)
    assert ds["geopotential"].dims == ("time", "level", "latitude", "longitude")
    assert list(ds["level"].values) == [50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000]
    assert ds["temperature"].dtype == np.float32
    for name in ("geopotential_at_surface", "land_sea_mask", "soil_type", "total_precipitation_6hr"):
        assert name in ds
    steps = np.diff(ds["time"].values[ds["time"].values >= np.datetime64("2005-01-01")])
    assert np.all(steps == np.timedelta64(6, "h"))


def test_synthetic_physics_and_storms():
    spec = SyntheticSpec(periods=(("2005-01-15", "2005-01-15"), ("2005-07-15", "2005-07-15")), seed=1)
    ds = synthetic_dataset(spec, pd.DatetimeIndex(["2005-01-15T12", "2005-07-15T12"]))
    t = ds["temperature"]
    # lapse rate: warmer near the surface than at 500 hPa everywhere
    assert bool((t.sel(level=1000) > t.sel(level=500)).all())
    # hydrostatic: geopotential increases with height
    z = ds["geopotential"].transpose("time", "level", "latitude", "longitude").values
    assert np.all(np.diff(z, axis=1) < 0)
    # seasonal cycle follows the sun: the NH mid-latitudes are warmer in July
    nh = ds["2m_temperature"].sel(latitude=slice(60, 30)).mean(("latitude", "longitude"))
    assert float(nh.sel(time="2005-07-15T12") - nh.sel(time="2005-01-15T12")) > 8
    # the jet sits further north in summer
    u = ds["u_component_of_wind"].sel(level=250).mean("longitude")
    nh = u.sel(latitude=slice(80, 10))
    lat_jet = [float(nh.latitude[int(nh.sel(time=t).argmax("latitude"))]) for t in u.time.values]
    assert lat_jet[1] > lat_jet[0] + 6


def test_synthetic_great_storm_structure():
    from aurora_xai.settings import Settings, load_config

    spec = Settings(load_config("config/config.yaml")).synthetic
    names = [s.name for s in spec.storms]
    if "great_storm_1987" not in names:
        pytest.skip("storm catalogue not configured")
    ds = synthetic_dataset(spec, pd.DatetimeIndex(["1987-10-16T00"]))
    msl = ds["mean_sea_level_pressure"].isel(time=0)
    box = msl.sel(latitude=slice(60, 40))
    box = box.where((box.longitude >= 345) | (box.longitude <= 15), drop=True)
    assert float(box.min()) < 99000  # a deep low over the Bay of Biscay / England
    wind = np.hypot(ds["10m_u_component_of_wind"], ds["10m_v_component_of_wind"]).isel(time=0)
    assert float(wind.sel(latitude=slice(60, 40)).max()) > 20


def test_synthetic_is_deterministic():
    spec = SyntheticSpec(periods=(("2005-02-01", "2005-02-02"),), seed=5)
    a = synthetic_dataset(spec)
    b = synthetic_dataset(spec)
    c = synthetic_dataset(SyntheticSpec(periods=(("2005-02-01", "2005-02-02"),), seed=6))
    assert a.identical(b)
    assert not np.array_equal(a["geopotential"].values, c["geopotential"].values)


def test_synthetic_rejects_bad_resolution():
    with pytest.raises(ValueError, match="latitudes"):
        SyntheticSpec(resolution=6.0)


# --- reader errors ---------------------------------------------------------------------
def test_missing_time_is_named(small_store):
    src = ERA5Source(str(small_store))
    with pytest.raises(KeyError, match="2005-03-01 00:00"):
        src.batch(pd.Timestamp("2005-03-01T06"))


def test_batch_layout(small_store):
    src = ERA5Source(str(small_store))
    b = src.batch(pd.Timestamp("2005-01-05T06"))
    assert b.surf_vars["msl"].shape == (1, 2, 61, 120)
    assert b.atmos_vars["t"].shape == (1, 2, 13, 61, 120)
    assert b.static_vars["lsm"].shape == (61, 120)
    assert b.metadata.time[0] == pd.Timestamp("2005-01-05T06", tz="UTC").to_pydatetime()  # aware UTC
    raw = xr.open_zarr(small_store)["mean_sea_level_pressure"].sel(time="2005-01-05T00").values
    np.testing.assert_array_equal(b.surf_vars["msl"][0, 0].numpy(), raw)


# --- dates and config --------------------------------------------------------------------
def test_dates_and_shards():
    spec = DateSpec.from_config({**section_defaults("dates"), "shard_size": 100})
    times = spec.times()
    assert len(times) == 365 and times[0] == pd.Timestamp("2005-01-01T06")
    shards = spec.shards()
    assert list(shards) == ["s000", "s001", "s002", "s003"] and len(shards["s003"]) == 65
    assert sum(len(v) for v in shard_dates(times, 1).values()) == 365
    assert season_of_month(12) == "DJF" and list(season_of_month(np.array([3, 7, 10]))) == ["MAM", "JJA", "SON"]
    with pytest.raises(ValueError, match="before dates.start"):
        DateSpec.from_config({**section_defaults("dates"), "start": "2005-02-01", "end": "2005-01-01"})


def _config():
    from aurora_xai.settings import load_config

    return load_config("config/config.yaml")


def test_check_config_names_the_key():
    cfg = _config()
    check_config(cfg)
    bad = _config()
    bad["pca"]["region"] = "atlantis"
    with pytest.raises(ConfigError, match="pca.region"):
        check_config(bad)
    bad = _config()
    bad["dates"]["end"] = "2004-01-01"
    with pytest.raises(ConfigError, match="'dates'"):
        check_config(bad)
    bad = _config()
    bad["dates"]["end"] = "2006-01-31"
    with pytest.raises(ConfigError, match="outside synthetic.periods"):
        check_config(bad)
    bad = _config()
    bad["regions"]["flipped"] = {"lat_min": 50, "lat_max": 10, "lon_min": 0, "lon_max": 10}
    with pytest.raises(ConfigError, match="regions"):
        check_config(bad)


def test_config_readme_is_generated_from_the_schema():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "tools/config_doc.py", "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_default_config_validates_against_the_schema():
    import jsonschema
    import yaml

    schema = yaml.safe_load(open("workflow/schemas/config.schema.yaml"))
    for name in ("config/config.yaml",):
        jsonschema.validate(yaml.safe_load(open(name)), schema)


def test_published_geometry_reproduces_the_defect():
    """The published reshape pools the US box from the wrong rows (near Antarctica)."""
    from aurora_xai.latents.geometry import published_token_grid

    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon)
    us = Region("us", 24, 50, 235, 295)
    grid = np.zeros((4, len(lat_c), len(lon_c), 1))
    grid[0][us.mask(lat_c, lon_c)] = 1.0  # a signal in the US on the surface level
    grid[0, -1] = 5.0  # and one at the southernmost patch row of the surface level
    true = pool_grid(grid, lat_c, lon_c, {"us": us}, area_weighted=False)[0, 0, 0, 0]
    stacked, lat_stacked = published_token_grid(grid, lat_c)
    published = pool_grid(stacked, lat_stacked, lon_c, {"us": us}, area_weighted=False)[0, 0, 0, 0]
    assert true == pytest.approx(1.0)
    assert published != pytest.approx(1.0)
    rows = np.flatnonzero(us.lat_mask(lat_stacked))
    assert len(lat_c) - 1 in rows  # the southernmost surface row is inside the "US" box


def test_model_spec_from_the_config_section():
    from aurora_xai.settings import UndeclaredSettingError, load_config

    section = {**load_config()["model"], "seed": 2, "device": "cuda"}
    assert ModelSpec.from_config(section) == ModelSpec.from_schema(seed=2)
    with pytest.raises(ValueError, match="unknown keys"):
        ModelSpec.from_config({**section, "sede": 2})
    del section["autocast"]
    with pytest.raises(UndeclaredSettingError, match="model.autocast"):
        ModelSpec.from_config(section)


def test_progress_lines_are_due_by_count_and_by_time():
    """First item, every 10th, the last, and at least once a minute (0.25 deg dates take minutes)."""
    now = [0.0]
    p = Progress(25, unit="date", every=10, seconds=60.0, clock=lambda: now[0])
    due = []
    for done in range(1, 26):
        now[0] += 1.0
        due.append(p.update(done))
    assert [i + 1 for i, d in enumerate(due) if d] == [1, 10, 20, 25]
    assert p.rate() == "1 s per date, 25 s in all"
    slow = Progress(13, unit="date", clock=lambda: now[0])
    now[0] += 121.0
    assert slow.update(1) and "121 s per date, 24 min left" == slow.rate()
    now[0] += 59.0
    assert not slow.update(2)  # 59 s since the last line, not a 10th date
    now[0] += 61.0
    assert slow.update(3)  # silence of 120 s: due
    assert Progress(3, clock=lambda: 0.0).rate() == "no item done yet"
