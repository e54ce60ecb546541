"""Directions along F's planted terms: the predicted sign, the sign check, the probe axis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.dynamics import DEFAULT_DYNAMICS
from aurora_xai.interventions.directions import (
    PLANTED_DIRECTIONS,
    DirectionData,
    build_directions,
    predicted_sign,
)
from aurora_xai.interventions.summary import sign_check, sign_rows
from aurora_xai.probes.sweep import first_decodable, sweep_probe_rows
from aurora_xai.tables import headline_rows

LEVELS = ("surface", "atmos_1", "atmos_2", "atmos_3")


def test_predicted_signs_follow_the_coefficients():
    tanh, up = PLANTED_DIRECTIONS["planted_tanh_t850"], PLANTED_DIRECTIONS["planted_z500_upstream"]
    assert (tanh.reads, up.reads) == ("10v", "msl")
    assert predicted_sign(tanh) == 1  # the probed quantity is the increment F adds to 10 m v
    assert predicted_sign(up) == (1 if DEFAULT_DYNAMICS.kappa > 0 else -1)
    assert predicted_sign(up, dataclasses.replace(DEFAULT_DYNAMICS, kappa=-0.05)) == -1
    assert predicted_sign(tanh, dataclasses.replace(DEFAULT_DYNAMICS, beta=-0.4)) == 1
    with pytest.raises(ValueError, match="kappa"):
        predicted_sign(up, dataclasses.replace(DEFAULT_DYNAMICS, kappa=0.0))


def test_sign_check_known_answers():
    assert sign_check(0.3, 0.1, 0.5, 1) == (1, "matches, interval excludes 0")
    assert sign_check(0.3, -0.1, 0.5, 1) == (1, "matches, interval includes 0")
    assert sign_check(-0.3, -0.5, -0.1, 1) == (0, "opposite, interval excludes 0")
    assert sign_check(-0.3, -0.5, -0.1, -1)[0] == 1
    with pytest.raises(ValueError, match="predicted sign"):
        sign_check(0.3, 0.1, 0.5, 0)


def _table(direction: str, quantity: str, slope: float, lo: float, hi: float, p: float) -> pd.DataFrame:
    rows = []
    for stat, value, a, b, units in (
        ("slope", slope, lo, hi, "hPa per unit alpha"),
        ("random_rms_slope", 0.1, 0.05, 0.2, "hPa per unit alpha"),
        ("ratio", abs(slope) / 0.1, 1.0, 9.0, "1"),
        ("rank_p", p, p, 0.5, "1"),
    ):
        rows.append(
            dict(direction=direction, quantity=quantity, units=units, statistic=stat, value=value, ci_low=a,
                 ci_high=b, n_dates=6, n_groups=5, n_random=4)
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_sign_rows_state_the_prediction_and_the_match():
    table = pd.concat(
        [
            _table("planted_z500_upstream", "msl", -0.4, -0.6, -0.2, 0.2),
            _table("planted_tanh_t850", "10v", 0.2, 0.1, 0.3, 0.2),
            _table("pc1", "msl", 1.0, 0.5, 1.5, 0.2),  # not planted: no sign rows
        ]
    )
    rows = headline_rows(sign_rows(table))  # valid headline rows
    got = dict(zip(rows["metric"], rows["value"]))
    assert got == {
        "intervention_planted_tanh_t850_10v_predicted_sign": 1.0,
        "intervention_planted_tanh_t850_10v_sign_match": 1.0,
        "intervention_planted_z500_upstream_msl_predicted_sign": 1.0,
        "intervention_planted_z500_upstream_msl_sign_match": 0.0,
    }
    method = rows.set_index("metric").loc["intervention_planted_z500_upstream_msl_sign_match", "method"]
    assert "opposite, interval excludes 0" in method and "rank p" in method
    assert sign_rows(table[table["quantity"] != "10v"])[0]["metric"].startswith("intervention_planted_z500")


def _pooled_with_target(n_days: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2005-01-01 06:00", periods=n_days, freq="D")
    x = rng.standard_normal((n_days, 1, 4, 3, 3))
    signal = rng.standard_normal(n_days)
    x[:, 0, 2, 0, 1] += 3.0 * signal  # atmos_2 mean, channel 1 carries the target
    pooled = xr.Dataset(
        {"pooled": (("date", "region", "latent_level", "stat", "channel"), x)},
        coords={"date": dates, "region": ["us"], "latent_level": list(LEVELS), "stat": ["mean", "std", "rms"],
                "channel": np.arange(3), "season": ("date", ["DJF"] * n_days)},
    )  # fmt: skip
    targets = xr.Dataset(
        {"target": (("date", "quantity"), np.stack([0.4 * np.tanh(signal), signal], axis=1))},
        coords={"date": dates, "quantity": ["planted_tanh_t850", "t850"]},
    )
    return pooled, targets


def test_planted_direction_is_the_probe_axis_towards_a_larger_term():
    pooled, targets = _pooled_with_target()
    labels = pd.DataFrame({"date": [], "label": []})
    data = DirectionData(pooled, labels, "us", LEVELS, targets=targets)
    u = build_directions(["planted_tanh_t850"], data)["planted_tanh_t850"].vector
    assert np.isclose(np.linalg.norm(u), 1.0)
    assert np.unravel_index(np.argmax(np.abs(u)), u.shape) == (2, 1) and u[2, 1] > 0.9
    with pytest.raises(ValueError, match="probes.quantities"):
        build_directions(["planted_z500_upstream"], data)
    with pytest.raises(ValueError, match="probes.quantities"):
        build_directions(["planted_tanh_t850"], DirectionData(pooled, labels, "us", LEVELS))


def _probes():
    rows = []
    for tap, lat, rnd in (
        ("encoder", (0.3, 0.2, 0.4), (0.3, 0.2, 0.4)),
        ("backbone", (0.9, 0.85, 0.95), (0.3, 0.2, 0.4)),
    ):
        rows.append(
            dict(
                tap=tap,
                quantity="planted_tanh_t850",
                features="latent",
                r2=lat[0],
                ci_low=lat[1],
                ci_high=lat[2],
                n=100,
            )
        )
        rows.append(
            dict(
                tap=tap,
                quantity="planted_tanh_t850",
                features="random_model",
                r2=rnd[0],
                ci_low=rnd[1],
                ci_high=rnd[2],
                n=100,
            )
        )
        rows.append(dict(tap=tap, quantity="t850", features="latent", r2=0.99, ci_low=0.98, ci_high=1.0, n=100))
    rows.append(
        dict(tap="inputs", quantity="planted_tanh_t850", features="raw_inputs", r2=0.5, ci_low=0.4, ci_high=0.6, n=100)
    )
    return pd.DataFrame(rows)  # fmt: skip


def test_sweep_rows_and_the_first_decoding_tap():
    sweep = pd.DataFrame(
        {"tap": ["encoder", "backbone"], "depth": [0, 7], "stat": ["pc1_annual_r2"] * 2, "published": [False, True],
         "same_as": ["", ""]}
    )  # fmt: skip
    rows = sweep_probe_rows(_probes(), sweep)
    assert set(rows["stat"]) == {"probe_r2_planted_tanh_t850", "probe_r2_planted_tanh_t850_random"}
    lat = rows[rows["stat"] == "probe_r2_planted_tanh_t850"].set_index("tap")
    assert lat.loc["backbone", "value"] == 0.9 and lat.loc["backbone", "note"].startswith("beats both")
    assert lat.loc["encoder", "note"].startswith("does not beat")
    head = headline_rows(first_decodable(_probes(), sweep)).set_index("metric")
    assert head.index.tolist() == [
        "sweep_probe_first_tap_planted_tanh_t850",
        "sweep_probe_first_tap_vs_random_planted_tanh_t850",
    ]
    both = head.loc["sweep_probe_first_tap_planted_tanh_t850"]
    assert both["value"] == 7 and "backbone" in both["method"]
    weak = _probes()
    weak.loc[(weak["features"] == "latent") & (weak["tap"] == "backbone"), "ci_low"] = 0.45  # above random only
    none = headline_rows(first_decodable(weak, sweep)).set_index("metric")
    assert np.isnan(none.loc["sweep_probe_first_tap_planted_tanh_t850", "value"])
    assert "no swept tap" in none.loc["sweep_probe_first_tap_planted_tanh_t850", "note"]
    assert none.loc["sweep_probe_first_tap_vs_random_planted_tanh_t850", "value"] == 7
