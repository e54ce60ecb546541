"""Time steps stored entirely as NaN (how ARCO-ERA5 marks missing data) count as missing.

Under ``data.on_missing: skip`` they are skipped and recorded with their reason, in the
extraction, the storm/calm labels and the climatology fill; without it they raise
``MissingTimeError`` naming the time. A NaN anywhere else stays an error naming variable,
level and time.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from presets import US_BOX

from aurora_xai.data.era5 import MissingTimeError, open_source
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset
from aurora_xai.latents.extract import extract_pooled
from aurora_xai.latents.io import combine_shards
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.perturbation.apply import climatology_fill
from aurora_xai.regions import Region
from aurora_xai.sections import section_defaults
from aurora_xai.storms.labels import LabelSpec, daily_max_wind, label_storm_days

SPEC = SyntheticSpec.from_schema(
    resolution=9.0, periods=(("2005-03-01", "2005-03-04"),), extra_variables=False, compress=False
)
EMPTY = pd.Timestamp("2005-03-02T12")  # the step stored as NaN
STATIC = ("geopotential_at_surface", "land_sea_mask", "soil_type")
REGIONS = {"globe": Region("globe", -90, 90, 0, 360), "us": US_BOX}


def _write_zarr(ds: xr.Dataset, path: Path, valid: tuple[str, str] | None = None) -> str:
    enc = {n: {"compressors": None} for n in ds.data_vars}
    if valid:
        ds = ds.assign_attrs(valid_time_start=valid[0], valid_time_stop=valid[1])
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return str(path)


def _blank(ds: xr.Dataset, time: pd.Timestamp, names=None, **sel) -> xr.Dataset:
    ds = ds.copy(deep=True)
    for n in names if names is not None else [n for n in ds.data_vars if "time" in ds[n].dims]:
        ds[n].loc[{"time": time, **{k: v for k, v in sel.items() if k in ds[n].dims}}] = np.nan
    return ds


@pytest.fixture(scope="module")
def base() -> xr.Dataset:
    return synthetic_dataset(SPEC)


@pytest.fixture(scope="module")
def stores(base, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("nan")
    return {
        "clean": _write_zarr(base, root / "clean.zarr"),
        "empty": _write_zarr(_blank(base, EMPTY), root / "empty.zarr"),
    }


@pytest.fixture(scope="module")
def model():
    return build_model(ModelSpec.from_schema(seed=1))


# ---------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------


def test_extraction_skips_nan_steps_and_records_why(stores, model, tmp_path, caplog):
    times = pd.DatetimeIndex(["2005-03-02T06", "2005-03-02T12", "2005-03-02T18", "2005-03-03T00", "2005-03-05T06"])
    src = open_source("weatherbench2", stores["empty"], on_missing="skip")
    with caplog.at_level(logging.WARNING):
        ds = extract_pooled(src, model, times, "backbone", REGIONS, skip_missing=True)
    kept = pd.DatetimeIndex(ds["date"].values)
    assert list(kept) == [pd.Timestamp("2005-03-02T06"), pd.Timestamp("2005-03-03T00")]
    assert ds.attrs["skipped_dates"] == "2005-03-02T12,2005-03-02T18,2005-03-05T06"
    reasons = json.loads(ds.attrs["skipped_reasons"])
    assert "time 2005-03-02 12:00 is stored as NaN" in reasons["2005-03-02T12"]  # current step
    assert "time 2005-03-02 12:00 is stored as NaN" in reasons["2005-03-02T18"]  # its history step
    assert "missing data" in reasons["2005-03-02T18"]
    assert reasons["2005-03-05T06"] == "time 2005-03-05 00:00 is not in the store"
    assert any("skipping 2005-03-02T18" in r.getMessage() for r in caplog.records)
    assert ds["day_of_year"].values.tolist() == [61, 62]
    # the kept samples are exactly those of a store without the gap
    clean = extract_pooled(open_source("weatherbench2", stores["clean"]), model, kept, "backbone", REGIONS)
    assert np.array_equal(ds["pooled"].values, clean["pooled"].values)
    # shards joined: skipped dates are not missing, and their reasons are kept
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    ds.to_netcdf(a)
    other = extract_pooled(src, model, pd.DatetimeIndex(["2005-03-03T06"]), "backbone", REGIONS, skip_missing=True)
    other.to_netcdf(b)
    joined = combine_shards([a, b], expected=list(times) + [pd.Timestamp("2005-03-03T06")])
    assert json.loads(joined.attrs["skipped_reasons"]) == reasons
    assert joined.sizes["date"] == 3


def test_extraction_without_skip_names_the_nan_step(stores, model):
    src = open_source("weatherbench2", stores["empty"])
    with pytest.raises(
        MissingTimeError, match=r"time 2005-03-02 12:00 is stored as NaN in every field.*on_missing: skip"
    ):
        extract_pooled(src, model, pd.DatetimeIndex(["2005-03-02T06", "2005-03-02T18"]), "backbone", REGIONS)
    with pytest.raises(MissingTimeError, match="2005-03-02 12:00 is stored as NaN"):
        src.batch(pd.Timestamp("2005-03-02T12"))
    # skip asked for, but the caller reads one sample: still an error, never a silent NaN batch
    skip = open_source("weatherbench2", stores["empty"], on_missing="skip")
    with pytest.raises(MissingTimeError):
        skip.batch(pd.Timestamp("2005-03-02T18"))
    assert skip.batches([pd.Timestamp("2005-03-02T18"), pd.Timestamp("2005-03-02T06")], skip_empty=True)[0] is None
    # raw steps (as a download copies them): the NaN step is kept as it is and recorded
    out = skip.read_steps([pd.Timestamp("2005-03-02T06"), EMPTY], skip_empty=True)
    assert np.isnan(out["temperature"][1]).all() and np.isfinite(out["temperature"][0]).all()
    assert list(skip.empty_steps) == [EMPTY]


@pytest.mark.parametrize(
    "blank,match",
    [
        # everything NaN but 2 m temperature: not a missing step
        (
            dict(names=None, keep="2m_temperature"),
            r"'10m_u_component_of_wind', time 2005-03-02 12:00 .*the whole field is NaN there",
        ),
        (dict(names=["temperature"], level=500), r"'temperature', level 500 hPa, time 2005-03-02 12:00"),
        (dict(names=["specific_humidity"], level=850, latitude=0.0), r"'specific_humidity', level 850 hPa, time 2005"),
    ],
)
def test_partial_nan_stays_an_error_naming_variable_level_and_time(base, model, tmp_path, blank, match):
    names = blank.pop("names")
    keep = blank.pop("keep", None)
    if names is None:
        names = [n for n in base.data_vars if "time" in base[n].dims and n != keep]
    store = _write_zarr(_blank(base, EMPTY, names, **blank), tmp_path / "partial.zarr")
    src = open_source("weatherbench2", store, on_missing="skip")
    with pytest.raises(ValueError, match=match):
        extract_pooled(src, model, pd.DatetimeIndex(["2005-03-02T12"]), "backbone", REGIONS, skip_missing=True)
    assert src.empty_steps == {}


def test_arco_static_fields_stored_as_nan_at_the_first_valid_time(base, tmp_path, caplog):
    """ARCO stores the invariant fields at every time; the first valid one may be a NaN step."""
    ds = base.copy()
    for n in STATIC:
        ds[n] = base[n].expand_dims(time=base["time"].values).transpose("time", "latitude", "longitude").copy()
    first = pd.Timestamp("2005-03-01T00")
    store = _write_zarr(_blank(ds, first), tmp_path / "arco.zarr", valid=("2005-03-01", "2005-03-04"))
    with caplog.at_level(logging.WARNING, logger="aurora_xai.data.static"):
        src = open_source("arco", store, on_missing="skip")
    assert any("stored as NaN at 2005-03-01 00:00" in r.getMessage() for r in caplog.records)
    ref = open_source("weatherbench2", _write_zarr(base, tmp_path / "ref.zarr"))
    for k in ("z", "lsm", "slt"):
        assert np.array_equal(src.static_arrays[k], ref.static_arrays[k])
    (b,) = src.batches([pd.Timestamp("2005-03-01T06")], skip_empty=True)
    assert b is None and src.missing_reason(pd.Timestamp("2005-03-01T06")).startswith("time 2005-03-01 00:00")


# ---------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------


def test_labels_skip_nan_steps_and_record_why(base, stores, tmp_path):
    days = pd.date_range("2005-03-01T12", "2005-03-04T12", freq="D")
    skip = open_source("weatherbench2", stores["empty"], on_missing="skip")
    wind, skipped = daily_max_wind(skip, US_BOX, days)
    assert skipped == [EMPTY] and list(wind.index) == [d for d in days if d != EMPTY]
    clean, _ = daily_max_wind(open_source("weatherbench2", stores["clean"]), US_BOX, days)
    assert np.array_equal(wind.to_numpy(), clean.drop(EMPTY).to_numpy())
    spec = dataclasses.replace(
        LabelSpec.from_config(section_defaults("labels"), REGIONS),
        region=US_BOX,
        start="2005-03-01",
        end="2005-03-05",
        n_days=1,
    )
    table, daily, summary = label_storm_days(skip, spec)
    assert summary["skipped_dates"] == ["2005-03-02", "2005-03-05"]
    assert "2005-03-02 12:00 is stored as NaN" in summary["skipped_reasons"]["2005-03-02"]
    assert summary["skipped_reasons"]["2005-03-05"] == "time 2005-03-05 12:00 is not in the store"
    json.dumps(summary)  # written as JSON
    with pytest.raises(MissingTimeError, match="2005-03-02 12:00 is stored as NaN"):
        daily_max_wind(open_source("weatherbench2", stores["empty"]), US_BOX, days)


def test_labels_partial_nan_is_an_error(base, tmp_path):
    # one wind component missing: not a missing time step
    store = _write_zarr(_blank(base, EMPTY, ["10m_u_component_of_wind"]), tmp_path / "u.zarr")
    src = open_source("weatherbench2", store, on_missing="skip")
    with pytest.raises(ValueError, match=r"'10m_u_component_of_wind', time 2005-03-02 12:00"):
        daily_max_wind(src, US_BOX, pd.DatetimeIndex([EMPTY]))
    # one NaN inside the box
    ds = base.copy(deep=True)
    ds["10m_v_component_of_wind"].loc[{"time": EMPTY, "latitude": 45.0, "longitude": 270.0}] = np.nan
    src = open_source("weatherbench2", _write_zarr(ds, tmp_path / "v.zarr"), on_missing="skip")
    with pytest.raises(ValueError, match=r"'10m_v_component_of_wind', time 2005-03-02 12:00"):
        daily_max_wind(src, US_BOX, pd.DatetimeIndex([EMPTY]))


# ---------------------------------------------------------------------------------------
# Climatology fill (perturbation)
# ---------------------------------------------------------------------------------------


def test_climatology_fill_leaves_out_nan_steps_under_skip(stores):
    skip = open_source("weatherbench2", stores["empty"], on_missing="skip")
    time = pd.Timestamp("2005-03-03T18")
    fill, used = climatology_fill(skip, time, window_days=3, exclude_same_year=False)
    assert pd.Timestamp("2005-03-02T18") not in used and pd.Timestamp("2005-03-01T18") in used
    ref = open_source("weatherbench2", stores["clean"])
    mean = sum(ref.batch(t).surf_vars["msl"].double() for t in used) / len(used)
    assert torch.allclose(fill.surf_vars["msl"].double(), mean.to(fill.surf_vars["msl"].dtype).double())
    with pytest.raises(MissingTimeError, match="stored as NaN"):
        climatology_fill(open_source("weatherbench2", stores["empty"]), time, window_days=3, exclude_same_year=False)
