"""Units of the inputs: declared units checked and converted, undeclared ones checked for plausibility."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.era5 import open_source
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset, write_synthetic_store
from aurora_xai.data.units import (
    EXPECTED_UNITS,
    QUANTITIES,
    G,
    canonical_units,
    check_plausible,
    plausible_range,
    resolve_units,
    standard_height,
)
from aurora_xai.storms.tracks import Storm

SPEC = SyntheticSpec.from_schema(
    resolution=9.0, periods=(("2005-03-01", "2005-03-01"),), extra_variables=False, compress=False
)
SAMPLE = pd.Timestamp("2005-03-01T06")
STATIC = ("geopotential_at_surface", "land_sea_mask", "soil_type")


def _write_zarr(ds: xr.Dataset, path: Path) -> str:
    enc = {n: {"compressors": None} for n in ds.data_vars}
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return str(path)


@pytest.fixture(scope="module")
def base() -> xr.Dataset:
    return synthetic_dataset(SPEC)


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory):
    path = _write_zarr(base, tmp_path_factory.mktemp("ref") / "ref.zarr")
    src = open_source("weatherbench2", path)
    return src, src.batch(SAMPLE)


def _without_units(ds: xr.Dataset, names=None) -> xr.Dataset:
    ds = ds.copy()
    for n in names if names is not None else list(ds.data_vars):
        ds[n] = ds[n].copy()
        ds[n].attrs = {k: v for k, v in ds[n].attrs.items() if k != "units"}
    return ds


def _static_file(base: xr.Dataset, path: Path, z_units: str | None) -> str:
    """A separate CDS-style static file whose ``z`` is orography in metres."""
    ds = xr.Dataset(
        {
            "z": base["geopotential_at_surface"] / G,
            "lsm": base["land_sea_mask"],
            "slt": base["soil_type"],
        }
    )
    ds["z"].attrs = {"long_name": "Orography"} | ({"units": z_units} if z_units else {})
    ds["lsm"].attrs["units"] = "(0 - 1)"
    ds["slt"].attrs["units"] = "~"
    ds.to_netcdf(path)
    return str(path)


# ---------------------------------------------------------------------------------------
# Vocabulary and conversions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,short,spellings",
    [
        ("surf", "2t", ["K", "kelvin", "Kelvin", "degK"]),
        ("surf", "10u", ["m s**-1", "m s-1", "m/s", "m.s-1", "m s^-1"]),
        ("surf", "msl", ["Pa", "pascal", "N m-2"]),
        ("atmos", "z", ["m**2 s**-2", "m^2/s^2", "m2 s-2", "m2/s2", "J kg**-1", "J/kg"]),
        ("static", "z", ["m**2 s**-2", "m^2 s^-2"]),
        ("atmos", "q", ["kg kg**-1", "kg/kg", "1", "kg kg-1"]),
        ("static", "lsm", ["(0 - 1)", "1", "~", "dimensionless", "0-1"]),
        ("static", "slt", ["~", "1", "dimensionless"]),
    ],
)
def test_aurora_units_in_their_usual_spellings_need_no_conversion(kind, short, spellings):
    for s in spellings:
        conv = resolve_units(kind, short, s, "var", "file.nc")
        assert conv is not None and conv.is_identity, s
        assert conv.expected == EXPECTED_UNITS[QUANTITIES[(kind, short)]]


@pytest.mark.parametrize(
    "kind,short,units,x,want",
    [
        ("static", "z", "m", 1000.0, 9806.65),
        ("static", "z", "metres", 1.0, G),
        ("atmos", "z", "gpm", 5500.0, 5500.0 * G),
        ("atmos", "z", "dam", 550.0, 5500.0 * G),
        ("surf", "msl", "hPa", 1013.25, 101325.0),
        ("surf", "msl", "mbar", 1000.0, 100000.0),
        ("surf", "msl", "kPa", 101.325, 101325.0),
        ("surf", "2t", "degC", 15.0, 288.15),
        ("atmos", "t", "°C", -40.0, 233.15),
        ("surf", "2t", "degF", 32.0, 273.15),
        ("surf", "10u", "knots", 10.0, 5.14444),
        ("surf", "10v", "km/h", 36.0, 10.0),
        ("atmos", "q", "g/kg", 12.0, 0.012),
        ("static", "lsm", "%", 50.0, 0.5),
    ],
)
def test_known_conversions(kind, short, units, x, want):
    conv = resolve_units(kind, short, units, "var", "file.nc")
    assert conv is not None and not conv.is_identity
    out = conv.apply(np.array([x], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [want], rtol=1e-5)


def test_unknown_or_foreign_units_are_refused_naming_variable_file_and_units():
    with pytest.raises(
        ValueError, match=r"'mean_sea_level_pressure'.*in /data/x\.nc declares units 'furlongs'.*unknown"
    ):
        resolve_units("surf", "msl", "furlongs", "mean_sea_level_pressure", "/data/x.nc")
    with pytest.raises(ValueError, match=r"'msl'.*declares units 'K'.*another quantity"):
        resolve_units("surf", "msl", "K", "msl", "a.nc")
    with pytest.raises(ValueError, match=r"'slt'.*declares units '%'"):
        resolve_units("static", "slt", "%", "slt", "a.nc")
    assert resolve_units("surf", "msl", None, "msl", "a.nc") is None
    assert resolve_units("surf", "msl", "  ", "msl", "a.nc") is None
    assert canonical_units("m**2 s**-2") == "m2 s-2" and canonical_units("parsecs") is None


def test_standard_atmosphere_heights():
    assert abs(standard_height(1013.25)) < 1e-6
    for p, h in ((500, 5574), (250, 10363), (100, 16180), (50, 20576), (10, 31055)):
        assert abs(standard_height(p) - h) < 5, p


def test_bands_hold_real_extremes_and_catch_unit_factors():
    """Observed ERA5 extremes pass; the same fields in a wrong unit fail."""
    t = [pd.Timestamp("2005-03-01T06")]
    ok = {
        ("surf", "2t", None): (184.0, 330.0),
        ("surf", "msl", None): (87000.0, 108500.0),
        ("surf", "10u", None): (-60.0, 75.0),
        ("atmos", "z", 1000): (-900 * G, 600 * G),
        ("atmos", "z", 500): (4600 * G, 6000 * G),
        ("atmos", "z", 50): (19000 * G, 21000 * G),
        ("atmos", "t", 50): (180.0, 250.0),
        ("atmos", "q", 1000): (0.0, 0.03),
        ("atmos", "q", 50): (1e-6, 4e-6),
        ("atmos", "u", 250): (-40.0, 110.0),
    }
    for (kind, short, level), (lo, hi) in ok.items():
        arr = np.array([lo, hi], dtype=np.float32).reshape((1, 1, 2) if kind == "atmos" else (1, 2))[..., None]
        check_plausible(kind, short, arr, short, "f", times=t, levels=[level] if level else None)
        band = plausible_range(kind, short, level)
        assert band[0] <= lo and hi <= band[1]
    wrong = {
        ("surf", "2t", None): (-89.0, 57.0),  # degC
        ("surf", "msl", None): (870.0, 1085.0),  # hPa
        ("atmos", "z", 500): (4600.0, 6000.0),  # metres
        ("atmos", "z", 700): (2400.0, 3300.0),  # metres
        ("atmos", "t", 850): (-50.0, 35.0),  # degC
        ("atmos", "q", 1000): (0.0, 30.0),  # g/kg
        ("atmos", "q", 50): (1e-3, 4e-3),  # g/kg
    }
    for (kind, short, level), (lo, hi) in wrong.items():
        arr = np.array([lo, hi], dtype=np.float32).reshape((1, 1, 2) if kind == "atmos" else (1, 2))[..., None]
        with pytest.raises(ValueError, match=r"range seen"):
            check_plausible(kind, short, arr, short, "f", times=t, levels=[level] if level else None)
    lat, lon = np.linspace(90, -90, 21), np.arange(40) * 9.0
    field = np.zeros((21, 40), np.float32)
    field[5, 5] = 8000 * G  # a global field with high ground: geopotential
    check_plausible("static", "z", field, "z", "f", lat=lat, lon=lon)
    field[5, 5] = 8000.0  # the same in metres
    with pytest.raises(ValueError, match=r"highest value is below 9806.65.*look like m \("):
        check_plausible("static", "z", field, "z", "f", lat=lat, lon=lon)
    check_plausible("static", "z", field[:5, :5], "z", "f", lat=lat[:5], lon=lon[:5])  # a regional grid: bounds only


# ---------------------------------------------------------------------------------------
# Through the reader
# ---------------------------------------------------------------------------------------


def test_static_file_of_orography_in_metres_is_converted_and_logged(tmp_path, base, reference, caplog):
    ref_src, ref_batch = reference
    store = _write_zarr(base.drop_vars(list(STATIC)), tmp_path / "dyn.zarr")
    static = _static_file(base, tmp_path / "static.nc", "m")
    with caplog.at_level(logging.WARNING, logger="aurora_xai.data.era5"):
        src = open_source("weatherbench2", store, static_path=static)
    msgs = [r.getMessage() for r in caplog.records if "converting units" in r.getMessage()]
    assert len(msgs) == 1 and "'m' -> m2 s-2" in msgs[0] and "static.nc" in msgs[0] and "9.80665" in msgs[0]
    assert len(src.unit_conversions) == 1 and src.unit_conversions[0].startswith("geopotential_at_surface in ")
    np.testing.assert_allclose(src.static_arrays["z"], ref_src.static_arrays["z"], rtol=1e-6, atol=1e-2)
    b = src.batch(SAMPLE)
    np.testing.assert_allclose(b.static_vars["z"].numpy(), ref_batch.static_vars["z"].numpy(), rtol=1e-6, atol=1e-2)
    assert np.array_equal(b.static_vars["lsm"].numpy(), ref_batch.static_vars["lsm"].numpy())


def test_static_file_in_metres_without_units_fails_naming_variable_and_range(tmp_path, base):
    store = _write_zarr(base.drop_vars(list(STATIC)), tmp_path / "dyn.zarr")
    static = _static_file(base, tmp_path / "static.nc", None)
    peak = float(base["geopotential_at_surface"].max()) / G
    with pytest.raises(ValueError) as err:
        open_source("weatherbench2", store, static_path=static)
    msg = str(err.value)
    assert "variable 'geopotential_at_surface' (Aurora static z)" in msg and "static.nc" in msg
    assert "declares no units" in msg
    assert f"range seen 0 .. {peak:.6g}" in msg and "look like m (" in msg


def test_unknown_units_in_a_file_are_refused(tmp_path, base):
    ds = base.copy()
    ds["mean_sea_level_pressure"].attrs["units"] = "inHg"
    store = _write_zarr(ds, tmp_path / "x.zarr")
    with pytest.raises(ValueError, match=rf"'mean_sea_level_pressure'.*in {tmp_path}/x\.zarr declares units 'inHg'"):
        open_source("weatherbench2", store)


def test_declared_foreign_units_are_converted(tmp_path, base, reference, caplog):
    _, ref = reference
    ds = base.copy()
    for name, units, f in (
        ("mean_sea_level_pressure", "hPa", lambda x: x / 100),
        ("2m_temperature", "degC", lambda x: x - 273.15),
        ("temperature", "deg_C", lambda x: x - 273.15),
        ("geopotential", "gpm", lambda x: x / G),
        ("specific_humidity", "g kg**-1", lambda x: x * 1000),
        ("10m_u_component_of_wind", "knots", lambda x: x / (1852 / 3600)),
    ):
        ds[name] = f(ds[name].astype(np.float64)).astype(np.float32)
        ds[name].attrs["units"] = units
    store = _write_zarr(ds, tmp_path / "foreign.zarr")
    with caplog.at_level(logging.WARNING, logger="aurora_xai.data.era5"):
        src = open_source("weatherbench2", store)
    assert sum("converting units" in r.getMessage() for r in caplog.records) == 6
    assert len(src.unit_conversions) == 6
    b = src.batch(SAMPLE)
    for group in ("surf_vars", "atmos_vars"):
        for k, v in getattr(ref, group).items():
            np.testing.assert_allclose(
                getattr(b, group)[k].numpy(), v.numpy(), rtol=2e-6, atol=2e-5 * float(abs(v).max())
            )


def test_undeclared_units_in_aurora_units_pass(tmp_path, base, reference):
    _, ref = reference
    src = open_source("weatherbench2", _write_zarr(_without_units(base), tmp_path / "bare.zarr"))
    assert src.unit_conversions == []
    b = src.batch(SAMPLE)
    for k, v in ref.atmos_vars.items():
        assert np.array_equal(b.atmos_vars[k].numpy(), v.numpy())


@pytest.mark.parametrize(
    "name,f,where",
    [
        (
            "mean_sea_level_pressure",
            lambda x: x / 100,
            r"'mean_sea_level_pressure' \(Aurora surf msl\), time 2005-03-01 00:00",
        ),
        ("2m_temperature", lambda x: x - 273.15, r"'2m_temperature' \(Aurora surf 2t\), time 2005-03-01 00:00"),
        ("temperature", lambda x: x - 273.15, r"'temperature' \(Aurora atmos t\), level 50 hPa, time 2005-03-01 00:00"),
        ("geopotential", lambda x: x / G, r"'geopotential' \(Aurora atmos z\), level 50 hPa, time 2005-03-01 00:00"),
        (
            "specific_humidity",
            lambda x: x * 1000,
            r"'specific_humidity' \(Aurora atmos q\), level 50 hPa, time 2005-03-01 00:00",
        ),
    ],
)
def test_undeclared_wrong_unit_factor_fails_naming_variable_level_time_and_range(tmp_path, base, name, f, where):
    ds = _without_units(base)
    ds[name] = f(ds[name])
    src = open_source("weatherbench2", _write_zarr(ds, tmp_path / "bad.zarr"))
    with pytest.raises(ValueError, match=where + r" in .*bad\.zarr: range seen -?[0-9.e+-]+ \.\. [0-9.e+-]+") as err:
        src.batch(SAMPLE)
    assert "look like" in str(err.value)


def test_units_differing_between_files_are_refused(tmp_path, base):
    single = xr.Dataset(
        {
            "t2m": base["2m_temperature"],
            "u10": base["10m_u_component_of_wind"],
            "v10": base["10m_v_component_of_wind"],
            "msl": base["mean_sea_level_pressure"],
        }
    )
    for short, name in (("z", "geopotential_at_surface"), ("lsm", "land_sea_mask"), ("slt", "soil_type")):
        single[short] = base[name].expand_dims(time=base["time"].values).transpose("time", "latitude", "longitude")
    pres = xr.Dataset(
        {
            "z": base["geopotential"],
            "u": base["u_component_of_wind"],
            "v": base["v_component_of_wind"],
            "t": base["temperature"],
            "q": base["specific_humidity"],
        }
    )
    folder = tmp_path / "cds"
    folder.mkdir()
    single.to_netcdf(folder / "single.nc")
    first, second = pres.isel(time=slice(0, 2)), pres.isel(time=slice(2, None)).copy()
    second["z"] = second["z"] / G
    second["z"].attrs["units"] = "m"
    first.to_netcdf(folder / "pl_a.nc")
    second.to_netcdf(folder / "pl_b.nc")
    with pytest.raises(
        ValueError, match=r"'geopotential' is stored in different units.*pl_a\.nc: 'm2 s-2'.*pl_b\.nc: 'm'"
    ):
        open_source("cds", str(folder))


def test_synthetic_store_declares_aurora_units_and_is_plausible(tmp_path):
    """The embedded default's stand-in: every unit is Aurora's, and its values pass the checks."""
    storm = Storm.from_config(
        "deep",
        {
            "kind": "tropical",
            "track": [
                {"time": "2005-08-28T00", "lat": 26, "lon": -88, "msl": 902, "wind": 75},
                {"time": "2005-08-29T12", "lat": 30, "lon": -90, "msl": 920, "wind": 60},
            ],
        },
    )
    spec = SyntheticSpec.from_schema(
        resolution=3.0, periods=(("2005-01-14", "2005-01-14"), ("2005-08-28", "2005-08-28")), storms=(storm,)
    )
    path = write_synthetic_store(spec, tmp_path / "syn.zarr")
    src = open_source("synthetic", str(path))
    assert src.unit_conversions == []
    assert all(c is not None and c.is_identity for c in src._units.values())
    ds = xr.open_zarr(path)
    for name in ds.data_vars:
        assert canonical_units(ds[name].attrs["units"]) is not None, name
    bare = open_source("weatherbench2", _write_zarr(_without_units(ds.load()), tmp_path / "bare.zarr"))
    assert bare.static_arrays["z"].max() > 1000 * G
    bare.batches([pd.Timestamp("2005-01-14T06"), pd.Timestamp("2005-08-28T12")])  # plausibility checks pass
