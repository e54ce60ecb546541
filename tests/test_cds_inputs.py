"""CDS inputs as users have them: archives under any name, files that are not data, GRIB-converted
and one-level pressure files, duplicated times, and downloads checked before they count as done."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.data import cds
from aurora_xai.data import download as dl
from aurora_xai.data.era5 import open_source
from aurora_xai.data.files import cds_files, open_dataset
from aurora_xai.data.formats import UnrecognisedFileError, sniff
from aurora_xai.data.sources import open_store
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset

SPEC = SyntheticSpec.from_schema(resolution=9.0, periods=(("2005-03-01", "2005-03-01"),), compress=False)
T06, T12 = pd.Timestamp("2005-03-01T06"), pd.Timestamp("2005-03-01T12")
LEVELS3 = (500, 850, 1000)
SURF = {"2m_temperature": "t2m", "10m_u_component_of_wind": "u10", "10m_v_component_of_wind": "v10"}
SURF["mean_sea_level_pressure"] = "msl"
STATIC = {"geopotential_at_surface": "z", "land_sea_mask": "lsm", "soil_type": "slt"}
ATMOS = {"geopotential": "z", "u_component_of_wind": "u", "v_component_of_wind": "v", "temperature": "t"}
ATMOS["specific_humidity"] = "q"
#: CDS request names -> CDS NetCDF names, single-level dataset
REQUEST_SINGLE = {**{k: v for k, v in SURF.items()}, "geopotential": "z", "land_sea_mask": "lsm", "soil_type": "slt"}
HTML = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>try later</body></html>\n"


@pytest.fixture(scope="module")
def base() -> xr.Dataset:
    return synthetic_dataset(SPEC)


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ref") / "wb2.zarr"
    base.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return str(path)


def _same_batch(a, b) -> None:
    for group in ("surf_vars", "atmos_vars", "static_vars"):
        da, db = getattr(a, group), getattr(b, group)
        assert list(da) == list(db), group
        for k in da:
            assert da[k].shape == db[k].shape, (group, k)
            assert torch.equal(da[k], db[k]), (group, k)
    assert tuple(a.metadata.atmos_levels) == tuple(b.metadata.atmos_levels)
    assert a.metadata.time == b.metadata.time


def _single(base: xr.Dataset, times=None, static: bool = True, surf: bool = True) -> xr.Dataset:
    """A single-level file in the new CDS form: valid_time, number and expver coordinates."""
    times = base["time"].values if times is None else pd.DatetimeIndex(times).values
    ds = xr.Dataset()
    if surf:
        for wb2, short in SURF.items():
            ds[short] = base[wb2].sel(time=times)
    if static:
        for wb2, short in STATIC.items():
            ds[short] = base[wb2].expand_dims(time=times).transpose("time", "latitude", "longitude")
    ds = ds.assign_coords(number=0, expver=("time", ["0001"] * len(times)))
    return ds.rename(time="valid_time")


def _pressure(base: xr.Dataset, times=None, levels=None) -> xr.Dataset:
    """A pressure-level file in the new CDS form (levels descending, as the CDS writes them)."""
    sel = {} if times is None else {"time": pd.DatetimeIndex(times).values}
    if levels is not None:
        sel["level"] = list(levels)
    ds = xr.Dataset({short: base[wb2].sel(sel) for wb2, short in ATMOS.items()})
    ds = ds.isel(level=slice(None, None, -1))
    ds = ds.assign_coords(level=ds["level"].values.astype(np.float64), number=0)
    ds["level"].attrs["units"] = "hPa"
    return ds.rename(time="valid_time", level="pressure_level")


def _grib_converted(ds: xr.Dataset, pressure: bool) -> xr.Dataset:
    """As cfgrib writes it: reference ``time`` + ``valid_time``, scalar step/number/surface, GRIB attributes."""
    ds = ds.drop_vars(["number", "expver"], errors="ignore").rename(valid_time="time")
    times = ds["time"].values
    ds = ds.assign_coords(  # the reference time differs from the valid time: the valid time counts
        time=times - np.timedelta64(6, "h"),
        valid_time=("time", times),
        step=np.timedelta64(6, "h"),
        number=0,
    )
    if pressure:
        ds = ds.rename(pressure_level="isobaricInhPa")
        for name in ds.data_vars:
            ds[name].attrs["GRIB_typeOfLevel"] = "isobaricInhPa"
    else:
        ds = ds.assign_coords(surface=0.0)
        for name in ds.data_vars:
            ds[name].attrs["GRIB_typeOfLevel"] = "surface"
    return ds


def _zip(path: Path, members: dict[str, xr.Dataset]) -> Path:
    """A ZIP of NetCDF members, written at ``path`` whatever its name says."""
    scratch = path.parent / f"_{path.name}_members"
    scratch.mkdir()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, ds in members.items():
            ds.to_netcdf(scratch / name)
            zf.write(scratch / name, name)
    for f in scratch.iterdir():
        f.unlink()
    scratch.rmdir()
    return path


def _streams(base: xr.Dataset, times=None, static: bool = True) -> dict[str, xr.Dataset]:
    """One single-level request split in two streams, as the current CDS does (an extra accumulated field)."""
    single = _single(base, times, static=static)
    accum = single[["msl", "lsm", "slt"] if static else ["msl"]].copy()
    accum["tp"] = xr.zeros_like(single["msl"]).assign_attrs(units="m")
    return {
        "data_stream-oper_stepType-instant.nc": single[["t2m", "u10", "v10", "z"] if static else ["t2m", "u10", "v10"]],
        "data_stream-oper_stepType-accum.nc": accum,
    }


# ---------------------------------------------------------------------------------------
# 3. Archives and content, whatever the name
# ---------------------------------------------------------------------------------------


def test_zip_of_streams_saved_as_nc_is_read_by_content(tmp_path, base, reference):
    folder = tmp_path / "cds"
    folder.mkdir()
    archive = _zip(folder / "era5_single.nc", _streams(base))
    _pressure(base).to_netcdf(folder / "era5_pressure.nc")
    assert sniff(archive) == "zip"
    src = open_source("cds", str(folder))
    ref = open_source("weatherbench2", reference)
    for t in (T06, T12):
        _same_batch(ref.batch(t), src.batch(t))
    labels = src.store.labels
    assert f"{archive}::data_stream-oper_stepType-accum.nc" in labels
    assert f"{archive}::data_stream-oper_stepType-instant.nc" in labels
    # extracted once into a hidden folder beside it, which a folder listing does not take
    cache = folder / ".era5_single.nc.members"
    manifest = cache / ".source.json"
    assert manifest.is_file() and cds_files(str(folder)) == [str(folder / "era5_pressure.nc"), str(archive)]
    stamp = manifest.stat().st_mtime_ns
    open_store("cds", str(folder))
    assert manifest.stat().st_mtime_ns == stamp  # reused
    # a new archive under the same name is extracted again
    _zip(tmp_path / "new.zip", {"only.nc": _single(base, static=True)[["t2m", "u10", "v10", "msl", "z", "lsm", "slt"]]})
    (tmp_path / "new.zip").replace(archive)
    store = open_store("cds", [str(archive)])
    assert store.labels == [f"{archive}::only.nc"]


def test_zip_with_zip_name_in_a_list_and_one_member_through_open_dataset(tmp_path, base):
    archive = _zip(tmp_path / "download.zip", {"data.nc": _pressure(base)})
    ds = open_dataset(archive)
    assert set(ds.data_vars) == {"z", "u", "v", "t", "q"}
    two = _zip(tmp_path / "two.zip", _streams(base))
    merged = open_dataset(two)
    assert {"t2m", "msl", "tp"} <= set(merged.data_vars)


def test_zipped_zarr_store_and_zarr_folder_without_zarr_name(tmp_path, base, reference):
    folder = tmp_path / "era5_store"  # a zarr store whose name does not say so
    base.to_zarr(folder, mode="w", zarr_format=2, consolidated=True)
    archive = tmp_path / "era5_store.bin"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(folder).as_posix())
    ref = open_source("weatherbench2", reference).batch(T06)
    _same_batch(ref, open_source("weatherbench2", str(folder)).batch(T06))
    _same_batch(ref, open_source("weatherbench2", str(archive)).batch(T06))
    # also as a separate static source
    assert open_source("weatherbench2", reference, static_path=str(archive)).static_arrays["z"].shape == (21, 40)
    (tmp_path / "plain").mkdir()
    with pytest.raises(UnrecognisedFileError, match="plain: a folder that is not a zarr store"):
        open_source("weatherbench2", str(tmp_path / "plain"))


@pytest.mark.parametrize(
    "content,expect",
    [
        (HTML, r"starts with '<!DOCTYPE html> <html><head><title>503.*an HTML page"),
        (b'{"message": "licence not accepted", "status": 403}', r"JSON"),
        (b"", r"empty \(0 bytes\)"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", r"gzip"),
        (bytes(range(200, 232)), r"first bytes are c8 c9 ca"),
    ],
)
def test_content_that_is_not_data_names_the_file_and_its_first_bytes(tmp_path, base, content, expect):
    folder = tmp_path / "cds"
    folder.mkdir()
    _pressure(base).to_netcdf(folder / "era5_pressure.nc")
    bad = folder / "era5_single.nc"
    bad.write_bytes(content)
    for source, path in (("cds", str(folder)), ("cds", str(bad)), ("weatherbench2", str(bad))):
        with pytest.raises(ValueError, match=rf"era5_single\.nc: .*{expect}"):
            open_source(source, path)


def test_grib_is_refused_with_how_to_convert(tmp_path):
    grib = tmp_path / "era5.nc"
    grib.write_bytes(b"GRIB" + bytes(100) + b"7777")
    with pytest.raises(ValueError, match=r"era5\.nc: a GRIB file.*cfgrib"):
        open_store("cds", str(grib))


@pytest.mark.parametrize(
    "fmt,expect",
    [
        ("NETCDF4", r"NetCDF-4 file that cannot be opened"),
        ("NETCDF3_64BIT", r"shorter than its header says"),
        ("zip", r"damaged or truncated ZIP archive"),
    ],
)
def test_truncated_files_are_refused_naming_them(tmp_path, base, fmt, expect):
    whole = tmp_path / "whole.nc"
    if fmt == "zip":
        _zip(whole, {"data.nc": _pressure(base)})
    else:
        _pressure(base).to_netcdf(whole, format=fmt)
    data = whole.read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert open_store("cds", str(whole)).has_variable("temperature")
    with pytest.raises(ValueError, match=rf"cut\.nc.*{expect}"):
        open_store("cds", str(cut)).read("temperature", [T12])


def test_folder_listing_by_content(tmp_path, base):
    folder = tmp_path / "cds"
    folder.mkdir()
    _pressure(base).to_netcdf(folder / "download")  # no suffix: found by its content
    _single(base).to_netcdf(folder / "single.nc.part")  # an unfinished download: never taken
    (folder / "README.txt").write_text("ERA5 for the study\n")
    (folder / "era5.idx").write_bytes(b"\x00\x01")
    assert cds_files(str(folder)) == [str(folder / "download")]
    assert cds_files(str(folder / "*")) == sorted(str(folder / f) for f in ("README.txt", "download", "era5.idx"))


# ---------------------------------------------------------------------------------------
# 7. Pressure-level files that look different
# ---------------------------------------------------------------------------------------


def _per_level_files(base: xr.Dataset, folder: Path, axis: str = "isobaricInhPa") -> None:
    """One file per level, the level a scalar coordinate (no level dimension)."""
    for lv in LEVELS3:
        ds = xr.Dataset({short: base[wb2].sel(level=lv) for wb2, short in ATMOS.items()})
        ds = ds.drop_vars("level").assign_coords({axis: float(lv)})
        ds[axis].attrs["units"] = "hPa"
        ds.rename(time="valid_time").to_netcdf(folder / f"era5_pressure_{lv}.nc")


@pytest.mark.parametrize("variant", ["grib", "plev_pa", "plev_no_units", "per_level", "one_level", "squeezable"])
def test_pressure_files_that_look_different_give_the_same_batch(tmp_path, base, reference, variant):
    folder = tmp_path / "cds"
    folder.mkdir()
    single, pres = _single(base), _pressure(base)
    levels = LEVELS3
    if variant == "grib":
        single, pres = _grib_converted(single, pressure=False), _grib_converted(pres, pressure=True)
    elif variant in ("plev_pa", "plev_no_units"):
        pres = pres.rename(pressure_level="plev")
        pres = pres.assign_coords(plev=pres["plev"].values * 100.0)
        pres["plev"].attrs = {"units": "Pa"} if variant == "plev_pa" else {}
        pres = pres.rename(latitude="lat", longitude="lon")  # as CMIP-style tools name them
    elif variant == "squeezable":  # number and expver as one-valued dimensions
        pres = pres.drop_vars("number").expand_dims(number=[0])
        single = single.drop_vars("expver").expand_dims(expver=["0001"])
    single.to_netcdf(folder / "era5_single.nc")
    if variant == "per_level":
        _per_level_files(base, folder)
    elif variant == "one_level":
        levels = (500,)
        ds = _grib_converted(_pressure(base, levels=[500]), pressure=True).squeeze("isobaricInhPa")
        assert "isobaricInhPa" not in ds.dims and ds["isobaricInhPa"].ndim == 0
        ds.to_netcdf(folder / "era5_pressure.nc")
    else:
        pres.to_netcdf(folder / "era5_pressure.nc")
    src = open_source("cds", str(folder), levels=levels)
    ref = open_source("weatherbench2", reference, levels=levels)
    expect_levels = {"per_level": [500, 850, 1000], "one_level": [500]}.get(variant, sorted(base["level"].values)[::-1])
    assert src.store.levels("geopotential") == expect_levels
    for t in (T06, T12):
        _same_batch(ref.batch(t), src.batch(t))
    # the orography is the single-level z, never a pressure-level z
    np.testing.assert_array_equal(src.static_arrays["z"], base["geopotential_at_surface"].values)


def test_pressure_z_is_never_taken_for_the_orography(tmp_path, base):
    folder = tmp_path / "cds"
    folder.mkdir()
    _single(base, static=False).to_netcdf(folder / "era5_single.nc")
    _grib_converted(_pressure(base), pressure=True).to_netcdf(folder / "era5_pressure.nc")
    store = open_store("cds", str(folder))
    assert store.has_variable("geopotential") and not store.has_variable("geopotential_at_surface")
    with pytest.raises(KeyError, match=r"era5_pressure\.nc has pressure levels: it is the geopotential"):
        store.static_field("geopotential_at_surface")
    with pytest.raises(KeyError, match="geopotential_at_surface"):
        open_source("cds", str(folder))
    # a one-level pressure file given as the static source: its z is not the orography
    one = tmp_path / "z500.nc"
    ds = _grib_converted(_pressure(base, levels=[500]), pressure=True).squeeze("isobaricInhPa")
    ds[["z"]].to_netcdf(one)
    with pytest.raises(KeyError, match=r"z500\.nc"):
        open_source("cds", str(folder), static_path=str(one))
    # nor a z marked as a pressure-level field whose pressure coordinate was lost
    lost = tmp_path / "lost.nc"
    ds[["z"]].drop_vars("isobaricInhPa").to_netcdf(lost)
    with pytest.raises(KeyError, match=r"lost\.nc has 'z' on a pressure level"):
        open_store("cds", str(lost)).static_field("geopotential_at_surface")
    # nor a z on model levels
    hybrid = tmp_path / "hybrid.nc"
    _pressure(base).rename(pressure_level="hybrid")[["z"]].to_netcdf(hybrid)
    with pytest.raises(KeyError, match=r"hybrid\.nc has 'z' with dimensions .*'hybrid'.* not a pressure axis"):
        open_store("cds", str(hybrid)).static_field("geopotential_at_surface")


def test_axes_that_cannot_be_read_are_refused_naming_the_file(tmp_path, base):
    heights = _pressure(base)
    heights["pressure_level"].attrs["units"] = "m"
    cases = {
        "heights.nc": (heights, "units 'm'"),
        "ensemble.nc": (_pressure(base).drop_vars("number").expand_dims(number=[0, 1]), "2 ensemble members"),
        "steps.nc": (_single(base).expand_dims(step=np.array([0, 3600], "timedelta64[s]")), "2 forecast steps"),
        "expver.nc": (
            _single(base).drop_vars("expver").expand_dims(expver=["0001", "0005"]),
            "'expver' dimension of 2",
        ),
    }
    for name, (ds, expect) in cases.items():
        ds.to_netcdf(tmp_path / name)
        with pytest.raises(ValueError, match=rf"{name.replace('.', '[.]')}: .*{expect}"):
            open_store("cds", str(tmp_path / name))


# ---------------------------------------------------------------------------------------
# 8. Duplicated times name the file(s) and the time
# ---------------------------------------------------------------------------------------


def test_duplicate_time_in_one_file_names_the_file_and_time(tmp_path, base):
    ds = _pressure(base).isel(valid_time=[0, 1, 1, 2])  # overlapping requests joined
    ds.to_netcdf(tmp_path / "era5_pressure.nc")
    store = open_store("cds", str(tmp_path))
    with pytest.raises(ValueError, match=r"era5_pressure\.nc: time 2005-03-01 06:00 is stored twice in this file"):
        store.times("temperature")


def test_duplicate_time_across_files_names_both(tmp_path, base):
    _pressure(base).isel(valid_time=[0, 1, 2]).to_netcdf(tmp_path / "a.nc")
    _pressure(base).isel(valid_time=[2, 3]).to_netcdf(tmp_path / "b.nc")
    store = open_store("cds", str(tmp_path))
    with pytest.raises(ValueError, match=r"time 2005-03-01 12:00 .*in two files, .*a\.nc and .*b\.nc"):
        store.times("temperature")
    # per-level files overlapping at one level: named with the level
    folder = tmp_path / "levels"
    folder.mkdir()
    _per_level_files(base, folder)
    extra = xr.Dataset({"t": base["temperature"].sel(level=[850, 925])}).rename(time="valid_time")
    extra.to_netcdf(folder / "more.nc")
    store = open_store("cds", str(folder))
    with pytest.raises(ValueError, match=r"at level\(s\) \[850\] hPa is stored in two files, .*era5_pressure_850\.nc"):
        store.times("temperature")


def test_per_level_files_missing_a_level_at_a_time(tmp_path, base):
    _per_level_files(base, tmp_path)
    ds = xr.open_dataset(tmp_path / "era5_pressure_850.nc").load()
    (tmp_path / "era5_pressure_850.nc").unlink()
    ds.isel(valid_time=[0, 1, 2]).to_netcdf(tmp_path / "era5_pressure_850.nc")
    store = open_store("cds", str(tmp_path))
    assert store.levels("temperature") == [500, 850, 1000]
    assert pd.Timestamp("2005-03-01T18") not in store.times("temperature")
    assert T12 in store.times("temperature")
    arr = store.read("temperature", [T12, T06], levels=[1000, 500])
    np.testing.assert_array_equal(arr, base["temperature"].sel(time=[T12, T06], level=[1000, 500]).values)


# ---------------------------------------------------------------------------------------
# 3. Downloads: checked before they count as done
# ---------------------------------------------------------------------------------------


def _requested(request) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        [
            pd.Timestamp(f"{y}-{m}-{d}T{h}")
            for y in request["year"]
            for m in request["month"]
            for d in request["day"]
            for h in request["time"]
        ]
    )


class Client:
    """A stand-in with cdsapi's interface: ``retrieve(dataset, request, target)`` writes the file.

    ``mode`` says what it writes for single-level requests (``zip``: the two streams in a
    ZIP under the target's name; ``html``: an error page; ``truncated``: two thirds of the
    file; ``drop_time``: a file without the last requested time; ``interrupt``: half a file,
    then an exception); pressure-level and static requests get a good NetCDF file.
    """

    def __init__(self, base: xr.Dataset, mode: str = "zip") -> None:
        self.base, self.mode, self.calls = base, mode, []

    def retrieve(self, dataset, request, target):
        self.calls.append((dataset, target))
        times = _requested(request)
        target = Path(target)
        if dataset == cds.CDS_PRESSURE:
            levels = [int(v) for v in request["pressure_level"]]
            _pressure(self.base, times, levels).to_netcdf(target)
            return
        if "land_sea_mask" in request["variable"]:
            _single(self.base, times, surf=False).to_netcdf(target)
            return
        if self.mode == "html":
            target.write_bytes(HTML)
        elif self.mode == "zip":
            _zip(target, _streams(self.base, times, static=False))
        elif self.mode == "drop_time":
            _single(self.base, times[:-1]).to_netcdf(target)
        elif self.mode in ("truncated", "interrupt"):
            _single(self.base, times).to_netcdf(target, format="NETCDF3_64BIT")
            data = target.read_bytes()
            target.write_bytes(data[: len(data) * (2 if self.mode == "truncated" else 1) // 3])
            if self.mode == "interrupt":
                raise ConnectionError("connection reset by peer")


def _reqs(tmp_path):
    times = pd.DatetimeIndex(["2005-03-01T00", "2005-03-01T06", "2005-03-01T12"])
    return cds.cds_requests(times, LEVELS3, target_dir=tmp_path / "raw")


def test_retrieve_cds_keeps_a_zip_named_nc_after_checking_it(tmp_path, base, reference):
    reqs = _reqs(tmp_path)
    client = Client(base, "zip")
    files = cds.retrieve_cds(reqs, client=client)
    single = next(f for r, f in zip(reqs, files) if r["kind"] == "single")
    assert single.endswith(".nc") and sniff(single) == "zip"
    assert not list((tmp_path / "raw").glob("*.part")) and not list((tmp_path / "raw").glob(".check-*"))
    src = open_source("cds", files, levels=LEVELS3)
    _same_batch(open_source("weatherbench2", reference, levels=LEVELS3).batch(T06), src.batch(T06))
    cds.retrieve_cds(reqs, client=client)  # a rerun checks and keeps every file
    assert len(client.calls) == len(reqs)


def test_download_era5_from_cds_archives(tmp_path, base, reference):
    times = pd.DatetimeIndex(["2005-03-01T00", "2005-03-01T06"])
    client = Client(base, "zip")
    dst = dl.download_era5("cds", tmp_path / "era5.zarr", times, LEVELS3, cds_dir=tmp_path / "raw", client=client)
    ref = open_source("weatherbench2", reference, levels=LEVELS3).batch(T06)
    _same_batch(ref, open_source("weatherbench2", str(dst), levels=LEVELS3).batch(T06))


@pytest.mark.parametrize(
    "mode,expect",
    [
        ("html", r"it starts with '<!DOCTYPE html>.*an HTML page"),
        ("truncated", r"shorter than its header says"),
        ("drop_time", r"variable '2m_temperature' lacks 1 of the 3 requested times, first 2005-03-01 12:00"),
    ],
)
def test_retrieve_cds_refuses_a_bad_download_and_a_rerun_fetches_it_again(tmp_path, base, mode, expect):
    reqs = _reqs(tmp_path)
    target = Path(next(r["target"] for r in reqs if r["kind"] == "single"))
    with pytest.raises(ValueError, match=rf"CDS download {re.escape(str(target))}: .*{expect}.*kept as .*\.nc\.part"):
        cds.retrieve_cds(reqs, client=Client(base, mode))
    assert not target.exists() and Path(f"{target}.part").exists()
    good = Client(base, "zip")
    cds.retrieve_cds(reqs, client=good)
    assert target.exists() and (cds.CDS_SINGLE, f"{target}.part") in good.calls


def test_retrieve_cds_after_an_interrupted_download(tmp_path, base):
    reqs = _reqs(tmp_path)
    target = Path(next(r["target"] for r in reqs if r["kind"] == "single"))
    with pytest.raises(ConnectionError):
        cds.retrieve_cds(reqs, client=Client(base, "interrupt"))
    assert not target.exists()
    cds.retrieve_cds(reqs, client=Client(base, "zip"))
    assert sniff(target) == "zip"


def test_retrieve_cds_fetches_again_a_bad_file_left_under_the_final_name(tmp_path, base):
    reqs = _reqs(tmp_path)
    targets = [Path(r["target"]) for r in reqs]
    targets[0].parent.mkdir(parents=True)
    targets[0].write_bytes(HTML)  # left by an older client that renamed whatever it got
    whole = tmp_path / "whole.nc"
    _pressure(base, levels=LEVELS3).to_netcdf(whole, format="NETCDF3_64BIT")
    targets[1].write_bytes(whole.read_bytes()[:-1000])  # truncated
    client = Client(base, "zip")
    cds.retrieve_cds(reqs, client=client)
    assert len(client.calls) == len(reqs)
    assert sniff(targets[0]) == "zip" and sniff(targets[1]) == "netcdf4"


# ---------------------------------------------------------------------------------------
# 4. A whole file that cannot be opened now is never taken for a damaged one
# ---------------------------------------------------------------------------------------

_HOLD = """
import sys, time, netCDF4
ds = netCDF4.Dataset(sys.argv[1], "a")  # open for writing: HDF5 takes its file lock
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin
ds.close()
"""


def _hold_open(path: Path, env: dict):
    """A process holding ``path`` open for writing with netCDF4 until its stdin closes."""
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_a_file_held_open_for_writing_is_kept_and_named_with_the_remedy(tmp_path, base, monkeypatch):
    import os
    import subprocess

    import netCDF4

    from aurora_xai.data.formats import FileAccessError

    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)  # HDF5's default: lock
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    reqs = _reqs(tmp_path)
    cds.retrieve_cds(reqs, client=Client(base, "zip"))
    req = next(r for r in reqs if r["kind"] == "pressure")
    target = Path(req["target"])
    assert sniff(target) == "netcdf4"
    inode = target.stat().st_ino
    writer = _hold_open(target, env)  # (the writer itself marks the superblock: compare files, not bytes)
    try:
        try:  # the lock really is taken on this file system, or there is nothing to test
            netCDF4.Dataset(target).close()
            pytest.skip("HDF5 file locking has no effect here (the file opens while held)")
        except OSError:
            pass
        client = Client(base, "zip")
        with pytest.raises(FileAccessError) as info:
            cds.retrieve_cds(reqs, client=client)
        msg = str(info.value)
        assert str(target) in msg and "open for writing" in msg and "HDF5_USE_FILE_LOCKING=FALSE" in msg
        assert "not deleted" in msg and "fetch it again" not in msg
        assert not any(t == f"{target}.part" for _, t in client.calls), "a whole file was fetched again"
        assert target.exists() and target.stat().st_ino == inode, "the whole file was deleted"
        # the same through the readers (a job reading the folder), and check_cds_file
        with pytest.raises(FileAccessError, match="HDF5_USE_FILE_LOCKING"):
            open_dataset(target)
        with pytest.raises(FileAccessError):
            cds.check_cds_file(target, req["dataset"], req["request"])
        # the named remedy works: without locking, the held file is read
        read = subprocess.run(
            [sys.executable, "-c", f"import xarray as xr; print(xr.open_dataset({str(target)!r}).sizes['valid_time'])"],
            env={**env, "HDF5_USE_FILE_LOCKING": "FALSE"},
            capture_output=True,
            text=True,
        )
        assert read.returncode == 0 and read.stdout.strip() == "3", read.stderr[-2000:]
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
    client = Client(base, "zip")
    cds.retrieve_cds(reqs, client=client)  # closed again: checked and kept, nothing fetched
    assert not client.calls and target.stat().st_ino == inode


def test_a_truncated_netcdf4_file_is_a_content_failure_fetched_again(tmp_path, base):
    from aurora_xai.data.formats import hdf5_superblock

    reqs = _reqs(tmp_path)
    cds.retrieve_cds(reqs, client=Client(base, "zip"))
    target = Path(next(r["target"] for r in reqs if r["kind"] == "pressure"))
    data = target.read_bytes()
    sb = hdf5_superblock(target)
    assert sb["offset"] == 0 and sb["eof"] == len(data) == sb["size"]
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnrecognisedFileError, match=r"records \d+ bytes, the file has \d+: truncated"):
        open_dataset(target)
    client = Client(base, "zip")
    cds.retrieve_cds(reqs, client=client)
    assert [t for _, t in client.calls] == [f"{target}.part"] and target.read_bytes() == data


def test_an_hdf5_superblock_after_a_user_block_is_found(tmp_path, base):
    from aurora_xai.data.formats import hdf5_superblock

    plain = tmp_path / "plain.nc"
    _pressure(base).to_netcdf(plain)
    shifted = tmp_path / "shifted"
    shifted.write_bytes(b"\0" * 4096 + plain.read_bytes())  # past the first 2 kB that sniff reads
    assert sniff(shifted) == "netcdf4"
    sb = hdf5_superblock(shifted)
    assert sb["offset"] == 4096 and sb["size"] == sb["eof"] == plain.stat().st_size + 4096
    assert hdf5_superblock(plain)["offset"] == 0
    (tmp_path / "text.nc").write_bytes(HTML * 40)
    assert hdf5_superblock(tmp_path / "text.nc") is None
