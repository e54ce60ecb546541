"""Linear probes: targets from the inputs, blocked ridge probes on planted signals, no leakage, clear errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.grid import lat_weights
from aurora_xai.model import ModelSpec, random_control
from aurora_xai.probes.ridge import fit_probes, r2_score, select_taps, week_folds
from aurora_xai.probes.study import check_aligned, latent_features, probe_headline, probe_table, read_targets
from aurora_xai.probes.targets import G0, input_region_means, input_targets, jet_latitude
from aurora_xai.regimes.blocking import day_numbers
from aurora_xai.regions import Region

DATES = pd.date_range("2005-01-01 06:00", periods=365, freq="D")
BOX = Region("box", 24.0, 50.0, 235.0, 295.0)


# --------------------------------------------------------------------------- targets


def _batch(nb: int = 2):
    """A fake batch on a 3-degree grid (90..-90, 0..357): what select_field reads."""
    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    levels = (250, 500, 850)
    shape = (nb, 2, len(lat), len(lon))
    la = np.broadcast_to(lat[None, None, :, None], shape)
    surf = {
        "2t": 280.0 + 0.1 * la,  # varies with latitude: an area-weighted mean to check
        "10u": np.zeros(shape),
        "10v": np.zeros(shape),
        "msl": np.full(shape, 101000.0),
    }
    inside = BOX.mask(lat, lon)
    r, c = np.argwhere(inside)[5]
    surf["10u"][:, -1, r, c] = 3.0
    surf["10v"][:, -1, r, c] = 4.0  # 5 m/s inside the box
    surf["10u"][:, -1, 0, 0] = 40.0  # stronger, but outside the box
    ashape = (nb, 2, len(levels), len(lat), len(lon))
    atmos = {k: np.zeros(ashape) for k in ("z", "u", "v", "t", "q")}
    atmos["z"][:, :, 1] = 5500.0 * G0
    atmos["t"][:, :, 2] = 270.0
    atmos["t"][:, 0, 2] = 250.0  # the history step differs: targets read the current step
    atmos["u"][:, :, 0] = 50.0 - (np.broadcast_to(lat[None, None, :, None], shape) - 41.0) ** 2
    meta = SimpleNamespace(lat=lat, lon=lon, atmos_levels=levels)
    return SimpleNamespace(surf_vars=surf, atmos_vars=atmos, metadata=meta)


def test_targets_are_the_region_quantities_of_the_current_step():
    batch = _batch()
    got = input_targets(batch, BOX, ["t850", "z500", "msl", "t2m", "wind10_max", "jet_lat_u250"])
    lat = batch.metadata.lat
    rows = BOX.lat_mask(lat)
    w = lat_weights(lat)[rows]
    expected_t2m = float(np.sum(w * (280.0 + 0.1 * lat[rows])) / w.sum())
    np.testing.assert_allclose(got["t2m"], expected_t2m, rtol=1e-12)
    np.testing.assert_allclose(got["t850"], 270.0)  # current step, not the history step's 250
    np.testing.assert_allclose(got["z500"], 5500.0)  # geopotential height in m
    np.testing.assert_allclose(got["msl"], 101000.0)
    np.testing.assert_allclose(got["wind10_max"], 5.0)  # the 40 m/s outside the box is ignored
    np.testing.assert_allclose(got["jet_lat_u250"], 41.0, atol=1e-9)  # parabola vertex between rows
    assert got["t2m"].shape == (2,)


def test_unknown_quantity_and_missing_level_are_named():
    with pytest.raises(KeyError, match="probes.quantities.*t700"):
        input_targets(_batch(), BOX, ["t700"])
    batch = _batch()
    batch.metadata.atmos_levels = (300, 500, 850)
    with pytest.raises(KeyError, match="level 250 hPa"):
        input_targets(batch, BOX, ["jet_lat_u250"])


def test_jet_latitude_on_grid_rows_and_edges():
    lat = np.array([30.0, 33.0, 36.0, 39.0])
    u = np.array([[1.0, 5.0, 3.0, 0.0], [0.0, 1.0, 2.0, 9.0]])
    got = jet_latitude(u, lat)
    # vertex of the parabola through (30, 1), (33, 5), (36, 3): 33 + 3 * 0.5 * (1 - 3) / (1 - 10 + 3)
    assert got[0] == pytest.approx(33.0 + 3.0 * 0.5 * (1 - 3) / (1 - 10 + 3))
    assert got[1] == 39.0  # maximum at the edge: its own latitude


def test_input_region_means_cover_every_variable_level_and_step():
    batch = _batch()
    x, meta = input_region_means(batch, BOX)
    assert x.shape == (2, 4 * 2 + 5 * 3 * 2)
    assert len(meta) == x.shape[1] and meta["feature"].is_unique
    t850_now = meta.index[(meta["variable"] == "t") & (meta["level"] == 850) & (meta["step"] == 1)][0]
    t850_then = meta.index[(meta["variable"] == "t") & (meta["level"] == 850) & (meta["step"] == 0)][0]
    np.testing.assert_allclose(x[:, t850_now], 270.0)
    np.testing.assert_allclose(x[:, t850_then], 250.0)


# --------------------------------------------------------------------------- folds and ridge


def test_week_folds_hold_every_date_out_once_with_a_gap():
    days = day_numbers(DATES)
    folds = week_folds(days, 5, 3, seed=0)
    held = np.concatenate([te for _, te in folds])
    assert sorted(held) == list(range(len(days)))
    weeks = pd.DatetimeIndex(DATES).isocalendar().week.to_numpy() * 10000 + DATES.isocalendar().year.to_numpy()
    for train, test in folds:
        assert not set(weeks[train]) & set(weeks[test])  # whole weeks
        dist = np.abs(days[train][:, None] - days[test][None, :]).min(axis=1)
        assert dist.min() > 3


def _planted(seed: int, r2_true: float, p: int = 30):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(DATES), p))
    beta = rng.standard_normal(p) / np.sqrt(p)
    signal = x @ beta
    noise_sd = np.sqrt(signal.var() * (1 - r2_true) / r2_true)
    return x, signal + noise_sd * rng.standard_normal(len(DATES)), signal


def test_planted_linear_signal_is_recovered():
    x, y, signal = _planted(1, 0.75)
    truth = 1 - np.var(y - signal) / np.var(y)
    res = fit_probes(x, y, DATES, n_boot=400, seed=0)
    assert res.n == 365 and res.predictions.shape == (365, 1)
    assert abs(res.r2[0] - truth) < 0.07, (res.r2, truth)
    assert res.ci_low[0] < truth < res.ci_high[0]
    assert res.ci_high[0] - res.ci_low[0] < 0.2


def test_planted_nonlinear_signal_is_invisible_to_a_linear_probe():
    rng = np.random.default_rng(2)
    x1 = rng.standard_normal(len(DATES))  # symmetric about 0: corr(x1, x1^2) = 0
    other = rng.standard_normal((len(DATES), 10))
    y = x1**2 + 0.05 * rng.standard_normal(len(DATES))
    linear = fit_probes(np.column_stack([x1, other]), y, DATES, n_boot=300, seed=0)
    assert linear.r2[0] < 0.05
    # the same information, given as the feature x1^2, is read at once: it is the probe's
    # linearity, not a lack of information, that gives R2 ~ 0
    squared = fit_probes(np.column_stack([x1**2, other]), y, DATES, n_boot=300, seed=0)
    assert squared.r2[0] > 0.95


def test_pure_noise_scores_at_most_zero_with_an_interval_covering_zero():
    rng = np.random.default_rng(3)
    res = fit_probes(rng.standard_normal((365, 40)), rng.standard_normal((365, 2)), DATES, n_boot=500, seed=0)
    assert np.all(res.r2 <= 0.02), res.r2
    assert np.all(res.ci_low <= 0) and np.all(res.ci_high >= -0.01), (res.ci_low, res.ci_high)


def test_alpha_is_chosen_without_the_test_rows():
    x, y, _ = _planted(4, 0.5, p=60)
    alphas = [0.1, 1, 10, 100, 1000, 1e4]
    base = fit_probes(x, y, DATES, alphas=alphas, n_boot=50, seed=0)
    train0, test0 = base.folds[0]
    # change the held-out rows of fold 1 beyond recognition: its alpha must not move
    y_test = y.copy()
    y_test[test0] = 100.0 * np.random.default_rng(5).standard_normal(len(test0))
    x_test = x.copy()
    x_test[test0] *= -3.0
    moved = fit_probes(x_test, y_test, DATES, alphas=alphas, n_boot=50, seed=0)
    assert moved.alphas[0, 0] == base.alphas[0, 0]
    assert not np.allclose(moved.predictions[test0], base.predictions[test0])  # the change reached the fit
    # while its training rows do decide it: pure noise in place of the training targets
    # pushes the chosen alpha to the largest candidate
    y_train = y.copy()
    y_train[train0] = np.random.default_rng(6).standard_normal(len(train0))
    noisy = fit_probes(x, y_train, DATES, alphas=alphas, n_boot=50, seed=0)
    assert base.alphas[0, 0] < 1e4 and noisy.alphas[0, 0] == 1e4


def test_r2_of_a_perfect_and_a_mean_prediction():
    y = np.arange(10.0)[:, None]
    assert r2_score(y, y)[0] == 1.0
    assert r2_score(y, np.full_like(y, y.mean()))[0] == pytest.approx(0.0)


def test_probe_inputs_must_be_finite():
    x, y, _ = _planted(7, 0.5)
    x[10, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_probes(x, y, DATES, n_boot=10)


# --------------------------------------------------------------------------- files


def _write_files(tmp_path, dates=DATES, nan_at=None):
    rng = np.random.default_rng(8)
    n = len(DATES)
    doy = DATES.dayofyear.to_numpy()
    season = np.cos(2 * np.pi * (doy - 200) / 365.25)
    t2m = 285 + 10 * season + rng.standard_normal(n)
    wind = 10 + rng.standard_normal(n)
    y = np.column_stack([t2m, wind])
    if nan_at is not None:
        y[nan_at, 0] = np.nan
    targets = xr.Dataset(
        {"target": (("date", "quantity"), y)},
        coords={"date": DATES, "quantity": ["t2m", "wind10_max"], "units": ("quantity", ["K", "m s-1"])},
    )
    inputs = xr.Dataset(
        {"pooled_input": (("date", "feature"), np.column_stack([t2m, rng.standard_normal(n)]))},
        coords={"date": DATES, "feature": ["2t@step1", "noise"]},
    )
    feats = rng.standard_normal((len(dates), 1, 2, 1, 8))
    feats[:, 0, 0, 0, 0] = np.interp(pd.DatetimeIndex(dates).dayofyear, doy, season)  # the season, linearly
    pooled = xr.Dataset(
        {"pooled": (("date", "region", "latent_level", "stat", "channel"), feats)},
        coords={"date": dates, "region": ["box"], "latent_level": ["surface", "atmos_1"], "stat": ["mean"]},
    )
    rnd = pooled.copy(data={"pooled": rng.standard_normal(feats.shape)})
    paths = {k: tmp_path / f"{k}.nc" for k in ("targets", "inputs", "latent", "random")}
    targets.to_netcdf(paths["targets"])
    inputs.to_netcdf(paths["inputs"])
    pooled.to_netcdf(paths["latent"])
    rnd.to_netcdf(paths["random"])
    return paths


def test_probe_table_and_headline_on_planted_files(tmp_path):
    p = _write_files(tmp_path)
    table = probe_table(
        p["targets"], p["inputs"], {"backbone": p["latent"]}, {"backbone": p["random"]}, "box",
        ["t2m", "wind10_max"], k=5, inner_k=3, gap_days=3, alphas=[0.1, 10, 1000], n_boot=200, seed=0,
    )  # fmt: skip
    assert len(table) == 2 * 3 + 2 * 2 and set(table["features"]) == {"latent", "raw_inputs", "random_model"}
    t = table.set_index(["tap", "quantity", "features"])["r2"]
    assert t["backbone", "t2m", "latent"] > 0.8  # the planted season
    assert t["backbone", "t2m", "random_model"] < 0.05  # noise features
    assert t["inputs", "t2m", "raw_inputs"] > 0.99  # the input holds the target itself
    assert t["backbone", "wind10_max", "latent"] < 0.05
    # With one tap, the tap chosen inside the training folds is that tap.
    nested = table[table["tap"] == "nested"].set_index(["quantity", "features"])
    assert nested.loc[("t2m", "latent"), "r2"] == pytest.approx(t["backbone", "t2m", "latent"])
    assert nested.loc[("t2m", "random_model"), "taps_chosen"] == "backbone: 5"
    rows = {r["metric"]: r for r in probe_headline(table)}
    assert set(rows) == {
        "probe_r2_t2m@nested",
        "probe_r2_t2m@nested_random",
        "probe_r2_t2m_inputs",
        "probe_r2_wind10_max@nested",
        "probe_r2_wind10_max@nested_random",
        "probe_r2_wind10_max_inputs",
    }
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] == 365 for r in rows.values())
    assert "chosen inside each training fold" in rows["probe_r2_t2m@nested"]["method"]
    assert "backbone: 5" in rows["probe_r2_t2m@nested_random"]["method"]


def test_select_taps_chooses_on_the_training_folds_only():
    """An informative tap and a noise tap: the informative one is chosen in every fold and
    its held-out predictions are the selection's; taps on other folds are refused."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2005-01-01 06:00", periods=200, freq="D")
    z = rng.standard_normal((200, 3))
    y = z @ np.array([1.0, -0.5, 0.3]) + 0.5 * rng.standard_normal(200)
    kw = dict(alphas=[0.1, 10.0], n_boot=50, seed=0)
    good = fit_probes(z, y, dates, **kw)
    noise = fit_probes(rng.standard_normal((200, 5)), y, dates, **kw)
    sel = select_taps({"noise": noise, "good": good}, y, dates, n_boot=50, seed=0)
    assert (sel.taps == "good").all() and sel.taps.shape == (5, 1)
    np.testing.assert_allclose(sel.predictions, good.predictions)
    assert sel.r2[0] == pytest.approx(good.r2[0]) and sel.ci_low[0] <= sel.r2[0] <= sel.ci_high[0]
    other = fit_probes(z, y, dates, alphas=[0.1, 10.0], n_boot=50, seed=1)
    with pytest.raises(ValueError, match="other outer folds"):
        select_taps({"good": good, "other": other}, y, dates)


def test_nan_target_names_the_file_and_date(tmp_path):
    p = _write_files(tmp_path, nan_at=40)
    with pytest.raises(ValueError, match=r"targets\.nc: target t2m is not finite on 2005-02-10T06:00"):
        read_targets(p["targets"], ["t2m", "wind10_max"])


def test_misaligned_dates_name_the_file_and_date(tmp_path):
    p = _write_files(tmp_path, dates=DATES.delete(100))
    with pytest.raises(ValueError, match=r"latent\.nc: date 2005-04-11T06:00 of the probe targets is missing"):
        latent_features(p["latent"], "box", DATES)
    with pytest.raises(ValueError, match=r"a\.nc: date 2005-01-01T06:00 is not in b\.nc"):
        check_aligned(DATES[:3], DATES[1:4], "a.nc", "b.nc")


# --------------------------------------------------------------------------- the random-model control


def test_random_control_is_the_same_architecture_with_other_weights():
    tiny = random_control(ModelSpec.from_schema(name="tiny", seed=0), 1000)
    assert tiny.name == "tiny" and tiny.seed == 1000 and not tiny.checkpoint
    real = random_control(ModelSpec.from_schema(name="small-pretrained", checkpoint="x.ckpt", autocast=True), 7)
    assert real.name == "small-pretrained" and real.random_weights and not real.checkpoint and real.autocast
    with pytest.raises(ValueError, match="probes.random_seed.*model.seed"):
        random_control(ModelSpec.from_schema(name="tiny", seed=3), 3)
