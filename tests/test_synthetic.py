"""The synthetic ERA5-like store (aurora_xai.data.synthetic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset


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
    spec = SyntheticSpec.from_schema(periods=(("2005-01-15", "2005-01-15"), ("2005-07-15", "2005-07-15")), seed=1)
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
    assert "great_storm_1987" in names, "config/config.yaml's storm catalogue lost great_storm_1987"
    ds = synthetic_dataset(spec, pd.DatetimeIndex(["1987-10-16T00"]))
    msl = ds["mean_sea_level_pressure"].isel(time=0)
    box = msl.sel(latitude=slice(60, 40))
    box = box.where((box.longitude >= 345) | (box.longitude <= 15), drop=True)
    assert float(box.min()) < 99000  # a deep low over the Bay of Biscay / England
    wind = np.hypot(ds["10m_u_component_of_wind"], ds["10m_v_component_of_wind"]).isel(time=0)
    assert float(wind.sel(latitude=slice(60, 40)).max()) > 20


def test_synthetic_is_deterministic():
    spec = SyntheticSpec.from_schema(periods=(("2005-02-01", "2005-02-02"),), seed=5)
    a = synthetic_dataset(spec)
    b = synthetic_dataset(spec)
    c = synthetic_dataset(SyntheticSpec.from_schema(periods=(("2005-02-01", "2005-02-02"),), seed=6))
    assert a.identical(b)
    assert not np.array_equal(a["geopotential"].values, c["geopotential"].values)


def test_synthetic_rejects_bad_resolution():
    with pytest.raises(ValueError, match="latitudes"):
        SyntheticSpec.from_schema(resolution=6.0)
