"""The synthetic store's planted dynamics (aurora_xai.data.dynamics) and F's exact
attribution (aurora_xai.truth), on small grids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.dynamics import (
    DEFAULT_DYNAMICS,
    DRIVEN,
    STEP,
    P,
    T,
    V,
    Z,
    anomalies_at,
    anomaly_noise,
    anomaly_step,
    anomaly_step_adjoint,
    integrate_anomaly,
)
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset, write_synthetic_store
from aurora_xai.regions import Region
from aurora_xai.truth import (
    TruthTarget,
    background_state,
    driven_state,
    exact_attribution,
    exact_attribution_parts,
    planted_forecast,
    target_value,
)

SPEC = SyntheticSpec.from_schema(
    resolution=9.0, periods=(("2005-01-10", "2005-01-12"), ("2005-01-20", "2005-01-20")), seed=3, compress=False
)
BOX = Region("box", 20.0, 60.0, 300.0, 30.0)  # crosses the prime meridian


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = write_synthetic_store(SPEC, tmp_path_factory.mktemp("planted") / "s.zarr", chunk_days=1)
    return xr.open_zarr(path)


def _rng_anomalies(seed: int = 0, shape=(4, 9, 12), scale=(300.0, 200.0, 2.0, 2.0)):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * np.asarray(scale)[:, None, None]


def test_the_store_follows_F_up_to_the_seeded_noise(store):
    times = pd.DatetimeIndex(store["time"].values)
    x = driven_state(store, times)
    checked = 0
    for i in range(1, len(times) - 1):
        t = times[i]
        if times[i - 1] != t - STEP or times[i + 1] != t + STEP:
            continue
        f = planted_forecast(SPEC, x[i - 1], x[i], t)
        noise = anomaly_noise(DEFAULT_DYNAMICS, SPEC.seed, t + STEP, SPEC.latitudes, SPEC.longitudes)
        resid = x[i + 1] - f - noise
        for k in range(len(DRIVEN)):
            # float32 storage: rounding of the stored inputs and output only
            scale = np.abs(x[:, k]).max()
            assert np.abs(resid[k]).max() < 3e-7 * scale * 4, (DRIVEN[k], np.abs(resid[k]).max())
        checked += 1
    assert checked >= 8


def test_the_predictable_part_dominates_the_six_hour_change():
    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    w = np.cos(np.radians(lat))[None, :, None]
    change = np.zeros(4)
    noise = np.zeros(4)
    last = None
    for n, (_t, a, det) in enumerate(integrate_anomaly(DEFAULT_DYNAMICS, 0, pd.Timestamp("2005-01-01"), lat, lon, 3.0)):
        if last is not None and n > 40:
            change += ((a - last) ** 2 * w).sum(axis=(1, 2))
            noise += ((a - det) ** 2 * w).sum(axis=(1, 2))
        last = a
        if n >= 200:
            break
    share = noise / change
    assert np.all(share < 0.2), share


def test_the_adjoint_matches_finite_differences_of_F_A():
    lat = np.linspace(80, -80, 9)
    res = 30.0
    a, p = _rng_anomalies(1), _rng_anomalies(2)
    w = np.random.default_rng(3).random((4, 9, 12))
    g_now, g_prev = anomaly_step_adjoint(DEFAULT_DYNAMICS, w, lat, res)
    dyn = DEFAULT_DYNAMICS

    def tgt(a_, p_):
        return float(np.sum(w * anomaly_step(dyn, a_, p_, lat, res)))

    h = 1e-3
    for k in range(4):
        for i in range(9):
            for j in range(12):
                e = np.zeros_like(a)
                e[k, i, j] = h
                d_prev = (tgt(a, p + e) - tgt(a, p - e)) / (2 * h)
                d_now = (tgt(a + e, p) - tgt(a - e, p)) / (2 * h)
                extra = 0.0
                if k == T:  # the derivative of the tanh term, not in the linear weights
                    extra = w[V, i, j] * dyn.beta / dyn.t_scale / np.cosh(a[T, i, j] / dyn.t_scale) ** 2
                assert d_prev == pytest.approx(g_prev[k, i, j], rel=1e-6, abs=1e-9)
                assert d_now == pytest.approx(g_now[k, i, j] + extra, rel=1e-6, abs=1e-9)


def test_the_coupling_reads_z500_upstream():
    lat = np.linspace(60, -60, 5)
    a = np.zeros((4, 5, 24))
    a[Z, 2, 5] = 100.0
    out = anomaly_step(DEFAULT_DYNAMICS, a, np.zeros_like(a), lat, 15.0)
    # 6 degrees upstream on a 15 degree grid rounds to 0 cells: the coupling is local there
    assert out[P, 2, 5] == pytest.approx(DEFAULT_DYNAMICS.kappa * 100.0)
    a3 = np.zeros((4, 61, 120))
    a3[Z, 30, 10] = 100.0
    out3 = anomaly_step(DEFAULT_DYNAMICS, a3, np.zeros_like(a3), np.linspace(90, -90, 61), 3.0)
    assert out3[P, 30, 12] == pytest.approx(DEFAULT_DYNAMICS.kappa * 100.0)  # 2 cells east of the source


@pytest.mark.parametrize("area_weighted", [True, False])
def test_exact_attribution_against_finite_differences_and_complete(store, area_weighted):
    times = pd.DatetimeIndex(store["time"].values)
    t = times[5]
    x = driven_state(store, [t - STEP, t])
    target = TruthTarget("10m_v_component_of_wind", None, BOX, area_weighted)
    lin, nonlin, val, val0 = exact_attribution_parts(SPEC, x[0], x[1], t, target)
    # completeness against F itself
    assert lin.sum() + nonlin.sum() == pytest.approx(val - val0, rel=1e-10, abs=1e-10)
    b = background_state(SPEC, [t - STEP, t])
    assert val0 == pytest.approx(target_value(SPEC, b[0], b[1], t, target), abs=1e-9)
    assert val == pytest.approx(target_value(SPEC, x[0], x[1], t, target), abs=1e-9)
    # integrated gradients of the T850 inputs by quadrature of finite differences of F
    nodes, weights = np.polynomial.legendre.leggauss(24)
    alphas, weights = 0.5 * (nodes + 1), 0.5 * weights
    lat, lon = SPEC.latitudes, SPEC.longitudes
    w = target.weights(lat, lon)
    dyn = DEFAULT_DYNAMICS

    def f_target(prev, now):
        a = anomaly_step(dyn, now - b[1], prev - b[0], lat, SPEC.resolution)
        return float(np.sum(w * a))

    rows, cols = np.nonzero(w[V] > 0)
    h = 1e-4
    for i, j in list(zip(rows, cols))[:12]:
        ig = 0.0
        for al, wt in zip(alphas, weights):
            prev_a, now_a = b[0] + al * (x[0] - b[0]), b[1] + al * (x[1] - b[1])
            e = np.zeros_like(now_a)
            e[T, i, j] = h
            grad = (f_target(prev_a, now_a + e) - f_target(prev_a, now_a - e)) / (2 * h)
            ig += wt * grad
        ig *= x[1, T, i, j] - b[1, T, i, j]
        exact = lin[1, T, i, j] + nonlin[1, T, i, j]
        assert ig == pytest.approx(exact, rel=1e-5, abs=1e-10)
    # the history step gets F's share: -gamma through the twice-advected previous anomaly
    assert np.abs(lin[0, V]).sum() > 0 and np.all(nonlin[0] == 0)
    # the Dataset form: the same numbers per variable and level
    ds = exact_attribution(SPEC, x[0], x[1], t, target)
    total = sum(float(ds[v].sum()) for v in ds.data_vars)
    assert total == pytest.approx(val - val0, rel=1e-10, abs=1e-10)
    assert float(np.abs(ds["temperature"].sel(level=500)).max()) == 0.0
    assert float(np.abs(ds["temperature"].sel(level=850)).sum()) > 0


def test_attribution_of_the_msl_target_reaches_z500_upstream(store):
    times = pd.DatetimeIndex(store["time"].values)
    t = times[4]
    x = driven_state(store, [t - STEP, t])
    target = TruthTarget("mean_sea_level_pressure", None, BOX)
    ds = exact_attribution(SPEC, x[0], x[1], t, target)
    z = ds["geopotential"].sel(level=500)
    assert float(np.abs(z).sum()) > 0
    assert float(np.abs(ds["10m_v_component_of_wind"]).sum()) == 0.0
    with pytest.raises(ValueError, match="not a driven field"):
        TruthTarget("temperature", 500, BOX)


def test_a_given_baseline_keeps_completeness(store):
    times = pd.DatetimeIndex(store["time"].values)
    t = times[6]
    x = driven_state(store, [t - STEP, t])
    x0 = driven_state(store, [times[2], times[3]])
    target = TruthTarget("temperature", 850, BOX, area_weighted=False)
    lin, nonlin, val, val0 = exact_attribution_parts(SPEC, x[0], x[1], t, target, baseline=(x0[0], x0[1]))
    assert lin.sum() + nonlin.sum() == pytest.approx(val - val0, rel=1e-10, abs=1e-10)


def test_determinism_for_a_seed_and_subsets_equal_the_store(store):
    again = synthetic_dataset(SPEC)
    times = pd.DatetimeIndex(store["time"].values)
    for name, _ in DRIVEN:
        np.testing.assert_array_equal(store[name].values, again[name].sel(time=times).values)
    subset = times[[3, 9, len(times) - 1]]
    part = synthetic_dataset(SPEC, subset)
    for name, _ in DRIVEN:
        np.testing.assert_array_equal(part[name].values, store[name].sel(time=subset).values)
    other = synthetic_dataset(SyntheticSpec.from_schema(**{**_spec_kw(), "seed": 4}), subset)
    assert not np.array_equal(other["temperature"].values, part["temperature"].values)


def _spec_kw():
    return {"resolution": SPEC.resolution, "periods": SPEC.periods, "seed": SPEC.seed, "compress": False}


def test_blocks_do_not_change_the_store(tmp_path, store):
    whole = xr.open_zarr(write_synthetic_store(SPEC, tmp_path / "whole.zarr"))
    for name, _ in DRIVEN:
        np.testing.assert_array_equal(whole[name].values, store[name].values)


def test_the_store_records_F(store):
    rec = json.loads(store.attrs["planted_dynamics"])
    assert rec["seed"] == SPEC.seed
    assert [(f["variable"], f["level_hpa"]) for f in rec["fields"]] == list(DRIVEN)
    assert rec["coefficients"]["kappa"] == DEFAULT_DYNAMICS.kappa
    assert rec["coefficients"]["relaxation"] == list(DEFAULT_DYNAMICS.relaxation)
    assert set(rec["units"]) >= {"kappa", "beta", "omega_base", "sigma"}
    assert "tanh" in rec["terms"]["V"]
    assert rec["flow"]["courant_cells_per_step_at_0_45_90"][1] == pytest.approx(20.0 / 4 / SPEC.resolution)


def test_times_between_steps_interpolate_and_after_a_segment_continue_it():
    lat, lon, res = SPEC.latitudes, SPEC.longitudes, SPEC.resolution
    axis = SPEC.times()
    want = pd.DatetimeIndex(["2005-01-11T00", "2005-01-11T03", "2005-01-11T06", "2005-01-13T06", "2005-01-19T00"])
    a = anomalies_at(DEFAULT_DYNAMICS, SPEC.seed, axis, want, lat, lon, res)
    np.testing.assert_allclose(a[1], 0.5 * (a[0] + a[2]))
    stream = integrate_anomaly(DEFAULT_DYNAMICS, SPEC.seed, pd.Timestamp("2005-01-10"), lat, lon, res)
    by_time = {t: x for t, x, _ in (next(stream) for _ in range(4 * 9 + 1))}
    # past the first period's end, and up to the second's start, the first segment goes on
    np.testing.assert_array_equal(a[3], by_time[pd.Timestamp("2005-01-13T06")])
    np.testing.assert_array_equal(a[4], by_time[pd.Timestamp("2005-01-19T00")])


def test_each_segment_spins_up_from_zero():
    lat = np.linspace(60, -60, 5)
    lon = np.arange(8) * 45.0
    first = next(integrate_anomaly(DEFAULT_DYNAMICS, 1, pd.Timestamp("2005-01-01"), lat, lon, 45.0))
    assert first[0] == pd.Timestamp("2005-01-01")
    assert np.abs(first[1]).max() > 0  # spun up over DEFAULT_DYNAMICS.spinup_steps steps


def test_the_module_docstring_gives_the_store_s_coefficients():
    import dataclasses

    from aurora_xai.data import dynamics

    doc = dynamics.__doc__
    for name, value in dataclasses.asdict(DEFAULT_DYNAMICS).items():
        if name == "noise_wavenumbers":
            text = f"{min(value)} to {max(value)}"
        elif isinstance(value, tuple):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        line = next(ln for ln in doc.splitlines() if ln.startswith(f"``{name}``"))
        assert text in line, (name, text, line)
