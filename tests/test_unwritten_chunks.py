"""Inputs that would be silently wrong: zarr chunks never written, fill values that are real
values, time axes too imprecise to hold their times, and the noise and numpy reprs of messages.

Every store here is a real zarr (v2 and v3) or NetCDF file written by the test; chunks
"never written" are either deleted after a complete write (a copy that died) or skipped
by region writes (a region write that did not happen).
"""

from __future__ import annotations

import logging
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from presets import US_BOX

from aurora_xai.data.era5 import MissingTimeError, open_source
from aurora_xai.data.files import PartSource
from aurora_xai.data.sources import open_store
from aurora_xai.data.store import UnwrittenChunksError, _ChunkIndex
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset
from aurora_xai.storms.labels import daily_max_wind

SPEC = SyntheticSpec.from_schema(
    resolution=9.0, periods=(("2005-03-01", "2005-03-03"),), extra_variables=False, compress=False
)
GAP = pd.Timestamp("2005-03-02T12")  # the step whose chunks are never written
AFTER = GAP + pd.Timedelta(hours=6)  # a sample whose history step is GAP


@pytest.fixture(scope="module")
def base() -> xr.Dataset:
    return synthetic_dataset(SPEC)


def _encoding(ds: xr.Dataset, fmt: int, fill) -> dict:
    enc = {}
    for name in ds.data_vars:
        e: dict = {"compressors": None}
        if "time" in ds[name].dims:
            e["chunks"] = (1,) + ds[name].shape[1:]
            e["fill_value" if fmt == 3 else "_FillValue"] = fill
        enc[name] = e
    return enc


def _write(ds: xr.Dataset, path: Path, fmt: int = 3, fill=0.0, consolidated: bool = True) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's note that v3 consolidated metadata is not in the spec
        ds.to_zarr(path, mode="w", zarr_format=fmt, consolidated=consolidated, encoding=_encoding(ds, fmt, fill))
    return str(path)


def _time_vars(ds: xr.Dataset, only=None) -> list[str]:
    return [str(n) for n in ds.data_vars if "time" in ds[n].dims and (only is None or n in only)]


def _drop_step(path: str, ds: xr.Dataset, fmt: int, t: pd.Timestamp, only=None) -> None:
    """Delete the chunks of step ``t`` (a copy that died before writing them)."""
    i = int(np.flatnonzero(pd.DatetimeIndex(ds["time"].values) == t)[0])
    for name in _time_vars(ds, only):
        if fmt == 3:
            shutil.rmtree(Path(path) / name / "c" / str(i))
        else:
            for f in (Path(path) / name).glob(f"{i}.*"):
                f.unlink()


def _region_store(ds: xr.Dataset, path: Path, fmt: int, skip: pd.Timestamp) -> str:
    """Metadata first, then one region write per time step; the one of ``skip`` never happens."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.chunk({"time": 1}).to_zarr(
            path, mode="w", zarr_format=fmt, compute=False, consolidated=True, encoding=_encoding(ds, fmt, 0.0)
        )
    timed = ds[_time_vars(ds)].drop_vars(["latitude", "longitude", "level"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, t in enumerate(pd.DatetimeIndex(ds["time"].values)):
            if t != skip:
                timed.isel(time=slice(i, i + 1)).to_zarr(path, region={"time": slice(i, i + 1)})
        # the static fields, written whole
        ds[[n for n in ds.data_vars if "time" not in ds[n].dims]].to_zarr(path, mode="a")
    return str(path)


# ---------------------------------------------------------------------------------------
# Chunks never written
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [3, 2])
@pytest.mark.parametrize("how", ["deleted", "region"])
def test_a_step_never_written_is_missing_not_zero(base, tmp_path, fmt, how):
    if how == "deleted":
        path = _write(base, tmp_path / "s.zarr", fmt)
        _drop_step(path, base, fmt, GAP)
    else:
        path = _region_store(base, tmp_path / "s.zarr", fmt, GAP)
    ref = open_source("weatherbench2", _write(base, tmp_path / "ref.zarr", fmt))
    src = open_source("weatherbench2", path)
    assert src.has_time(AFTER)  # the time is on the axis: only its chunks are absent
    with pytest.raises(MissingTimeError) as err:
        src.batch(AFTER)
    msg = str(err.value)
    assert "2005-03-02 12:00" in msg and "never written" in msg and "fill value 0" in msg
    assert "on_missing: skip" in msg and "'" in msg  # names a variable
    with pytest.raises(MissingTimeError, match="never written"):
        src.batch(GAP)
    # the steps around it are read exactly as in the complete store
    good = pd.Timestamp("2005-03-02T06")
    assert np.array_equal(src.read_fields(good)["temperature"], ref.read_fields(good)["temperature"])
    # skipped and recorded under data.on_missing: skip
    skip = open_source("weatherbench2", path, on_missing="skip")
    out = skip.batches([AFTER, good], skip_empty=True)
    assert out[0] is None and out[1] is not None
    reason = skip.missing_reason(AFTER)
    assert reason.startswith("time 2005-03-02 12:00 is missing data") and "fill value 0" in reason
    assert list(skip.empty_steps) == [GAP]
    # the raw steps a download copies: the step reads as NaN, never as 0
    raw = skip.read_steps([good, GAP], skip_empty=True)
    assert np.isnan(raw["2m_temperature"][1]).all() and np.isfinite(raw["2m_temperature"][0]).all()


def test_the_store_itself_refuses_unwritten_chunks(base, tmp_path):
    path = _write(base, tmp_path / "s.zarr", 3)
    _drop_step(path, base, 3, GAP, only=["mean_sea_level_pressure"])
    store = open_store("weatherbench2", path)
    with pytest.raises(UnwrittenChunksError, match=r"'mean_sea_level_pressure' at time 2005-03-02 12:00"):
        store.read("mean_sea_level_pressure", [GAP])
    ok = store.read("2m_temperature", [GAP])  # other variables are complete
    assert np.isfinite(ok).all() and ok.min() > 150


def test_one_variable_never_written_is_a_missing_step_naming_it(base, tmp_path):
    path = _write(base, tmp_path / "s.zarr", 3)
    _drop_step(path, base, 3, GAP, only=["specific_humidity"])
    src = open_source("weatherbench2", path)
    with pytest.raises(MissingTimeError, match=r"chunks of 'specific_humidity' at time 2005-03-02 12:00"):
        src.batch(GAP)


@pytest.mark.parametrize("fmt", [3, 2])
def test_labels_do_not_read_unwritten_chunks_as_a_calm_day(base, tmp_path, fmt):
    path = _write(base, tmp_path / "s.zarr", fmt)
    _drop_step(path, base, fmt, GAP, only=["10m_u_component_of_wind", "10m_v_component_of_wind"])
    days = pd.date_range("2005-03-01T12", "2005-03-03T12", freq="D")
    with pytest.raises(MissingTimeError, match=r"2005-03-02 12:00 .*never written.*fill value 0"):
        daily_max_wind(open_source("weatherbench2", path), US_BOX, days)
    skip = open_source("weatherbench2", path, on_missing="skip")
    wind, skipped = daily_max_wind(skip, US_BOX, days)
    assert skipped == [GAP] and GAP not in wind.index and (wind > 0).all()
    assert "never written" in skip.missing_reason(GAP, history=False)
    # read_box straight: a block inside the unwritten chunk is refused, not 0 m/s
    rows, cols = np.arange(3, 6), np.arange(10, 14)
    with pytest.raises(MissingTimeError, match="never written"):
        open_source("weatherbench2", path).read_box("10u", [GAP], rows, cols)


def test_the_remote_path_asks_the_store_for_the_keys_read(base, tmp_path):
    """Remote stores are not listed whole: the keys of the steps read are asked for (fsspec store)."""
    import zarr

    path = _write(base, tmp_path / "s.zarr", 3)
    _drop_step(path, base, 3, GAP)
    group = zarr.open_group(zarr.storage.FsspecStore.from_url(f"file://{path}", read_only=True), mode="r")
    remote = _ChunkIndex(PartSource(path, group, remote=True))
    local = _ChunkIndex(PartSource(path, zarr.open_group(path, mode="r")))
    gap = int(np.flatnonzero(pd.DatetimeIndex(base["time"].values) == GAP)[0])
    pos = np.arange(base.sizes["time"])
    for index in (remote, local):
        lack, per_step = index.unwritten("temperature", pos)
        assert lack == {gap: 1} and per_step == 1
        assert index.fill_value("temperature") == 0.0 and type(index.fill_value("temperature")) is float
    assert "temperature" in local._listed and not remote._listed


def test_large_local_arrays_are_asked_for_the_keys_read(base, tmp_path, monkeypatch):
    from aurora_xai.data import store as readers

    path = _write(base, tmp_path / "s.zarr", 2)
    _drop_step(path, base, 2, GAP)
    monkeypatch.setattr(readers, "LIST_AT_MOST", 4)  # fewer keys than the array has: no listing
    src = open_source("weatherbench2", path, on_missing="skip")
    assert src.batches([AFTER], skip_empty=True) == [None] and list(src.empty_steps) == [GAP]
    assert not src.store._chunks[0]._listed


def test_chunk_listing_costs_little_against_a_read(base, tmp_path):
    """One listing per variable and store; measured against reading a sample."""
    path = _write(base, tmp_path / "s.zarr", 3)
    src = open_source("weatherbench2", path)
    times = [pd.Timestamp("2005-03-02T00"), pd.Timestamp("2005-03-02T06")]
    t0 = time.perf_counter()
    src.read_steps(times)  # lists each variable once
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):
        src.read_steps(times)
    later = (time.perf_counter() - t0) / 3
    index = src.store._chunks[0]
    assert set(index._listed) >= {"2m_temperature", "temperature"}
    assert first < 10 * later + 0.5  # listing is not a multiple of the read


# ---------------------------------------------------------------------------------------
# Plausibility on every read, declared units included
# ---------------------------------------------------------------------------------------


def test_zeros_that_were_written_are_refused_by_the_plausible_bands(base, tmp_path):
    ds = base.copy(deep=True)
    ds["mean_sea_level_pressure"].loc[{"time": GAP}] = 0.0  # written, declared Pa, but 0
    assert ds["mean_sea_level_pressure"].attrs.get("units")
    src = open_source("weatherbench2", _write(ds, tmp_path / "s.zarr", 3, fill=np.nan))
    with pytest.raises(ValueError, match=r"'mean_sea_level_pressure'.*time 2005-03-02 12:00.*declared units") as err:
        src.batch(GAP)
    assert "0 .. 0 Pa" in str(err.value)


# ---------------------------------------------------------------------------------------
# A fill value that is a real value (zarr v2 land-sea mask, ocean 0)
# ---------------------------------------------------------------------------------------


def _static_store(base: xr.Dataset, path: Path, lsm_chunks=None) -> str:
    enc = {n: {"compressors": None} for n in base.data_vars}
    enc["land_sea_mask"]["_FillValue"] = 0.0
    if lsm_chunks:
        enc["land_sea_mask"]["chunks"] = lsm_chunks
    base.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return str(path)


def test_land_sea_mask_with_fill_value_zero_is_read_as_stored(base, tmp_path, caplog):
    assert (base["land_sea_mask"].values == 0).any()
    path = _static_store(base, tmp_path / "s.zarr")
    with caplog.at_level(logging.WARNING, logger="aurora_xai.data.static"):
        src = open_source("weatherbench2", path)
    assert np.array_equal(src.static_arrays["lsm"], base["land_sea_mask"].values.astype(np.float32))
    (msg,) = [r.getMessage() for r in caplog.records if "land_sea_mask" in r.getMessage()]
    assert "fill value" in msg and "hold 0" in msg and "every chunk" in msg


def test_land_sea_mask_fill_value_with_chunks_never_written_names_the_fill_value(base, tmp_path):
    ny = base.sizes["latitude"]
    path = _static_store(base, tmp_path / "s.zarr", lsm_chunks=(ny // 2 + 1, base.sizes["longitude"]))
    (Path(path) / "land_sea_mask" / "1.0").unlink()
    with pytest.raises(ValueError) as err:
        open_source("weatherbench2", path)
    msg = str(err.value)
    assert "'land_sea_mask'" in msg and "fill value" in msg and "never written" in msg
    assert "mask_and_scale=False" in msg and "NaN or inf" not in msg


def test_netcdf_land_sea_mask_declaring_fill_value_zero_names_it(base, tmp_path):
    nc = tmp_path / "static.nc"
    static = xr.Dataset({"lsm": base["land_sea_mask"], "z": base["geopotential_at_surface"], "slt": base["soil_type"]})
    static.to_netcdf(nc, encoding={"lsm": {"_FillValue": 0.0}})
    store = _write(base, tmp_path / "s.zarr", 3, fill=np.nan)
    with pytest.raises(ValueError, match=r"'land_sea_mask'.*hold 0, the fill value.*mask_and_scale=False"):
        open_source("weatherbench2", store, static_path=str(nc))


# ---------------------------------------------------------------------------------------
# Time axes with too little precision
# ---------------------------------------------------------------------------------------


def _float_time_store(base: xr.Dataset, path: Path) -> str:
    enc = _encoding(base, 3, np.nan)
    enc["time"] = {"units": "seconds since 1970-01-01", "dtype": "float32"}
    base.to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=enc)
    return str(path)


def test_float32_seconds_are_snapped_to_the_requested_times(base, tmp_path, caplog):
    path = _float_time_store(base, tmp_path / "f32.zarr")
    raw = xr.open_zarr(path, consolidated=False, chunks=None)["time"].values
    assert (pd.DatetimeIndex(raw) != pd.DatetimeIndex(base["time"].values)).any()  # the quirk is real
    with caplog.at_level(logging.WARNING, logger="aurora_xai.data.coords"):
        src = open_source("weatherbench2", path)
    ref = open_source("weatherbench2", _write(base, tmp_path / "ref.zarr", 3, fill=np.nan))
    assert list(src._time_index) == list(ref._time_index)
    a, b = src.read_fields(AFTER), ref.read_fields(AFTER)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    msgs = [r.getMessage() for r in caplog.records if "stored time" in r.getMessage()]
    assert msgs and "float32" in msgs[0] and "seconds since 1970-01-01" in msgs[0]
    assert "stored time 2005-03-01 06:00:32 read as 2005-03-01 06:00" in msgs[0]


def test_float32_seconds_refused_on_request(base, tmp_path):
    path = _float_time_store(base, tmp_path / "f32.zarr")
    with pytest.raises(ValueError) as err:
        open_source("weatherbench2", path, imprecise_times="error")
    msg = str(err.value)
    assert "stored time 2005-03-01 06:00:32" in msg and "float32" in msg and "seconds since 1970-01-01" in msg
    assert "stands for 2005-03-01 06:00" in msg


def test_imprecise_time_axis_of_a_cds_netcdf_file(base, tmp_path):
    nc = tmp_path / "single.nc"
    ds = xr.Dataset({"t2m": base["2m_temperature"]}).rename(time="valid_time")
    ds.to_netcdf(nc, encoding={"valid_time": {"units": "seconds since 1900-01-01", "dtype": "float32"}})
    raw = xr.open_dataset(nc)["valid_time"].values
    assert (pd.DatetimeIndex(raw) != pd.DatetimeIndex(base["time"].values)).any()
    store = open_store("cds", str(nc))
    assert list(store.times("2m_temperature")) == list(pd.DatetimeIndex(base["time"].values))
    with pytest.raises(ValueError, match=r"float32 in 'seconds since 1900-01-01'"):
        open_store("cds", str(nc), imprecise_times="error").times("2m_temperature")


def test_imprecise_times_setting_is_plumbed():
    from aurora_xai.settings import DataSettings, load_config

    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(repo / "config/config.yaml")
    assert cfg["data"]["imprecise_times"] == "snap"
    assert DataSettings.from_config({**cfg["data"], "imprecise_times": "error"}).imprecise_times == "error"
    with pytest.raises(ValueError, match="data.imprecise_times"):
        open_source("weatherbench2", "unused", imprecise_times="round")


# ---------------------------------------------------------------------------------------
# Unconsolidated stores open quietly; messages print plain numbers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("consolidated", [False, True])
def test_stores_open_without_warnings(base, tmp_path, fmt, consolidated):
    path = _write(base, tmp_path / "s.zarr", fmt, fill=np.nan, consolidated=consolidated)
    assert (Path(path) / ".zmetadata").exists() == (consolidated and fmt == 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        src = open_source("weatherbench2", path)
        src.read_fields(AFTER)


def test_nan_messages_print_plain_indices_and_coordinates(base, tmp_path):
    ds = base.copy(deep=True)
    ds["temperature"].loc[{"time": GAP, "level": 500, "latitude": 45.0, "longitude": 270.0}] = np.nan
    src = open_source("weatherbench2", _write(ds, tmp_path / "s.zarr", 3, fill=np.nan))
    with pytest.raises(ValueError) as err:
        src.batch(GAP)
    msg = str(err.value)
    r = int(np.flatnonzero(src.lat == 45.0)[0])
    c = int(np.flatnonzero(src.lon == 270.0)[0])
    assert f"grid index ({r}, {c}), latitude 45, longitude 270" in msg
    assert "level 500 hPa" in msg and "np." not in msg
