"""Large data moves with dask: lazy reads, the parallel copy, resumption, the lazy climatology."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.data import subset
from aurora_xai.data.era5 import ERA5Source, MissingTimeError, open_source
from aurora_xai.data.lazy import lazy_steps, step_bytes, step_groups
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset
from aurora_xai.perturbation.apply import climatology_fill

torch.set_num_threads(1)

SPEC = SyntheticSpec.from_schema(resolution=9.0, periods=(("2005-03-01", "2005-03-03"),), compress=False)
TIMES = SPEC.times()  # 12 six-hourly steps
LEVELS = (250, 500, 850)
MIRRORED = pd.Timestamp("2005-03-02T06")
SURF_CDS = {"2m_temperature": "t2m", "10m_u_component_of_wind": "u10", "10m_v_component_of_wind": "v10"}
SURF_CDS["mean_sea_level_pressure"] = "msl"
STATIC_CDS = {"geopotential_at_surface": "z", "land_sea_mask": "lsm", "soil_type": "slt"}
LEVEL_CDS = {"geopotential": "z", "u_component_of_wind": "u", "v_component_of_wind": "v", "temperature": "t"}
LEVEL_CDS["specific_humidity"] = "q"


def _write_zarr(ds: xr.Dataset, path: Path, time_chunk: int = 1) -> str:
    enc = {}
    for name in ds.data_vars:
        enc[name] = {"compressors": None}
        if "time" in ds[name].dims:
            enc[name]["chunks"] = (time_chunk,) + ds[name].shape[1:]
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return str(path)


def _mirrored_arco(base: xr.Dataset) -> xr.Dataset:
    """The base store with one time step written north-south mirrored, as reported for ARCO."""
    ds = base.copy(deep=True)
    i = int(np.flatnonzero(ds["time"].values == np.datetime64(MIRRORED))[0])
    for name in ds.data_vars:
        if "time" in ds[name].dims:
            ds[name].values[i] = ds[name].values[i][..., ::-1, :]
    ds.attrs.update(valid_time_start="2005-03-01", valid_time_stop="2005-03-03")
    return ds


def _cds_files(base: xr.Dataset, folder: Path) -> list[str]:
    """A single-level file and two pressure-level files split in time (CDS names)."""
    folder.mkdir()
    single = xr.Dataset({SURF_CDS[n]: base[n] for n in SURF_CDS})
    for n, short in STATIC_CDS.items():
        single[short] = base[n].expand_dims(time=base["time"].values).transpose("time", "latitude", "longitude")
    pres = xr.Dataset({LEVEL_CDS[n]: base[n] for n in LEVEL_CDS})
    files = [str(folder / "single.nc")]
    single.to_netcdf(files[0])
    for k, sl in enumerate((slice(0, 5), slice(5, None))):
        files.append(str(folder / f"pressure_{k}.nc"))
        pres.isel(time=sl).to_netcdf(files[-1])
    return files


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask_stores")
    base = synthetic_dataset(SPEC)
    return {
        "base": base,
        "wb2": _write_zarr(base, root / "wb2.zarr"),
        "wb2_chunk3": _write_zarr(base, root / "wb2_chunk3.zarr", time_chunk=3),
        "arco": _write_zarr(_mirrored_arco(base), root / "arco.zarr"),
        "cds": _cds_files(base, root / "cds"),
    }


def _assert_same_fields(lazy: xr.Dataset, eager: dict[str, np.ndarray], chunks: tuple[int, ...]) -> None:
    """``lazy`` (dask-backed, time chunks ``chunks``) computed in threads equals ``eager``."""
    assert sorted(lazy.data_vars) == sorted(eager)
    for name in eager:
        assert lazy[name].dtype == np.float32 and lazy[name].chunks[0] == chunks, name
    got = lazy.compute(scheduler="threads", num_workers=3)
    for name, arr in eager.items():
        assert got[name].shape == arr.shape, name
        np.testing.assert_array_equal(got[name].values, arr, err_msg=name)


# ---------------------------------------------------------------------------------------
# Lazy reads
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,source,group_bytes,chunks",
    [
        ("wb2", "weatherbench2", 1, (1, 1, 1, 1, 1, 1)),  # one stored chunk per group
        ("wb2", "weatherbench2", None, (6,)),  # joined up to GROUP_BYTES
        ("wb2_chunk3", "weatherbench2", 1, (2, 2, 1, 1)),  # stored chunks are never split
        ("cds", "cds", 1, (1, 1, 1, 1, 1, 1)),
    ],
)
def test_lazy_steps_equal_read_steps(stores, kind, source, group_bytes, chunks):
    times = TIMES[[1, 2, 4, 5, 6, 10]]  # several in one stored chunk, some chunks skipped
    src = open_source(source, stores[kind], levels=LEVELS)
    lazy = lazy_steps(src, times) if group_bytes is None else lazy_steps(src, times, group_bytes=group_bytes)
    assert list(lazy["level"].values) == list(LEVELS)
    assert lazy["latitude"].values[0] == 90 and np.all(np.diff(lazy["longitude"].values) > 0)
    _assert_same_fields(lazy, src.read_steps(times), chunks)


def test_lazy_steps_flip_mirrored_steps_back(stores):
    ref = open_source("weatherbench2", stores["wb2"], levels=LEVELS)
    src = open_source("arco", stores["arco"], levels=LEVELS)
    times = TIMES[3:8]
    lazy = lazy_steps(src, times, group_bytes=2 * step_bytes(src))
    assert src.flipped == []  # nothing read yet
    _assert_same_fields(lazy, ref.read_steps(times), (2, 2, 1))
    assert src.flipped == [MIRRORED]


def test_step_groups_are_whole_stored_chunks(stores):
    times = TIMES[[1, 2, 4, 5, 6, 10]]
    three = open_source("weatherbench2", stores["wb2_chunk3"], levels=LEVELS)

    def groups(src, n):
        return [list(times[g].strftime("%d %H")) for g in step_groups(src, times, max_times=n)]

    assert groups(three, 1) == [["01 06", "01 12"], ["02 00", "02 06"], ["02 12"], ["03 12"]]
    assert groups(three, 3) == [["01 06", "01 12", "02 00", "02 06"], ["02 12", "03 12"]]
    one = open_source("weatherbench2", stores["wb2"], levels=LEVELS)
    assert [len(g) for g in step_groups(one, times)] == [1] * len(times)
    assert [len(g) for g in step_groups(one, times, max_times=4)] == [4, 2]


def test_lazy_steps_refuse_missing_and_unsorted_times(stores):
    src = open_source("weatherbench2", stores["wb2"], levels=LEVELS)
    with pytest.raises(MissingTimeError, match="2005-03-04 06:00"):
        lazy_steps(src, pd.DatetimeIndex(["2005-03-01T06", "2005-03-04T06"]))
    with pytest.raises(ValueError, match="sorted and unique"):
        lazy_steps(src, TIMES[[2, 1]])


# ---------------------------------------------------------------------------------------
# The copy: parallel equals serial, resumption, progress, bounded concurrency, errors
# ---------------------------------------------------------------------------------------


def _copy_layout(path: Path) -> dict:
    """Everything of a copy but its creation time: attributes, coordinates, encodings."""
    ds = xr.open_zarr(path)
    attrs = {k: v for k, v in ds.attrs.items() if k != "created"}
    encs = {
        n: (ds[n].dims, ds[n].dtype, ds[n].encoding.get("chunks"), str(ds[n].encoding.get("compressors")))
        for n in ds.variables
    }
    coords = {c: ds[c].values.tolist() for c in ("time", "level", "latitude", "longitude")}
    return {"attrs": attrs, "encodings": encs, "coords": coords, "vars": {n: ds[n].attrs for n in ds.variables}}


@pytest.mark.parametrize("kind,source", [("wb2", "weatherbench2"), ("arco", "arco")])
def test_parallel_copy_equals_serial_copy(tmp_path, stores, kind, source):
    times = TIMES[1:11]
    par = subset.download_subset(stores[kind], tmp_path / "par.zarr", times, LEVELS, source=source, block=4, threads=3)
    ser = subset.download_subset(stores[kind], tmp_path / "ser.zarr", times, LEVELS, source=source, parallel=False)
    assert _copy_layout(par) == _copy_layout(ser)
    a, b = xr.open_zarr(par), xr.open_zarr(ser)
    for name in b.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    # the content is the source's, mirrored step flipped back and recorded
    ref = open_source("weatherbench2", stores["wb2"], levels=LEVELS).read_steps(times)
    for name, arr in ref.items():
        np.testing.assert_array_equal(a[name].values, arr, err_msg=name)
    assert a["temperature"].encoding["chunks"] == (1, len(LEVELS), 21, 40)
    assert a.attrs["flipped_times"] == ("2005-03-02T06:00" if kind == "arco" else "")
    assert "times_written" not in a.attrs
    assert not (tmp_path / "par.zarr.tmp").exists()


class _Interrupt(RuntimeError):
    pass


def test_copy_resumes_after_the_last_complete_block(tmp_path, stores, monkeypatch):
    times = TIMES[:10]
    dst = tmp_path / "subset.zarr"
    real_write = subset._write_region
    calls = {"n": 0}

    def write_then_fail(ds, tmp, start):
        if calls["n"] == 2:
            raise _Interrupt("stopped in block 3")
        calls["n"] += 1
        real_write(ds, tmp, start)

    monkeypatch.setattr(subset, "_write_region", write_then_fail)
    with pytest.raises(_Interrupt):
        subset.download_subset(stores["wb2"], dst, times, LEVELS, block=3, threads=2)
    tmp = tmp_path / "subset.zarr.tmp"
    assert not dst.exists()
    assert all(runs == [[0, 6]] for runs in subset.copy_record(tmp)["done"].values())
    monkeypatch.setattr(subset, "_write_region", real_write)
    read: list[pd.Timestamp] = []
    real_read = ERA5Source.read_steps

    def counting_read(self, ts, **kwargs):
        read.extend(ts)
        return real_read(self, ts, **kwargs)

    monkeypatch.setattr(ERA5Source, "read_steps", counting_read)
    subset.download_subset(stores["wb2"], dst, times, LEVELS, block=3, threads=2)
    assert sorted(read) == list(times[6:])  # only the blocks not complete before
    full = subset.download_subset(stores["wb2"], tmp_path / "full.zarr", times, LEVELS, block=3)
    for name in xr.open_zarr(full).data_vars:
        np.testing.assert_array_equal(xr.open_zarr(dst)[name].values, xr.open_zarr(full)[name].values)
    # a copy in place is never deleted: other levels are refused, naming them
    before = {f: f.stat().st_mtime_ns for f in dst.rglob("*")}
    with pytest.raises(ValueError, match=r"levels .*now also \[1000\] hPa.*left as it is"):
        subset.download_subset(stores["wb2"], dst, times, (*LEVELS, 1000), block=3)
    assert {f: f.stat().st_mtime_ns for f in dst.rglob("*")} == before
    # a partial first copy of another request is started afresh (it never was the store)
    monkeypatch.setattr(subset, "_write_region", write_then_fail)
    calls["n"] = 0
    other = tmp_path / "other.zarr"
    with pytest.raises(_Interrupt):
        subset.download_subset(stores["wb2"], other, times, LEVELS, block=3)
    monkeypatch.setattr(subset, "_write_region", real_write)
    read.clear()
    subset.download_subset(stores["wb2"], other, times, (500,), block=3)
    assert sorted(read) == list(times)
    assert list(xr.open_zarr(other)["level"].values) == [500]


def test_progress_line_per_block(tmp_path, stores, caplog):
    with caplog.at_level(logging.INFO, logger="aurora_xai.data.subset"):
        subset.download_subset(stores["wb2"], tmp_path / "p.zarr", TIMES[:7], LEVELS, block=3, threads=2)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("copied")]
    assert len(lines) == 3
    assert "3/7 times" in lines[0] and "7/7 times" in lines[2]
    for line in lines:
        assert "GB in" in line and "GB/s" in line and "left" in line


def test_parallel_reads_overlap_and_stay_bounded(tmp_path, stores, monkeypatch):
    """``threads`` groups are read at once, never more (so memory is a few groups per thread)."""
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    real_read = ERA5Source.read_steps

    def slow_read(self, ts, **kwargs):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        try:
            return real_read(self, ts, **kwargs)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(ERA5Source, "read_steps", slow_read)
    subset.download_subset(stores["wb2"], tmp_path / "a.zarr", TIMES, LEVELS, block=12, threads=3)
    assert state["max"] == 3
    state["max"] = 0
    subset.download_subset(stores["wb2"], tmp_path / "b.zarr", TIMES, LEVELS, block=12, parallel=False)
    assert state["max"] == 1


def test_nan_in_the_parallel_copy_names_variable_level_and_time(tmp_path, stores):
    ds = stores["base"].copy(deep=True)
    ds["temperature"].loc[{"time": TIMES[5], "level": 500}] = np.nan
    path = _write_zarr(ds, tmp_path / "nan.zarr")
    with pytest.raises(ValueError, match=r"'temperature', level 500 hPa, time 2005-03-02 06:00"):
        subset.download_subset(path, tmp_path / "out.zarr", TIMES, LEVELS, block=4, threads=2)
    with pytest.raises(ValueError, match="block must be at least 1"):
        subset.download_subset(stores["wb2"], tmp_path / "out.zarr", TIMES, LEVELS, block=0)


@pytest.mark.parametrize("parallel", [True, False])
def test_a_step_stored_as_nan_is_copied_as_nan_under_skip(tmp_path, stores, parallel):
    ds = _mirrored_arco(stores["base"])
    empty = pd.Timestamp("2005-03-02T18")  # inside the valid span: missing data, as ARCO marks it
    for name in ds.data_vars:
        if "time" in ds[name].dims:
            ds[name].loc[{"time": empty}] = np.nan
    path = _write_zarr(ds, tmp_path / "gap.zarr")
    with pytest.raises(MissingTimeError, match="2005-03-02 18:00 is stored as NaN"):
        subset.download_subset(path, tmp_path / "a.zarr", TIMES, LEVELS, source="arco", block=4, parallel=parallel)
    dst = subset.download_subset(
        path, tmp_path / "b.zarr", TIMES, LEVELS, source="arco", block=4, parallel=parallel, on_missing="skip"
    )
    out = xr.open_zarr(dst)
    assert np.isnan(out["temperature"].sel(time=empty).values).all()
    assert np.isfinite(out["temperature"].drop_sel(time=empty).values).all()
    copy = open_source("weatherbench2", str(dst), levels=LEVELS, on_missing="skip")
    assert copy.batches([empty + pd.Timedelta(hours=6)], skip_empty=True) == [None]


# ---------------------------------------------------------------------------------------
# The day-of-year climatology, lazily over the years in the store
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def years_store(tmp_path_factory):
    spec = SyntheticSpec.from_schema(
        resolution=9.0,
        periods=(("2003-03-05", "2003-03-14"), ("2004-03-05", "2004-03-14"), ("2005-03-05", "2005-03-14")),
        compress=False,
    )
    return _write_zarr(synthetic_dataset(spec), tmp_path_factory.mktemp("years") / "years.zarr")


def _assert_same_batch(a, b) -> None:
    for group in ("surf_vars", "atmos_vars"):
        da_, db = getattr(a, group), getattr(b, group)
        assert list(da_) == list(db)
        for k in da_:
            assert da_[k].dtype == db[k].dtype and da_[k].shape == db[k].shape
            torch.testing.assert_close(da_[k], db[k], rtol=1e-6, atol=0, msg=f"{group} {k}")


@pytest.mark.parametrize("exclude", [True, False])
def test_lazy_climatology_equals_the_eager_one(years_store, exclude):
    src = open_source("weatherbench2", years_store, levels=LEVELS)
    case = pd.Timestamp("2005-03-10T06")
    eager, t_eager = climatology_fill(src, case, 3, exclude, lazy=False)
    lazy, t_lazy = climatology_fill(src, case, 3, exclude, lazy=True, threads=3)
    assert list(t_lazy) == list(t_eager)
    assert sorted(set(t_eager.year)) == ([2003, 2004] if exclude else [2003, 2004, 2005])
    assert len(t_eager) == (14 if exclude else 21)  # 7 days (29 Feb skipped in 2004) per year
    _assert_same_batch(lazy, eager)
    # the fill is the mean of the samples: check one value against the store itself
    ds = xr.open_zarr(years_store)
    expect = ds["mean_sea_level_pressure"].sel(time=t_eager).values.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(lazy.surf_vars["msl"][0, 1].numpy(), expect, rtol=1e-6)


def test_lazy_climatology_skips_samples_stored_as_nan_like_the_eager_one(tmp_path, years_store):
    ds = xr.open_zarr(years_store).load()
    gap = pd.Timestamp("2004-03-09T00")  # the history step of the 2004-03-09 06 UTC sample
    for name in ds.data_vars:
        if "time" in ds[name].dims:
            ds[name].loc[{"time": gap}] = np.nan
    path = _write_zarr(ds, tmp_path / "gap.zarr")
    src = open_source("weatherbench2", path, levels=LEVELS, on_missing="skip")
    case = pd.Timestamp("2005-03-10T06")
    eager, t_eager = climatology_fill(src, case, 3, True, lazy=False)
    lazy, t_lazy = climatology_fill(src, case, 3, True, lazy=True, threads=2)
    assert pd.Timestamp("2004-03-09T06") not in t_lazy and list(t_lazy) == list(t_eager) and len(t_lazy) == 13
    _assert_same_batch(lazy, eager)


# --------------------------------------------------------------------------------------
# Adding to an existing copy: only what it lacks, nothing deleted
# --------------------------------------------------------------------------------------


def _counting(monkeypatch) -> dict[str, list]:
    """Record what the copy reads from the source: whole samples and surface fields alone."""
    seen: dict[str, list] = {"steps": [], "boxes": []}
    real_steps, real_boxes = ERA5Source.read_steps, ERA5Source.read_boxes

    def steps(self, ts, **kwargs):
        seen["steps"].extend(ts)
        return real_steps(self, ts, **kwargs)

    def boxes(self, shorts, ts, *args, **kwargs):
        seen["boxes"].extend((s, t) for s in shorts for t in ts)
        return real_boxes(self, shorts, ts, *args, **kwargs)

    monkeypatch.setattr(ERA5Source, "read_steps", steps)
    monkeypatch.setattr(ERA5Source, "read_boxes", boxes)
    return seen


def test_a_longer_request_reads_only_the_new_times_and_keeps_the_old_chunks(tmp_path, stores, monkeypatch):
    dst = tmp_path / "subset.zarr"
    manifest = subset.manifest_path(dst)
    subset.download_subset(stores["wb2"], dst, TIMES[2:8], LEVELS, block=4, threads=2, manifest=manifest)
    chunks = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in dst.rglob("*") if f.is_file() and "/." not in str(f)}
    chunks = {f: v for f, v in chunks.items() if not f.name.startswith(".")}
    seen = _counting(monkeypatch)
    subset.download_subset(stores["wb2"], dst, TIMES[2:8], LEVELS, block=4, manifest=manifest)  # the same request
    assert seen["steps"] == [] and seen["boxes"] == []
    # later and earlier times: only those are read, appended to the axis
    subset.download_subset(stores["wb2"], dst, TIMES, LEVELS, block=4, threads=2, manifest=manifest)
    assert sorted(seen["steps"]) == sorted([*TIMES[:2], *TIMES[8:]]) and seen["boxes"] == []
    for f, (mtime, data) in chunks.items():  # the chunks written before are untouched
        if f.parent.name not in ("time",):
            assert f.stat().st_mtime_ns == mtime and f.read_bytes() == data, f
    ref = open_source("weatherbench2", stores["wb2"], levels=LEVELS)
    got = open_source("weatherbench2", str(dst), levels=LEVELS)
    assert sorted(got.store.times("2m_temperature")) == list(TIMES)
    for t in (TIMES[1], TIMES[5], TIMES[-1]):
        for name, arr in ref.read_steps([t]).items():
            np.testing.assert_array_equal(got.read_steps([t])[name], arr, err_msg=f"{name} at {t}")
    record = json.loads(manifest.read_text())
    assert sorted(record["variables"]["2m_temperature"]) == [f"{t:%Y-%m-%dT%H:%M}" for t in TIMES]
    assert record["source_path"] == str(stores["wb2"]) and record["levels"] == list(LEVELS)


def test_surface_fields_alone_are_read_and_written_alone(tmp_path, stores, monkeypatch):
    dst = tmp_path / "subset.zarr"
    seen = _counting(monkeypatch)
    wind = TIMES[4:10]  # 4 of them also whole samples
    subset.download_subset(stores["wb2"], dst, TIMES[:6], LEVELS, block=4, fields={"10u": wind, "10v": wind})
    assert sorted(seen["steps"]) == list(TIMES[:6])
    assert sorted(seen["boxes"]) == sorted((s, t) for s in ("10u", "10v") for t in TIMES[6:10])
    got = open_source("weatherbench2", str(dst), levels=LEVELS)
    ref = open_source("weatherbench2", stores["wb2"], levels=LEVELS)
    rows, cols = np.arange(len(ref.lat)), np.arange(len(ref.lon))
    a, _ = got.read_boxes(("10u", "10v"), TIMES[4:10], rows, cols)
    b, _ = ref.read_boxes(("10u", "10v"), TIMES[4:10], rows, cols)
    for short in a:
        np.testing.assert_array_equal(a[short], b[short])
    # no other field was written at the wind-only times: they read as missing (NaN)
    with xr.open_zarr(dst) as ds:
        t = pd.DatetimeIndex(ds["time"].values)
        assert np.isnan(ds["2m_temperature"].values[t.get_indexer(TIMES[6:10])]).all()
    record = subset.copy_record(dst)
    assert "2m_temperature" in record["done"] and len(record["times"]) == 10
    with pytest.raises(ValueError, match=r"'t' is not a surface variable"):
        subset.download_subset(stores["wb2"], dst, TIMES[:6], LEVELS, fields={"t": wind})


def test_a_copy_from_another_source_is_never_deleted(tmp_path, stores):
    dst = tmp_path / "subset.zarr"
    subset.download_subset(stores["wb2"], dst, TIMES[:4], LEVELS, block=4)
    (dst / "notes.txt").write_text("mine")
    files = {f: f.stat().st_mtime_ns for f in dst.rglob("*")}
    with pytest.raises(ValueError, match=r"source_path .*\(now .*left as it is: move it away"):
        subset.download_subset(stores["arco"], dst, TIMES, LEVELS, source="arco", block=4)
    assert {f: f.stat().st_mtime_ns for f in dst.rglob("*")} == files


def test_fewer_levels_extend_the_copy_on_its_own_levels(tmp_path, stores):
    dst = tmp_path / "subset.zarr"
    subset.download_subset(stores["wb2"], dst, TIMES[:4], LEVELS, block=4)
    subset.download_subset(stores["wb2"], dst, TIMES[:6], LEVELS[1:], block=4)  # one level fewer, two more times
    got = open_source("weatherbench2", str(dst), levels=LEVELS)
    ref = open_source("weatherbench2", stores["wb2"], levels=LEVELS)
    for name, arr in ref.read_steps(TIMES[4:6]).items():
        np.testing.assert_array_equal(got.read_steps(TIMES[4:6])[name], arr, err_msg=name)
