"""ERA5 readers: every schema gives the same Aurora batch; bad input fails clearly; byte economy."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.data import cds, subset
from aurora_xai.data import download as dl
from aurora_xai.data.era5 import MissingTimeError, open_source
from aurora_xai.data.files import cds_files
from aurora_xai.data.grid_conventions import check_grid
from aurora_xai.data.orientation import latitude_flip_score
from aurora_xai.data.read_bytes import measure_read_bytes
from aurora_xai.data.regrid import regrid_static
from aurora_xai.data.sources import arco_valid_span
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset
from aurora_xai.data.variables import LEVELS

SPEC = SyntheticSpec.from_schema(resolution=9.0, periods=(("2005-03-01", "2005-03-01"),), compress=False)
SAMPLES = [pd.Timestamp("2005-03-01T06"), pd.Timestamp("2005-03-01T12"), pd.Timestamp("2005-03-01T18")]
ARCO_LEVELS = [1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 125, 150, 175, 200, 225, 250, 300, 350, 400, 450, 500, 550]
ARCO_LEVELS += [600, 650, 700, 750, 775, 800, 825, 850, 875, 900, 925, 950, 975, 1000]
ATMOS = ["geopotential", "u_component_of_wind", "v_component_of_wind", "temperature", "specific_humidity"]
SURF_CDS = {
    "2m_temperature": "t2m",
    "10m_u_component_of_wind": "u10",
    "10m_v_component_of_wind": "v10",
    "mean_sea_level_pressure": "msl",
}
STATIC_CDS = {"geopotential_at_surface": "z", "land_sea_mask": "lsm", "soil_type": "slt"}
LEVEL_CDS = {
    "geopotential": "z",
    "u_component_of_wind": "u",
    "v_component_of_wind": "v",
    "temperature": "t",
    "specific_humidity": "q",
}
FLIPPED = pd.Timestamp("2005-03-01T12")


def _write_zarr(ds: xr.Dataset, path: Path, compress: bool = False) -> str:
    enc = {}
    for name in ds.data_vars:
        e = {} if compress else {"compressors": None}
        if "time" in ds[name].dims:
            e["chunks"] = (1,) + ds[name].shape[1:]
        enc[name] = e
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return str(path)


def _lon_pm180(ds: xr.Dataset) -> xr.Dataset:
    lon = ds["longitude"].values
    return ds.assign_coords(longitude=np.where(lon >= 180, lon - 360, lon)).sortby("longitude")


def _arco_like(base: xr.Dataset) -> xr.Dataset:
    """Hourly, 37 levels, padded with NaN outside the valid span, static fields per time."""
    hourly = pd.date_range("2005-02-28T22", "2005-03-02T00", freq="1h")
    valid = (hourly >= "2005-03-01T00") & (hourly <= "2005-03-01T20")
    content = synthetic_dataset(SPEC, hourly[valid])
    out = {}
    for name, da in content.data_vars.items():
        arr = np.full((len(hourly),) + (da.shape if "time" not in da.dims else da.shape[1:]), np.nan, np.float32)
        arr[valid] = da.values if "time" in da.dims else da.values[None]
        if "level" in da.dims:
            full = np.empty((len(hourly), len(ARCO_LEVELS)) + arr.shape[2:], np.float32)
            for j, lv in enumerate(ARCO_LEVELS):
                full[:, j] = arr[:, LEVELS.index(lv)] if lv in LEVELS else -1000.0 - lv
            out[name] = (("time", "level", "latitude", "longitude"), full)
        else:
            out[name] = (("time", "latitude", "longitude"), arr)
    out["vertical_velocity"] = (
        ("time", "level", "latitude", "longitude"),
        np.zeros((len(hourly), len(ARCO_LEVELS)) + arr.shape[-2:], np.float32),
    )
    ds = xr.Dataset(
        out,
        coords={
            "time": hourly,
            "level": np.array(ARCO_LEVELS, np.int64),
            "latitude": base["latitude"].values,
            "longitude": base["longitude"].values,
        },
    )
    i = int(np.flatnonzero(hourly == FLIPPED)[0])
    for name in ds.data_vars:  # one time step stored north-south mirrored, as reported for ARCO
        ds[name].values[i] = ds[name].values[i][..., ::-1, :]
    ds.attrs.update(valid_time_start="2005-03-01", valid_time_stop="2005-03-01")
    return ds


def _cds_files(base: xr.Dataset, folder: Path, new: bool) -> list[str]:
    """Single-level and pressure-level files, split in time; new or old coordinate names."""
    folder.mkdir()
    tname, lname = ("valid_time", "pressure_level") if new else ("time", "level")
    single = xr.Dataset({SURF_CDS[n]: base[n] for n in SURF_CDS})
    for n, short in STATIC_CDS.items():
        single[short] = base[n].expand_dims(time=base["time"].values).transpose("time", "latitude", "longitude")
    pres = xr.Dataset({LEVEL_CDS[n]: base[n] for n in LEVEL_CDS})
    files = []
    if new:
        pres = pres.isel(level=slice(None, None, -1)).assign_coords(level=pres["level"].values[::-1].astype(float))
        single = single.assign_coords(number=0, expver=("time", ["0001"] * base.sizes["time"]))
    else:
        single = _lon_pm180(single)
        pres["level"] = pres["level"].astype(np.int32)
    single = single.rename(time=tname)
    pres = pres.rename(time=tname, level=lname)
    single.to_netcdf(folder / "single.nc")
    files.append(str(folder / "single.nc"))
    for k, sl in enumerate((slice(0, 2), slice(2, None))):
        part = pres.isel({tname: sl})
        if k == 1:  # this file stores latitudes ascending
            part = part.isel(latitude=slice(None, None, -1))
        part.to_netcdf(folder / f"pressure_{k}.nc")
        files.append(str(folder / f"pressure_{k}.nc"))
    return files


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    base = synthetic_dataset(SPEC)
    out = {"base": base}
    out["wb2"] = _write_zarr(base, root / "wb2.zarr")
    out["ascending"] = _write_zarr(base.isel(latitude=slice(None, None, -1)), root / "ascending.zarr")
    out["pm180"] = _write_zarr(_lon_pm180(base), root / "pm180.zarr")
    out["arco"] = _write_zarr(_arco_like(base), root / "arco.zarr", compress=True)
    out["cds_new"] = _cds_files(base, root / "cds_new", new=True)
    out["cds_old"] = _cds_files(base, root / "cds_old", new=False)
    return out


def _assert_same_batch(a, b) -> None:
    for group in ("surf_vars", "atmos_vars", "static_vars"):
        da, db = getattr(a, group), getattr(b, group)
        assert list(da) == list(db), group
        for k in da:
            assert da[k].dtype == db[k].dtype == torch.float32
            assert da[k].shape == db[k].shape, (group, k)
            assert torch.equal(da[k], db[k]), (group, k)
    assert torch.equal(a.metadata.lat, b.metadata.lat)
    assert torch.equal(a.metadata.lon, b.metadata.lon)
    assert a.metadata.time == b.metadata.time
    assert tuple(a.metadata.atmos_levels) == tuple(b.metadata.atmos_levels)


# ---------------------------------------------------------------------------------------
# Same content, every schema, same batch
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,source",
    [
        ("ascending", "weatherbench2"),
        ("pm180", "weatherbench2"),
        ("wb2", "synthetic"),
        ("arco", "arco"),
        ("cds_new", "cds"),
        ("cds_old", "cds"),
    ],
)
def test_every_reader_gives_the_same_batch(stores, kind, source):
    ref = open_source("weatherbench2", stores["wb2"])
    path = stores[kind]
    if kind == "cds_new":  # a folder of files
        path = str(Path(path[0]).parent)
    src = open_source(source, path)
    for t in SAMPLES:
        _assert_same_batch(ref.batch(t), src.batch(t))
    b = ref.batch(SAMPLES[0])
    assert b.metadata.lat[0] == 90 and torch.all(b.metadata.lat.diff() < 0)
    assert torch.all(b.metadata.lon >= 0) and torch.all(b.metadata.lon < 360)
    # the synthetic content itself, as stored in the reference
    np.testing.assert_array_equal(
        b.surf_vars["msl"][0, 1].numpy(), stores["base"]["mean_sea_level_pressure"].sel(time=SAMPLES[0]).values
    )


def test_canonical_batch_layout(stores):
    src = open_source("weatherbench2", stores["wb2"], levels=(1000, 500, 850))
    b = src.batch(SAMPLES[1])
    assert b.surf_vars["2t"].shape == (1, 2, 21, 40)
    assert b.atmos_vars["t"].shape == (1, 2, 3, 21, 40)
    assert b.static_vars["z"].shape == (21, 40)
    assert b.metadata.atmos_levels == (1000, 500, 850)
    base = stores["base"]
    np.testing.assert_array_equal(
        b.atmos_vars["t"][0, 0, 2].numpy(), base["temperature"].sel(time=SAMPLES[0], level=850).values
    )


def test_cds_single_files_and_glob_and_list(stores):
    files = stores["cds_new"]
    assert cds_files(str(Path(files[0]).parent / "*.nc")) == sorted(files)
    src = open_source("cds", files)  # a list
    assert src.has_time(SAMPLES[2])
    # pressure-level z is the geopotential, single-level z the surface geopotential
    base = stores["base"]
    np.testing.assert_array_equal(src.static["z"].numpy(), base["geopotential_at_surface"].values)
    np.testing.assert_array_equal(
        src.batch(SAMPLES[0]).atmos_vars["z"][0, 1, -1].numpy(),
        base["geopotential"].sel(time=SAMPLES[0], level=1000).values,
    )


def test_cds_expver_dimension_is_refused(tmp_path, stores):
    base = stores["base"]
    ds = xr.Dataset({"t2m": base["2m_temperature"].expand_dims(expver=["0001", "0005"])})
    ds.to_netcdf(tmp_path / "mixed.nc")
    with pytest.raises(ValueError, match="expver"):
        open_source("cds", str(tmp_path / "mixed.nc"))


# ---------------------------------------------------------------------------------------
# ARCO: valid span, 37 levels, mirrored time steps
# ---------------------------------------------------------------------------------------


def test_arco_valid_span_and_missing_times(stores):
    src = open_source("arco", stores["arco"])
    assert src.store.valid == (pd.Timestamp("2005-03-01"), pd.Timestamp("2005-03-01T23:59:59"))
    # 2005-02-28 23:00 is stored (NaN padding) but outside the valid span: missing
    assert not src.has_time(pd.Timestamp("2005-03-01T05"))
    with pytest.raises(MissingTimeError, match=r"2005-02-28 23:00.*valid span 2005-03-01 00:00"):
        src.batch(pd.Timestamp("2005-03-01T05"))
    assert not src.has_time(pd.Timestamp("2005-03-02T00"))
    assert src.has_time(pd.Timestamp("2005-03-01T20"))  # hourly samples inside the span work
    assert src.batch(pd.Timestamp("2005-03-01T20")).atmos_vars["q"].shape == (1, 2, 13, 21, 40)
    assert arco_valid_span({"valid_time_start": "1940-01-01", "valid_time_stop": "2025-12-31T18:00"})[
        1
    ] == pd.Timestamp("2025-12-31T18:00")
    with pytest.raises(KeyError, match="valid_time_stop"):
        arco_valid_span({"valid_time_start": "1940-01-01"})


def test_arco_mirrored_time_step_is_detected_and_flipped(stores):
    ref = open_source("weatherbench2", stores["wb2"])
    src = open_source("arco", stores["arco"])
    _assert_same_batch(ref.batch(FLIPPED), src.batch(FLIPPED))
    assert src.flipped == [FLIPPED]
    # without the check the mirrored step comes through (so the check is what fixes it)
    raw = open_source("arco", stores["arco"], orientation_check="off")
    assert not torch.equal(raw.batch(FLIPPED).surf_vars["2t"], ref.batch(FLIPPED).surf_vars["2t"])
    # a listed time is flipped without checking
    listed = open_source("arco", stores["arco"], orientation_check="off", flipped_times=[FLIPPED])
    _assert_same_batch(ref.batch(FLIPPED), listed.batch(FLIPPED))


def test_flip_score_separates_orientations(stores):
    base = stores["base"]
    zs = base["geopotential_at_surface"].values
    lat = base["latitude"].values
    for t in base["time"].values:
        t2m = base["2m_temperature"].sel(time=t).values
        direct, mirrored = latitude_flip_score(t2m, zs, lat)
        assert direct < -0.5 and abs(mirrored) < 0.3
        d2, m2 = latitude_flip_score(t2m[::-1], zs, lat)
        assert m2 < -0.5 and abs(d2) < 0.3
    # no false alarm on an unflipped store with the check forced on
    src = open_source("weatherbench2", stores["wb2"], orientation_check="on")
    for t in SAMPLES:
        src.batch(t)
    assert src.flipped == []


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def test_missing_time_names_the_time_and_skip_mode(stores):
    src = open_source("weatherbench2", stores["wb2"])
    with pytest.raises(MissingTimeError, match="2005-03-02 06:00"):
        src.batch(pd.Timestamp("2005-03-02T06"))
    with pytest.raises(MissingTimeError, match="2005-02-28 18:00"):  # the history step
        src.batch(pd.Timestamp("2005-03-01T00"))
    skip = open_source("weatherbench2", stores["wb2"], on_missing="skip")
    assert not skip.has_time(pd.Timestamp("2005-03-02T06")) and skip.has_time(SAMPLES[0])
    with pytest.raises(ValueError, match="on_missing"):
        open_source("weatherbench2", stores["wb2"], on_missing="ignore")


def test_nan_names_variable_level_and_time(tmp_path, stores):
    ds = stores["base"].copy(deep=True)
    ds["temperature"].loc[{"time": SAMPLES[0], "level": 500}] = np.nan
    src = open_source("weatherbench2", _write_zarr(ds, tmp_path / "nan.zarr"))
    with pytest.raises(ValueError, match=r"'temperature', level 500 hPa, time 2005-03-01 06:00"):
        src.batch(SAMPLES[0])
    with pytest.raises(ValueError, match=r"'temperature', level 500 hPa, time 2005-03-01 06:00"):
        src.batch(SAMPLES[1])  # as history step


def test_unknown_variable_lists_available(tmp_path, stores):
    with pytest.raises(KeyError, match=r"'t2m_typo'.*available: \[.*'2m_temperature'"):
        open_source("weatherbench2", stores["wb2"], names={"surf": {"2t": "t2m_typo"}})
    with pytest.raises(ValueError, match="unknown Aurora variable"):
        open_source("weatherbench2", stores["wb2"], names={"surf": {"sst": "sea_surface_temperature"}})
    ds = stores["base"].drop_vars("specific_humidity")
    with pytest.raises(KeyError, match=r"specific_humidity.*available"):
        open_source("weatherbench2", _write_zarr(ds, tmp_path / "noq.zarr"))
    ds = stores["base"].drop_vars("soil_type")
    with pytest.raises(KeyError, match=r"static variable 'soil_type'.*available"):
        open_source("weatherbench2", _write_zarr(ds, tmp_path / "noslt.zarr"))
    with pytest.raises(KeyError, match=r"levels \[925\]"):
        open_source("weatherbench2", _write_zarr(stores["base"].drop_sel(level=925), tmp_path / "nolev.zarr"))


def test_grid_the_model_cannot_take(tmp_path, stores):
    check_grid(721, 1440)
    check_grid(720, 1440)
    with pytest.raises(ValueError, match="19 latitudes.*crop the store to 16"):
        open_source("weatherbench2", _write_zarr(stores["base"].isel(latitude=slice(0, 19)), tmp_path / "g1.zarr"))
    with pytest.raises(ValueError, match="39 longitudes"):
        open_source("weatherbench2", _write_zarr(stores["base"].isel(longitude=slice(0, 39)), tmp_path / "g2.zarr"))
    with pytest.raises(ValueError, match="data.source"):
        open_source("grib", stores["wb2"])
    with pytest.raises(FileNotFoundError, match="no store"):
        open_source("weatherbench2", str(tmp_path / "absent.zarr"))


# ---------------------------------------------------------------------------------------
# Static fields from a separate file, regridded once
# ---------------------------------------------------------------------------------------


def test_static_from_separate_file_regridded_once(tmp_path, stores, caplog):
    fine = SyntheticSpec.from_schema(resolution=4.5, periods=SPEC.periods)
    static = synthetic_dataset(fine, pd.DatetimeIndex([]))[["geopotential_at_surface", "land_sea_mask", "soil_type"]]
    cds_static = _lon_pm180(static.rename(geopotential_at_surface="z", land_sea_mask="lsm", soil_type="slt"))
    cds_static.to_netcdf(tmp_path / "static.nc")
    with caplog.at_level(logging.INFO, logger="aurora_xai.data.static"):
        src = open_source("weatherbench2", stores["wb2"], static_path=str(tmp_path / "static.nc"))
        batches = [src.batch(t) for t in SAMPLES]
    assert sum("regridding static" in r.message for r in caplog.records) == 3  # once per field, not per date
    for b in batches[1:]:
        for k in ("z", "lsm", "slt"):
            assert b.static_vars[k] is batches[0].static_vars[k]
    # the 9-degree points are a subset of the 4.5-degree grid: regridding is exact there
    ref = open_source("weatherbench2", stores["wb2"]).static
    coarse = static.sel(latitude=ref_lat(stores), longitude=stores["base"]["longitude"].values)
    np.testing.assert_array_equal(src.static["lsm"].numpy(), coarse["land_sea_mask"].values)
    np.testing.assert_array_equal(src.static["slt"].numpy(), coarse["soil_type"].values)
    assert set(np.unique(src.static["slt"].numpy())) <= set(np.unique(static["soil_type"].values))
    assert ref["z"].shape == src.static["z"].shape


def ref_lat(stores):
    return stores["base"]["latitude"].values


def test_regrid_static_is_bilinear_and_periodic():
    lat = np.linspace(90, -90, 19)
    lon = np.arange(36) * 10.0
    field = xr.DataArray(
        np.add.outer(2.0 * lat, np.cos(np.radians(lon))),
        dims=("latitude", "longitude"),
        coords={"latitude": lat, "longitude": lon},
    )
    tlat = np.array([85.0, 3.0, -47.5])
    tlon = np.array([355.0, 5.0, 123.0])
    out = regrid_static(field, tlat, tlon)
    c = np.cos(np.radians(lon))
    expect_lon = np.interp(tlon, np.append(lon, 360.0), np.append(c, c[0]))
    np.testing.assert_allclose(out, np.add.outer(2.0 * tlat, expect_lon), rtol=1e-6)
    near = regrid_static(field, tlat, tlon, method="nearest")
    assert near[0, 0] == pytest.approx(2.0 * 90 + 1.0)  # 355 is nearest to 0 (wraps)


# ---------------------------------------------------------------------------------------
# Bytes read against bytes needed
# ---------------------------------------------------------------------------------------


def test_bytes_read_within_ten_percent_of_needed(stores):
    base = stores["base"]
    assert {"total_precipitation_6hr", "sea_surface_temperature"} <= set(base.data_vars)  # extra variables
    src = open_source("weatherbench2", stores["wb2"])
    needed_fields = 4 + 5 * 13
    assert src.bytes_needed() == 2 * 4 * 21 * 40 * needed_fields
    src.batch(SAMPLES[0])  # warm-up: imports, codec set-up
    read, needed = measure_read_bytes(src, SAMPLES[1])
    assert needed <= read <= 1.1 * needed, (read, needed)
    # reading every variable at the two times would cost the extra variables on top
    used = {*src.names["surf"].values(), *src.names["atmos"].values()}
    extra = sum(2 * da[0].nbytes for n, da in base.data_vars.items() if "time" in da.dims and n not in used)
    assert extra > 0 and read < needed + extra


def test_source_from_the_data_settings(stores):
    from aurora_xai.settings import Settings, load_config

    cfg = load_config(
        {"data": {"source": "cds", "path": stores["cds_old"], "levels": [500, 850], "on_missing": "skip"}}
    )
    src = Settings(cfg).data.open(history_hours=6)
    assert src.levels == (500, 850) and src.on_missing == "skip" and src.source == "cds"


# ---------------------------------------------------------------------------------------
# Download: the study's subset into a local WeatherBench 2 store, CDS requests
# ---------------------------------------------------------------------------------------


def test_study_times_are_targets_and_history():
    from aurora_xai.dates import DateSpec
    from aurora_xai.sections import section_defaults

    times = dl.study_times(
        DateSpec.from_config({**section_defaults("dates"), "start": "2005-01-30", "end": "2005-02-01"})
    )
    assert list(times.strftime("%m-%d %H")) == ["01-30 00", "01-30 06", "01-31 00", "01-31 06", "02-01 00", "02-01 06"]


def test_download_subset_from_a_wb2_schema_store(tmp_path, stores):
    times = [pd.Timestamp("2005-03-01T00"), pd.Timestamp("2005-03-01T06")]
    dst = subset.download_subset(stores["pm180"], tmp_path / "subset.zarr", times, levels=(500, 850, 1000))
    out = xr.open_zarr(dst)
    assert sorted(out.data_vars) == sorted(
        [
            "2m_temperature",
            "10m_u_component_of_wind",
            "10m_v_component_of_wind",
            "mean_sea_level_pressure",
            *ATMOS,
            "geopotential_at_surface",
            "land_sea_mask",
            "soil_type",
        ]
    )
    assert list(out["level"].values) == [500, 850, 1000]
    assert list(pd.DatetimeIndex(out["time"].values)) == times
    assert out["longitude"].values[0] == 0 and out["latitude"].values[0] == 90
    ref = open_source("weatherbench2", stores["wb2"], levels=(500, 850, 1000))
    _assert_same_batch(
        ref.batch(SAMPLES[0]), open_source("weatherbench2", str(dst), levels=(500, 850, 1000)).batch(SAMPLES[0])
    )
    assert out.attrs["source_path"] == stores["pm180"]
    # missing times: error naming them, or skipped and recorded
    with pytest.raises(MissingTimeError, match="2005-03-05 06:00"):
        subset.download_subset(stores["wb2"], tmp_path / "bad.zarr", [pd.Timestamp("2005-03-05T06")], levels=(500,))
    assert not (tmp_path / "bad.zarr").exists()
    dst2 = subset.download_subset(
        stores["wb2"], tmp_path / "skip.zarr", times + [pd.Timestamp("2005-03-05T06")], levels=(500,), on_missing="skip"
    )
    assert xr.open_zarr(dst2).attrs["skipped_times"] == "2005-03-05T06:00"


def test_download_subset_from_cds_files(tmp_path, stores):
    times = pd.DatetimeIndex(["2005-03-01T06", "2005-03-01T12"])
    dst = subset.download_subset(stores["cds_old"], tmp_path / "cds.zarr", times, levels=LEVELS, source="cds")
    ref = open_source("weatherbench2", stores["wb2"])
    _assert_same_batch(ref.batch(SAMPLES[1]), open_source("weatherbench2", str(dst)).batch(SAMPLES[1]))


def _request_times(r) -> list[pd.Timestamp]:
    req = r["request"]
    return [
        pd.Timestamp(f"{y}-{m}-{d}T{h}")
        for y in req["year"]
        for m in req["month"]
        for d in req["day"]
        for h in req["time"]
    ]


def test_cds_requests_fetch_exactly_the_study_times():
    from aurora_xai.dates import DateSpec
    from aurora_xai.sections import section_defaults

    times = dl.study_times(
        DateSpec.from_config({**section_defaults("dates"), "start": "2005-01-30", "end": "2005-02-02"})
    )
    times = times.append(pd.DatetimeIndex(["2005-02-10T12"]))
    reqs = cds.cds_requests(times, levels=(500, 1000), target_dir="raw")
    for r in reqs:
        req = r["request"]
        assert req["product_type"] == ["reanalysis"] and req["data_format"] == "netcdf"
        if r["dataset"] == "reanalysis-era5-pressure-levels":
            assert req["pressure_level"] == ["500", "1000"]
            assert req["variable"] == [
                "geopotential",
                "u_component_of_wind",
                "v_component_of_wind",
                "temperature",
                "specific_humidity",
            ]
        assert r["target"].startswith("raw/") and r["target"].endswith(".nc")
    static = [r for r in reqs if r["kind"] == "static"]
    assert len(static) == 1 and static[0]["request"]["variable"] == ["geopotential", "land_sea_mask", "soil_type"]
    assert static[0]["request"]["time"] == ["00:00"]
    for ds_name in ("reanalysis-era5-single-levels", "reanalysis-era5-pressure-levels"):
        fetched = [t for r in reqs if r["dataset"] == ds_name and r["kind"] != "static" for t in _request_times(r)]
        assert sorted(fetched) == list(times), ds_name  # exactly the study's times, each once
    assert len({r["target"] for r in reqs}) == len(reqs)


def test_retrieve_cds_with_a_stand_in_client(tmp_path):
    calls = []

    class Client:
        def retrieve(self, dataset, request, target):
            calls.append((dataset, target))
            Path(target).write_text("x")

    reqs = cds.cds_requests(pd.DatetimeIndex(["2005-03-01T00", "2005-03-01T06"]), (500,), target_dir=str(tmp_path))
    # what the client wrote is not data: refused, never kept under the final name (the
    # resume after good downloads is tested in test_cds_inputs.py)
    with pytest.raises(ValueError, match=r"era5_single_200503_0000\.nc.*it starts with 'x'"):
        cds.retrieve_cds(reqs, client=Client())
    assert len(calls) == 1 and not any(Path(r["target"]).exists() for r in reqs)
