"""Storm and calm composites of relevance: per-day moments, quantities, bootstrap composites,
and the per-day relevance of labelled days on the tiny model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from conftest import REPO

from aurora_xai.attribution.composite_figures import plot_relevance_composites
from aurora_xai.attribution.composites import (
    GROUPS,
    centroid,
    composite_headline,
    composite_table,
    day_moments,
    day_quantities,
    empty_day_moments,
    stack_days,
    wrap_degrees,
)
from aurora_xai.attribution.summaries import relevance_centroids, vertical_profile
from aurora_xai.regimes.blocking import day_numbers, episode_groups
from aurora_xai.regions import Region
from aurora_xai.tables import headline_rows

torch.set_num_threads(1)

LAT = np.linspace(90, -90, 37)  # 5 degrees
LON = np.arange(72) * 5.0
LEVELS = np.array([250.0, 500.0, 850.0])
BOX = Region("eu", 30.0, 60.0, 340.0, 20.0)  # crosses 0 E


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return int(np.argmin(abs(LAT - lat))), int(np.argmin(abs(LON - lon % 360)))


def _relevance(points: dict[tuple[str, float], list[tuple[float, float, float]]], msl: float = 0.0) -> xr.Dataset:
    """A relevance dataset with ``R`` planted at (lat, lon, value) per (variable, level),
    split over the two history steps; ``msl`` relevance at (45 N, 0 E); 1.0 of ``t`` at
    850 hPa outside the box (0 N, 180 E); a static field of zeros."""
    atm = {v: np.zeros((2, LEVELS.size, LAT.size, LON.size)) for v in ("t", "u")}
    for (v, lev), pts in points.items():
        k = int(np.flatnonzero(LEVELS == lev)[0])
        for lat, lon, value in pts:
            i, j = _cell(lat, lon)
            atm[v][0, k, i, j] += 0.25 * value
            atm[v][1, k, i, j] += 0.75 * value
    i, j = _cell(0.0, 180.0)
    atm["t"][1, 2, i, j] += 1.0
    surf = np.zeros((2, LAT.size, LON.size))
    i, j = _cell(45.0, 0.0)
    surf[1, i, j] = msl
    data = {v: (("history", "level", "latitude", "longitude"), a, {"kind": "atmospheric"}) for v, a in atm.items()}
    data["msl"] = (("history", "latitude", "longitude"), surf, {"kind": "surface"})
    data["static_lsm"] = (("latitude", "longitude"), np.zeros((LAT.size, LON.size)), {"kind": "static"})
    coords = {"history": [-6.0, 0.0], "level": LEVELS, "latitude": LAT, "longitude": LON}
    return xr.Dataset(data, coords=coords)


def _days(datasets: list[xr.Dataset], days: list[str], labels: list[str]) -> xr.Dataset:
    rows = [{"date": d, "label": lab, "rank": i + 1, "wind": 20.0} for i, (d, lab) in enumerate(zip(days, labels))]
    times = [pd.Timestamp(f"{d}T06:00") for d in days]
    return stack_days([day_moments(ds, BOX) for ds in datasets], times, rows)


def _scalar(q: pd.DataFrame, quantity: str) -> np.ndarray:
    return q[q["quantity"] == quantity].sort_values("date")["value"].to_numpy()


# --------------------------------------------------------------------------------------
# One day's moments and quantities: known answers.
# --------------------------------------------------------------------------------------


def test_moments_give_the_summaries_profiles_and_centroids():
    rng = np.random.default_rng(0)
    ds = _relevance({})
    for v in ("t", "u"):
        ds[v].values[:] = rng.standard_normal(ds[v].shape)
    m = day_moments(ds, BOX)
    profile = vertical_profile(ds, BOX)
    for v in ("t", "u"):
        np.testing.assert_allclose(m["abs_relevance"].sel(variable=v).values, profile[v].values, rtol=1e-12)
    lat, lon = centroid(m)
    ref = relevance_centroids(ds, BOX, variables=["t", "u"]).set_index(["variable", "level"])
    for v in ("t", "u"):
        for lev in LEVELS:
            assert lat.sel(variable=v, level=lev) == pytest.approx(ref.loc[(v, lev), "lat"], abs=1e-9)
            d = wrap_degrees(float(lon.sel(variable=v, level=lev)) - ref.loc[(v, lev), "lon"])
            assert abs(d) < 1e-9
    signed = vertical_profile(ds, BOX, signed=True)
    np.testing.assert_allclose(m["signed_relevance"].sel(variable="t").values, signed["t"].values, rtol=1e-12)


def test_planted_day_gives_its_shares_offsets_and_tilt():
    """|R| 2 at 850 hPa (45N, 10E), 1 at 500 hPa (45N, 0E), 1 at 250 hPa (45N, 350E) and
    msl 4 inside the box: upper share 1/2, atmospheric share 4/8, the upper layer centred
    at 355E and the lower at 10E (a westward tilt of 15 degrees), shares and offsets."""
    points = {("t", 850.0): [(45.0, 10.0, 2.0)], ("t", 500.0): [(45.0, 0.0, -1.0)], ("t", 250.0): [(45.0, 350.0, 1.0)]}
    days = _days([_relevance(points, msl=4.0)], ["2005-01-03"], ["storm"])
    q = day_quantities(days)
    assert _scalar(q, "upper_share") == pytest.approx([0.5])
    assert _scalar(q, "atmospheric_share") == pytest.approx([0.5])
    assert _scalar(q, "box_share") == pytest.approx([8.0 / 9.0])  # 1.0 of t lies outside the box
    assert _scalar(q, "tilt_lon") == pytest.approx([-15.0])
    assert _scalar(q, "tilt_lat") == pytest.approx([0.0], abs=1e-9)
    share = q[(q["quantity"] == "profile_share") & (q["variable"] == "t")].set_index("level")["value"]
    assert share.to_dict() == pytest.approx({250.0: 0.25, 500.0: 0.25, 850.0: 0.5})
    u_share = q[(q["quantity"] == "profile_share") & (q["variable"] == "u")]["value"]
    assert (u_share == 0).all()
    # column centroid: weights 2 at 10E, 1 at 0E, 1 at 350E
    rad = np.deg2rad([10.0, 0.0, 350.0])
    col = np.rad2deg(np.arctan2((np.array([2, 1, 1]) * np.sin(rad)).sum(), (np.array([2, 1, 1]) * np.cos(rad)).sum()))
    dlon = q[(q["quantity"] == "centroid_dlon") & (q["variable"] == "all")].set_index("level")["value"]
    assert dlon[850.0] == pytest.approx(10.0 - col)
    assert dlon[250.0] == pytest.approx(wrap_degrees(350.0 - col))
    assert q[(q["quantity"] == "centroid_dlon") & (q["variable"] == "u")]["value"].isna().all()  # no weight


def test_eastward_tilt_has_the_opposite_sign():
    points = {("t", 850.0): [(45.0, 350.0, 1.0)], ("t", 250.0): [(40.0, 10.0, 1.0)]}
    q = day_quantities(_days([_relevance(points)], ["2005-01-03"], ["calm"]))
    assert _scalar(q, "tilt_lon") == pytest.approx([20.0])
    assert _scalar(q, "tilt_lat") == pytest.approx([LAT[_cell(40.0, 0)[0]] - 45.0])


def test_moments_refuse_an_empty_box_and_no_atmospheric_variable():
    ds = _relevance({})
    with pytest.raises(ValueError, match="no cell"):
        day_moments(ds, Region("gap", 1.0, 2.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="no atmospheric"):
        day_moments(ds.drop_vars(["t", "u"]), BOX)


def test_episodes_are_runs_of_consecutive_days():
    """The composites' units: :func:`~aurora_xai.regimes.blocking.episode_groups` of one label."""

    def episodes(days):
        return episode_groups(day_numbers(days), np.zeros(len(days), dtype=np.int64))

    days = ["2005-01-05", "2005-01-01", "2005-01-02", "2005-01-04", "2005-03-01", "2005-01-03"]
    assert episodes(days).tolist() == [0, 0, 0, 0, 1, 0]
    assert episodes(["2005-01-01", "2005-01-03", "2005-01-04"]).tolist() == [0, 1, 1]
    assert episodes([]).tolist() == []


# --------------------------------------------------------------------------------------
# Composites: planted distributions.
# --------------------------------------------------------------------------------------


def _quantities(storm: np.ndarray, calm: np.ndarray, start: str = "2005-01-01", gap: int = 2) -> pd.DataFrame:
    """Per-day quantities: one scalar (``upper_share``) and a two-level profile, days ``gap`` apart."""
    rows = []
    day = pd.Timestamp(start)
    for label, values in (("storm", storm), ("calm", calm)):
        for v in values:
            d = f"{day:%Y-%m-%d}"
            rows.append((d, label, "upper_share", "all", np.nan, v))
            rows.append((d, label, "profile_share", "all", 250.0, v))
            rows.append((d, label, "profile_share", "all", 850.0, 1.0 - v))
            day += pd.Timedelta(days=gap)
    return pd.DataFrame(rows, columns=["day", "label", "quantity", "variable", "level", "value"])


def _row(table: pd.DataFrame, group: str, quantity: str = "upper_share") -> pd.Series:
    return table[(table["quantity"] == quantity) & (table["group"] == group)].iloc[0]


def test_interval_covers_the_planted_mean_at_its_level():
    """Over 200 planted samples of 30 days, the 90 % interval covers the mean 85-97 % of the time."""
    rng = np.random.default_rng(1)
    hits = 0
    for rep in range(200):
        q = _quantities(0.3 + 0.05 * rng.standard_normal(30), 0.5 + 0.05 * rng.standard_normal(30))
        table = composite_table(q, n_boot=400, seed=rep, resample="days", level=0.9)
        r = _row(table, "storm")
        hits += r["ci_low"] <= 0.3 <= r["ci_high"]
    assert 0.85 <= hits / 200 <= 0.97


def test_planted_difference_is_detected_and_none_when_identical():
    rng = np.random.default_rng(2)
    storm = 0.6 + 0.05 * rng.standard_normal(30)
    calm = 0.5 + 0.05 * rng.standard_normal(30)
    table = composite_table(_quantities(storm, calm), n_boot=2000, seed=0)
    d = _row(table, "storm_minus_calm")
    assert d["mean"] == pytest.approx(storm.mean() - calm.mean())
    assert 0.0 < d["ci_low"] <= 0.1 <= d["ci_high"]
    assert d["n_days"] == 60 and d["n_units"] == 60  # days two apart: every day its own episode
    low = _row(table, "storm_minus_calm", "profile_share")  # 250 hPa first
    assert low["ci_high"] < 0.0 or low["ci_low"] > 0.0
    same = composite_table(_quantities(calm, calm), n_boot=2000, seed=0)
    s = _row(same, "storm_minus_calm")
    assert s["mean"] == pytest.approx(0.0, abs=1e-12)
    assert s["ci_low"] < 0.0 < s["ci_high"]
    assert s["ci_high"] - s["ci_low"] < 0.1


def test_episodes_widen_the_interval_of_runs_of_days():
    """Days in runs of five with one value per run: resampling days pretends to 5x the data."""
    rng = np.random.default_rng(3)
    storm = np.repeat(0.5 + 0.1 * rng.standard_normal(6), 5)
    calm = np.repeat(0.5 + 0.1 * rng.standard_normal(6), 5)
    rows = []
    for label, values, start in (("storm", storm, "2005-01-01"), ("calm", calm, "2005-06-01")):
        day = pd.Timestamp(start)
        for k, v in enumerate(values):
            rows.append((f"{day:%Y-%m-%d}", label, "upper_share", "all", np.nan, v))
            day += pd.Timedelta(days=1 if (k + 1) % 5 else 3)
    q = pd.DataFrame(rows, columns=["day", "label", "quantity", "variable", "level", "value"])
    by_episode = _row(composite_table(q, n_boot=2000, seed=0, resample="episodes"), "storm")
    by_day = _row(composite_table(q, n_boot=2000, seed=0, resample="days"), "storm")
    assert by_episode["n_units"] == 6 and by_day["n_units"] == 30
    assert by_episode["mean"] == pytest.approx(by_day["mean"])
    width = by_episode["ci_high"] - by_episode["ci_low"]
    assert width > 1.6 * (by_day["ci_high"] - by_day["ci_low"])


def test_composites_are_seeded_and_skip_missing_values():
    rng = np.random.default_rng(4)
    q = _quantities(rng.uniform(size=12), rng.uniform(size=12))
    a = composite_table(q, n_boot=300, seed=7)
    pd.testing.assert_frame_equal(a, composite_table(q, n_boot=300, seed=7))
    assert not a["ci_low"].equals(composite_table(q, n_boot=300, seed=8)["ci_low"])
    q.loc[(q["label"] == "storm") & (q["quantity"] == "upper_share"), "value"] = [np.nan] * 11 + [0.4]
    r = _row(composite_table(q, n_boot=300, seed=7), "storm")
    assert r["mean"] == pytest.approx(0.4) and r["n_days"] == 1
    assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"])  # one unit: no interval


def test_composite_table_refuses_bad_arguments():
    q = _quantities(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="composite_resample"):
        composite_table(q, resample="weeks")
    with pytest.raises(ValueError, match="composite_boot"):
        composite_table(q, n_boot=0)
    with pytest.raises(ValueError, match="storm or calm"):
        composite_table(q.assign(label="windy"))


def test_headline_rows_and_not_applicable_without_storm_days():
    rng = np.random.default_rng(5)
    table = composite_table(_quantities(rng.uniform(size=8), rng.uniform(size=8)), n_boot=200)
    rows = headline_rows(composite_headline(table, {"storm": 8, "calm": 8}))
    up = rows.set_index("metric").loc["lrp_upper_share_storm_minus_calm"]
    assert up["n"] == 16 and up["ci_low"] <= up["value"] <= up["ci_high"]
    assert set(rows["metric"]) >= {"lrp_tilt_storm_minus_calm_deg", "lrp_upper_share_storm", "lrp_tilt_calm_deg"}
    calm_only = _quantities(np.zeros(0), rng.uniform(size=8))
    rows = headline_rows(composite_headline(composite_table(calm_only, n_boot=200), {"storm": 0, "calm": 8}))
    rows = rows.set_index("metric")
    assert np.isnan(rows.loc["lrp_upper_share_storm", "value"])
    assert rows.loc["lrp_upper_share_storm_minus_calm", "note"] == "no storm days in the label table"
    assert rows.loc["lrp_upper_share_calm", "note"] == ""
    skipped = composite_headline(
        composite_table(calm_only, n_boot=200), {"storm": 3, "calm": 8}, {"storm": 0, "calm": 8}
    )
    assert "all 3 storm days skipped" in skipped[0]["note"]


def test_headline_n_counts_episodes_not_days():
    """Consecutive days (gap 1) of one label form one episode: 6 storm days in one run and
    6 calm days in one run are 2 episodes, the bootstrap's effective sample."""
    rng = np.random.default_rng(6)
    q = pd.concat(
        [
            _quantities(rng.uniform(size=3), rng.uniform(size=3), start="2005-01-01", gap=1),
            _quantities(rng.uniform(size=3), rng.uniform(size=3), start="2005-03-01", gap=1),
        ],
        ignore_index=True,
    )
    rows = headline_rows(composite_headline(composite_table(q, n_boot=100), {"storm": 6, "calm": 6}, n_boot=100))
    rows = rows.set_index("metric")
    storm, diff = rows.loc["lrp_upper_share_storm"], rows.loc["lrp_upper_share_storm_minus_calm"]
    assert storm["n"] == 2 and storm["n_unit"] == "episodes" and "mean over 6 labelled days" in storm["method"]
    assert diff["n"] == 4 and diff["n_unit"] == "episodes (storm and calm together)"
    by_day = composite_headline(composite_table(q, n_boot=100, resample="days"), {"storm": 6, "calm": 6})
    assert by_day[0]["n"] == 6 and by_day[0]["n_unit"] == "labelled days"


def test_empty_days_dataset_round_trips_and_plots(tmp_path):
    empty = stack_days([], [], [], empty=empty_day_moments(["t", "u"], LEVELS, ["msl"]))
    path = tmp_path / "days.nc"
    empty.to_netcdf(path)
    with xr.open_dataset(path) as back:
        q = day_quantities(back.load())
    assert q.empty
    table = composite_table(q, n_boot=50)
    assert table.empty
    rows = headline_rows(composite_headline(table, {"storm": 0, "calm": 2}, {"storm": 0, "calm": 0}))
    assert rows["value"].isna().all() and len(rows) == 9
    assert rows.set_index("metric").loc["lrp_tilt_storm_minus_calm_deg", "note"] == (
        "no storm days in the label table; all 2 calm days skipped (sample not in the store)"
    )
    plt.close(plot_relevance_composites(table))


def test_figure_has_its_panels_and_labelled_axes():
    rng = np.random.default_rng(6)
    points = {("t", 850.0): [(45.0, 10.0, 2.0)], ("t", 250.0): [(45.0, 350.0, 1.0)], ("u", 500.0): [(40, 0, 1.0)]}
    datasets, days, labels = [], [], []
    for k in range(6):
        ds = _relevance(points)
        ds["t"] = ds["t"] * rng.uniform(0.5, 1.5)
        datasets.append(ds)
        days.append(f"2005-01-{2 * k + 1:02d}")
        labels.append("storm" if k < 3 else "calm")
    table = composite_table(day_quantities(_days(datasets, days, labels)), n_boot=100)
    assert set(table["group"]) == set(GROUPS)
    fig = plot_relevance_composites(table)
    axes = fig.axes
    assert len(axes) == 6
    assert all(ax.get_xlabel() for ax in axes)
    assert axes[0].get_ylabel() == "Pressure (hPa)"
    plt.close(fig)


# --------------------------------------------------------------------------------------
# End to end on the tiny model and a small store.
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_settings(small_store):
    from aurora_xai.settings import Settings, load_config

    overlay = {"data": {"path": str(small_store)}, "model": {"name": "tiny"}}
    return Settings(load_config(REPO / "config" / "config.yaml", overlay))


def _day_inputs(settings):
    """The labelled days' attribution keys, the labels' box and the samples' hour."""
    return settings.attribution_days, settings.labels.region, settings.target_hour


def _label_table(days: list[str], labels: list[str]) -> pd.DataFrame:
    rank = {"storm": 0, "calm": 0}
    rows = []
    for d, lab in zip(days, labels):
        rank[lab] += 1
        wind = 25.0 - rank[lab] if lab == "storm" else 5.0 + rank[lab]
        rows.append({"date": d, "label": lab, "rank": rank[lab], "wind": wind, "season": "DJF", "month": 1})
    return pd.DataFrame(rows)


def test_relevance_of_labelled_days_on_the_tiny_model(tiny_settings):
    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.study import relevance_for_days
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.model import build_model

    model = build_model(tiny_settings.model)
    source = tiny_settings.data.open(tiny_settings.history_hours)
    table = _label_table(
        ["2005-01-03", "2005-01-04", "2005-01-08", "2005-01-09", "2005-01-10"], ["storm"] * 2 + ["calm"] * 3
    )
    days = relevance_for_days(model, source, *_day_inputs(tiny_settings), table, block=2)
    assert days.sizes["date"] == 5 and days.attrs["n_storm"] == 2 and days.attrs["n_calm"] == 3
    assert list(days["label"].values) == ["storm"] * 2 + ["calm"] * 3
    assert pd.Timestamp(days["date"].values[0]) == pd.Timestamp("2005-01-03T06:00")
    assert days.attrs["target"] == "forecast:msl normalised mean over us"
    assert np.all(days["closure_error"].values < 1e-4)  # LRP's bookkeeping closes on every day
    # the same numbers as one compute_relevance call summarised over the box
    batch = source.batch(pd.Timestamp("2005-01-08T06:00"))
    ds = compute_relevance(model, batch, ForecastTarget("msl", None, tiny_settings.regions["us"]))
    profile = vertical_profile(ds, tiny_settings.regions["us"])
    got = days["abs_relevance"].isel(date=2).to_pandas().T
    np.testing.assert_allclose(got[profile.columns].values, profile.values, rtol=1e-6)
    assert float(days["target_value"][2]) == pytest.approx(ds.attrs["target_value"], rel=1e-6)
    q = day_quantities(days)
    assert np.isfinite(_scalar(q, "upper_share")).all() and np.isfinite(_scalar(q, "tilt_lon")).all()
    table = composite_table(q, n_boot=200, seed=0)
    rows = headline_rows(composite_headline(table, {"storm": 2, "calm": 3}))
    assert rows["value"].notna().all()


def test_days_outside_the_store_fail_or_are_skipped(tiny_settings, small_store):
    import dataclasses

    from aurora_xai.attribution.study import relevance_for_days
    from aurora_xai.data.era5 import MissingTimeError
    from aurora_xai.model import build_model

    model = build_model(tiny_settings.model)
    table = _label_table(["2005-01-05", "2005-02-20"], ["storm", "calm"])
    source = tiny_settings.data.open(tiny_settings.history_hours)
    with pytest.raises(MissingTimeError, match="calm day 2005-02-20 .* 2005-02-20 06:00"):
        relevance_for_days(model, source, *_day_inputs(tiny_settings), table)
    skipping = dataclasses.replace(tiny_settings.data, on_missing="skip").open(tiny_settings.history_hours)
    days = relevance_for_days(model, skipping, *_day_inputs(tiny_settings), table)
    assert days.sizes["date"] == 1 and days.attrs["skipped_days"] == "2005-02-20"
    assert days.attrs["n_calm"] == 0 and days.attrs["n_calm_labelled"] == 1
    rows = composite_headline(
        composite_table(day_quantities(days), n_boot=50), {"storm": 1, "calm": 1}, {"storm": 1, "calm": 0}
    )
    assert "all 1 calm days skipped" in headline_rows(rows).set_index("metric").loc["lrp_upper_share_calm", "note"]


def test_samples_per_read_follow_the_sample_size(tiny_settings):
    """The labelled days are read as many samples at once as 1 GB holds: all 8 of a block
    at 3 deg, one at a time at 0.25 deg (a sample 0.57 GB; an LRP pass takes minutes)."""
    import types

    from aurora_xai.attribution.study import READ_BLOCK_BYTES, read_block
    from aurora_xai.data.era5 import ERA5Source
    from aurora_xai.data.variables import ATMOS_VARS, SURF_VARS

    source = tiny_settings.data.open(tiny_settings.history_hours)
    assert source.bytes_needed() * 8 < READ_BLOCK_BYTES and read_block(source) == 8
    # a 0.25 deg source with 13 levels, sized by ERA5Source's own count
    grid = types.SimpleNamespace(levels=[0.0] * 13, lat=np.zeros(721), lon=np.zeros(1440))
    quarter = ERA5Source.bytes_needed(grid)
    assert quarter == 2 * 4 * 721 * 1440 * (len(SURF_VARS) + 13 * len(ATMOS_VARS))  # 0.57 GB
    assert read_block(types.SimpleNamespace(bytes_needed=lambda: quarter)) == 1
    assert read_block(types.SimpleNamespace(bytes_needed=lambda: READ_BLOCK_BYTES // 3)) == 3
    assert read_block(object()) == 8
