"""Results do not depend on the process time zone.

Aurora embeds absolute time with ``datetime.timestamp()``, which reads a naive datetime
as local time. The same sample is run in subprocesses under ``TZ=UTC``, ``TZ=Asia/Tokyo``
and ``TZ=America/New_York`` (``time.tzset()`` state is per process): pooled latents,
forecasts, relevance, the date table, climatology days, labels and provenance must be
identical bit for bit. A naive-time batch run in the same processes shows that the test
would see the fault.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aurora_xai.dates import date_metadata, utc_datetime, utc_index, utc_timestamp

ZONES = ("UTC", "Asia/Tokyo", "America/New_York")

SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, sys, time
    import numpy as np, pandas as pd, torch
    torch.set_num_threads(1)
    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.data.era5 import open_source
    from aurora_xai.dates import DateSpec, date_metadata
    from aurora_xai.latents.extract import extract_pooled
    from aurora_xai.model import ModelSpec, build_model
    from aurora_xai.perturbation.apply import climatology_times
    from aurora_xai.provenance import provenance
    from aurora_xai.regions import Region
    from aurora_xai.storms.labels import daily_max_wind

    store, out = sys.argv[1], sys.argv[2]
    src = open_source("weatherbench2", store)
    model = build_model(ModelSpec.from_schema(seed=3))
    times = pd.DatetimeIndex(["2005-03-01T06", "2005-03-01T12"])
    regions = {"globe": Region("globe", -90, 90, 0, 360), "europe": Region("europe", 35, 70, 348, 45)}
    arrays = {"pooled": extract_pooled(src, model, times, "backbone", regions)["pooled"].values}
    batch = src.batch(pd.Timestamp("2005-03-01T15:00+09:00"))  # 06 UTC, given in another zone
    with torch.inference_mode():
        pred = model(batch)
    for k, v in pred.surf_vars.items():
        arrays["forecast_" + k] = v.numpy()
    for k, v in pred.atmos_vars.items():
        arrays["forecast_" + k] = v.numpy()
    target = ForecastTarget("msl", None, Region("box", 30, 70, 340, 40))
    rel = compute_relevance(model, batch, target, method="lrp", dtype=torch.float64)
    for k in rel.data_vars:
        arrays["relevance_" + k] = rel[k].values
    naive = dataclasses.replace(
        batch, metadata=dataclasses.replace(batch.metadata, time=(batch.metadata.time[0].replace(tzinfo=None),))
    )
    with torch.inference_mode():
        arrays["naive_forecast_msl"] = model(naive).surf_vars["msl"].numpy()
    spec = DateSpec(start="2004-12-30", end="2005-01-02", step_days=1, target_hour=6, history_hours=6, shard_size=2, allow_history_mismatch=False
    )
    seconds = lambda idx: np.asarray(idx.values.astype("datetime64[s]").astype(np.int64))
    arrays["dates"] = seconds(spec.times())
    for k, v in date_metadata(spec.times()).items():
        arrays["date_" + k] = v
    avail = pd.date_range("2003-01-01", "2006-12-31T18", freq="6h")
    arrays["climatology"] = seconds(climatology_times(avail, pd.Timestamp("2005-03-01T15:00+09:00"), 15))
    wind, skipped = daily_max_wind(src, Region("us", 24, 50, 235, 295), pd.DatetimeIndex(["2005-03-01T12"]))
    arrays["wind"] = wind.to_numpy()
    arrays["wind_time"] = seconds(wind.index)
    np.savez(out + ".npz", **arrays)
    meta = {
        "provenance": provenance({"seed": 0}, checkpoint="tiny"),
        "relevance_attrs": {k: str(v) for k, v in rel.attrs.items()},
        "utc_offset_s": time.localtime(1109656800).tm_gmtoff,
        "naive_timestamp": batch.metadata.time[0].replace(tzinfo=None).timestamp(),
    }
    with open(out + ".json", "w") as fh:
        json.dump(meta, fh)
    """
)


@pytest.fixture(scope="module")
def tz_runs(tmp_path_factory):
    from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store

    root = tmp_path_factory.mktemp("tz")
    store = write_synthetic_store(
        SyntheticSpec.from_schema(resolution=9.0, periods=(("2005-03-01", "2005-03-01"),)), root / "s.zarr"
    )
    script = root / "run.py"
    script.write_text(SCRIPT)
    out = {}
    for zone in ZONES:
        env = dict(os.environ, TZ=zone, OMP_NUM_THREADS="1")
        stem = str(root / zone.replace("/", "_"))
        proc = subprocess.run(
            [sys.executable, str(script), str(store), stem], env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        with np.load(stem + ".npz") as z:
            arrays = {k: z[k] for k in z.files}
        out[zone] = (arrays, json.loads(Path(stem + ".json").read_text()))
    return out


def test_the_zones_really_differ(tz_runs):
    """The processes ran with different local time, and a naive time would change the forecast."""
    offsets = {zone: meta["utc_offset_s"] for zone, (_, meta) in tz_runs.items()}
    assert offsets == {"UTC": 0, "Asia/Tokyo": 9 * 3600, "America/New_York": -5 * 3600}
    ref = tz_runs["UTC"][0]["naive_forecast_msl"]
    for zone in ZONES[1:]:
        assert not np.array_equal(tz_runs[zone][0]["naive_forecast_msl"], ref), zone
        assert tz_runs[zone][1]["naive_timestamp"] != tz_runs["UTC"][1]["naive_timestamp"]


def test_results_are_identical_in_every_zone(tz_runs):
    ref_arrays, ref_meta = tz_runs["UTC"]
    names = [k for k in ref_arrays if k != "naive_forecast_msl"]
    assert {"pooled", "forecast_msl", "forecast_t", "relevance_msl", "relevance_static_z", "dates", "wind"} <= set(
        names
    )
    for zone in ZONES[1:]:
        arrays, meta = tz_runs[zone]
        for k in names:
            a, b = ref_arrays[k], arrays[k]
            assert a.dtype == b.dtype and a.shape == b.shape, (zone, k)
            assert a.tobytes() == b.tobytes(), f"{k} differs under TZ={zone}"
        assert meta["provenance"] == ref_meta["provenance"]
        assert meta["relevance_attrs"] == ref_meta["relevance_attrs"]
    # and the values are the UTC ones
    assert ref_arrays["date_day_of_year"].tolist() == [365, 366, 1, 2]
    assert pd.to_datetime(ref_arrays["dates"], unit="s")[0] == pd.Timestamp("2004-12-30T06")
    clim = pd.to_datetime(ref_arrays["climatology"], unit="s")
    assert set(clim.hour) == {6} and clim.year.min() == 2003 and 2005 not in set(clim.year)
    assert pd.to_datetime(ref_arrays["wind_time"], unit="s")[0] == pd.Timestamp("2005-03-01T12")


# ---------------------------------------------------------------------------------------
# The helpers, in process
# ---------------------------------------------------------------------------------------


def test_utc_helpers():
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert utc_timestamp("2005-03-01T15:00+09:00") == pd.Timestamp("2005-03-01T06")
    assert utc_timestamp(dt.datetime(2005, 3, 1, 15, tzinfo=tokyo)).tzinfo is None
    assert utc_timestamp(np.datetime64("2005-03-01T06")) == pd.Timestamp("2005-03-01T06")
    with pytest.raises(ValueError, match="not a time"):
        utc_timestamp(None)
    idx = utc_index(pd.date_range("2005-01-01T09", periods=3, freq="h", tz="Asia/Tokyo"))
    assert idx.tz is None and idx[0] == pd.Timestamp("2005-01-01T00")
    mixed = utc_index(["2005-01-01T00:00+01:00", pd.Timestamp("2005-01-01T00")])
    assert list(mixed) == [pd.Timestamp("2004-12-31T23"), pd.Timestamp("2005-01-01T00")]
    aware = utc_datetime("2005-03-01T06")
    assert aware.tzinfo is not None and aware.utcoffset() == dt.timedelta(0)
    assert aware.timestamp() == 1109656800.0  # whatever the process time zone
    assert utc_datetime(dt.datetime(2005, 3, 1, 15, tzinfo=tokyo)) == aware
    meta = date_metadata(pd.DatetimeIndex(["2005-01-01T02:00"], tz="Asia/Tokyo"))  # 2004-12-31 17 UTC
    assert meta["day_of_year"].tolist() == [366] and meta["month"].tolist() == [12]


def test_source_takes_times_in_any_zone_and_gives_aurora_utc(tmp_path):
    import torch

    from aurora_xai.data.era5 import open_source
    from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store

    store = write_synthetic_store(
        SyntheticSpec.from_schema(resolution=9.0, periods=(("2005-03-01", "2005-03-01"),), extra_variables=False),
        tmp_path / "s.zarr",
    )
    src = open_source("weatherbench2", str(store))
    a = src.batch(pd.Timestamp("2005-03-01T06"))
    b = src.batch(pd.Timestamp("2005-03-01T01:00-05:00"))
    (c,) = src.batches([dt.datetime(2005, 3, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=9)))])
    for other in (b, c):
        assert other.metadata.time == a.metadata.time
        for k in a.surf_vars:
            assert torch.equal(a.surf_vars[k], other.surf_vars[k])
    t = a.metadata.time[0]
    assert t.utcoffset() == dt.timedelta(0) and t.timestamp() == 1109656800.0
    assert src.has_time("2005-03-01T15:00+09:00") and not src.has_time("2005-03-01T06:00+09:00")
