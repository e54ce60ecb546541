"""Interventions along latent directions: the push hook, responses, directions, slopes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.config import check_config
from aurora_xai.interventions.directions import (
    Direction,
    DirectionData,
    build_directions,
    choose_dates,
    random_directions,
)
from aurora_xai.interventions.push import (
    _push_module,
    forecast_quantity,
    push_tokens,
    quantity_weights,
    region_token_mask,
    responses,
)
from aurora_xai.interventions.summary import (
    bootstrap_weights,
    control_weights,
    fewest_episodes,
    headline,
    rank_p,
    slopes,
    summary_table,
)
from aurora_xai.latents.geometry import cropped_grid, patch_centres
from aurora_xai.latents.pooling import pool_grid
from aurora_xai.regions import Region
from aurora_xai.settings import load_config

# A box across the prime meridian: longitudes wrap as in pooling.
BOX = Region("box", lat_min=-10.0, lat_max=50.0, lon_min=330.0, lon_max=60.0)


@pytest.fixture(scope="module")
def model():
    return tiny_lrp_model(depths=(1, 1, 1))


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch()


def _grid(batch):
    return batch.metadata.lat.numpy(), batch.metadata.lon.numpy()


def _forecast(model, batch):
    with torch.no_grad():
        return model(batch)


def test_zero_push_gives_the_bit_identical_forecast(model, batch):
    lat, lon = _grid(batch)
    mask, res = region_token_mask(model, "backbone", lat, lon, BOX)
    clean = _forecast(model, batch)
    with push_tokens(model, "backbone", mask) as push:
        unset = _forecast(model, batch)
        push.shift = torch.zeros(1, res[0], 2 * 32, dtype=torch.float64)
        zero = _forecast(model, batch)
    assert push.calls == 1
    for name in clean.surf_vars:
        assert torch.equal(unset.surf_vars[name], clean.surf_vars[name])
        assert torch.equal(zero.surf_vars[name], clean.surf_vars[name])
    for name in clean.atmos_vars:
        assert torch.equal(zero.atmos_vars[name], clean.atmos_vars[name])


@pytest.mark.parametrize("tap", ["encoder", "backbone.encoder.1", "backbone"])
def test_push_moves_exactly_the_region_tokens(model, batch, tap):
    lat, lon = _grid(batch)
    mask, (c, h, w) = region_token_mask(model, tap, lat, lon, BOX)
    # the mask is the region's patch centres, across the meridian
    stage = 1 if tap == "backbone.encoder.1" else 0
    lat_c, lon_c = patch_centres(lat, lon, model.encoder.patch_size, stage)
    assert np.array_equal(mask.reshape(h, w), BOX.mask(lat_c, lon_c))
    cols = np.flatnonzero(mask.reshape(h, w).any(axis=0))
    assert (lon_c[cols] > 300).any() and (lon_c[cols] < 60).any()
    seen = {}
    module = _push_module(model, tap, "interventions.tap")
    handle = module.register_forward_hook(lambda _m, _i, out: seen.__setitem__("tokens", out.detach().clone()))
    try:
        _forecast(model, batch)
        clean = seen["tokens"]
        d = clean.shape[-1]
        shift = torch.randn(1, c, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        with push_tokens(model, tap, mask) as push:  # registered after the capture: runs after it
            push.shift = shift
            handle.remove()
            handle = module.register_forward_hook(lambda _m, _i, out: seen.__setitem__("tokens", out.detach().clone()))
            _forecast(model, batch)
    finally:
        handle.remove()
    diff = (seen["tokens"] - clean).reshape(1, c, h * w, d)
    inside = torch.as_tensor(mask)
    assert torch.equal(diff[:, :, ~inside], torch.zeros_like(diff[:, :, ~inside]))
    expected = shift[:, :, None, :].expand(1, c, int(inside.sum()), d)
    assert torch.allclose(diff[:, :, inside], expected, atol=1e-12)


def test_responses_are_linear_for_small_pushes_and_batching_does_not_matter(model, batch):
    lat, lon = _grid(batch)
    mask, (c, _, _) = region_token_mask(model, "backbone", lat, lon, BOX)
    weights = quantity_weights(BOX, cropped_grid(lat, model.encoder.patch_size)[0], lon)
    u = np.random.default_rng(0).standard_normal((c, 64))
    u /= np.linalg.norm(u)
    a = 0.1  # Aurora returns float32 forecasts: smaller pushes drown in its rounding
    shifts = np.stack([a * u, 2 * a * u, -a * u])
    quantities = ["2t", "msl", "10m_wind_speed"]
    r, ref = responses(model, batch, "backbone", mask, shifts, quantities, weights, batch_size=4)
    assert r.shape == (3, 3) and ref.shape == (3,)
    assert np.all(np.abs(r[0]) > 0)
    np.testing.assert_allclose(r[1], 2 * r[0], rtol=0.03)
    np.testing.assert_allclose(r[2], -r[0], rtol=0.05)
    r1, ref1 = responses(model, batch, "backbone", mask, shifts, quantities, weights, batch_size=2)
    np.testing.assert_allclose(r1, r, rtol=1e-3, atol=1e-6)
    # one copy per pass (the unpushed sample in a pass of its own): same responses, and a
    # zero push responds exactly 0
    solo, ref_solo = responses(model, batch, "backbone", mask, shifts, quantities, weights, batch_size=1)
    np.testing.assert_allclose(solo, r, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(ref_solo, ref, rtol=1e-6)
    zero, _ = responses(model, batch, "backbone", mask, np.zeros_like(shifts[:2]), quantities, weights, batch_size=1)
    assert np.all(zero == 0)
    # the unpushed reference is the region mean of the clean forecast
    clean = _forecast(model, batch)
    expect = [float((forecast_quantity(clean, q)[0].numpy() * weights).sum()) for q in quantities]
    np.testing.assert_allclose(ref, expect, rtol=1e-6)


def test_wind_speed_and_units(model, batch):
    pred = _forecast(model, batch)
    speed = forecast_quantity(pred, "10m_wind_speed")
    u, v = pred.surf_vars["10u"][:, -1], pred.surf_vars["10v"][:, -1]
    assert torch.allclose(speed, torch.hypot(u.double(), v.double()))
    assert torch.allclose(forecast_quantity(pred, "msl"), pred.surf_vars["msl"][:, -1].double() / 100)


def test_clear_errors_name_the_key(model, batch):
    lat, lon = _grid(batch)
    with pytest.raises(ValueError, match="interventions.tap"):
        region_token_mask(model, "decoder", lat, lon, BOX)
    with pytest.raises(ValueError, match="interventions.tap"):
        with push_tokens(model, "nowhere", np.ones(4, dtype=bool)):
            pass
    empty = Region("empty", lat_min=1.0, lat_max=2.0, lon_min=1.0, lon_max=2.0)
    with pytest.raises(ValueError, match="interventions.region"):
        region_token_mask(model, "backbone", lat, lon, empty)
    mask, _ = region_token_mask(model, "backbone", lat, lon, BOX)
    weights = quantity_weights(BOX, cropped_grid(lat, 4)[0], lon)
    with pytest.raises(ValueError, match="interventions.quantities"):
        responses(model, batch, "backbone", mask, np.zeros((1, 4, 64)), ["tp"], weights)
    with pytest.raises(ValueError, match="interventions.batch_size"):
        responses(model, batch, "backbone", mask, np.zeros((1, 4, 64)), ["msl"], weights, batch_size=0)
    with pytest.raises(ValueError, match="interventions.directions"):
        build_directions(["pc7"], None)  # type: ignore[arg-type]
    cfg = load_config(
        __import__("pathlib").Path(__file__).parents[1] / "config" / "config.yaml",
        {"interventions": {"region": "atlantis"}},
    )
    with pytest.raises(ValueError, match="interventions.region"):
        check_config(cfg)
    cfg = load_config(
        __import__("pathlib").Path(__file__).parents[1] / "config" / "config.yaml",
        {"interventions": {"alphas": [0.0, 0.0]}},
    )
    with pytest.raises(ValueError, match="interventions.alphas"):
        check_config(cfg)


def test_random_directions_have_the_norms_of_the_direction():
    vec = np.zeros((4, 16))
    vec[1] = np.arange(16.0)
    vec[3, :4] = 5.0
    vec /= np.linalg.norm(vec)
    d = Direction("axis", vec, ("surface", "atmos_1", "atmos_2", "atmos_3"), "test", 1.0)
    rand = random_directions(d, 6, seed=3)
    assert rand.shape == (6, 4, 16)
    np.testing.assert_allclose(np.linalg.norm(rand, axis=2), np.broadcast_to(d.level_norms, (6, 4)), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(rand.reshape(6, -1), axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(rand, random_directions(d, 6, seed=3))
    assert not np.allclose(rand, random_directions(d, 6, seed=4))
    cos = np.abs(rand.reshape(6, -1) @ vec.reshape(-1))
    assert cos.max() < 0.95


def _pooled(n_days: int = 150, c: int = 4, d: int = 2, seed: int = 0) -> tuple[xr.Dataset, pd.DataFrame]:
    """Pooled latents with a storm signal planted in the mean of (atmos_1, channel 1).

    The shift is twice the noise (the size that maximises the gradient of the
    standardised axis); 60 storm and 60 calm days keep the other features' noise small.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2005-01-01 06:00", periods=n_days, freq="D")
    storm = np.zeros(n_days, dtype=bool)
    storm[0:30] = storm[60:90] = True
    calm = np.zeros(n_days, dtype=bool)
    calm[30:60] = calm[90:120] = True
    x = rng.standard_normal((n_days, 1, c, 3, d))
    x[storm, 0, 1, 0, 1] += 2.0
    x[:, 0, :, 1:] = np.abs(x[:, 0, :, 1:]) + 1
    ds = xr.Dataset(
        {"pooled": (("date", "region", "latent_level", "stat", "channel"), x)},
        coords={
            "date": dates,
            "region": ["us"],
            "latent_level": ["surface", "atmos_1", "atmos_2", "atmos_3"],
            "stat": ["mean", "std", "rms"],
            "channel": np.arange(d),
            "season": ("date", ["DJF"] * n_days),
            "month": ("date", dates.month.to_numpy()),
            "day_of_year": ("date", dates.dayofyear.to_numpy()),
        },
    )
    labels = pd.DataFrame(
        {
            "date": [f"{t:%Y-%m-%d}" for t in dates[storm]] + [f"{t:%Y-%m-%d}" for t in dates[calm]],
            "label": ["storm"] * int(storm.sum()) + ["calm"] * int(calm.sum()),
        }
    )
    return ds, labels


def test_storm_axis_recovers_the_planted_channel_and_choose_dates_spreads_days():
    pooled, labels = _pooled()
    data = DirectionData(pooled, labels, "us", ("surface", "atmos_1", "atmos_2", "atmos_3"))
    dirs = build_directions(["storm_axis", "pc1"], data)
    u = dirs["storm_axis"].vector
    assert np.isclose(np.linalg.norm(u), 1.0)
    assert np.unravel_index(np.argmax(np.abs(u)), u.shape) == (1, 1) and u[1, 1] > 0.8
    assert np.isclose(np.linalg.norm(dirs["pc1"].vector), 1.0)
    chosen = choose_dates(labels, pooled["date"].values, 3)
    assert chosen["label"].sum() == 3 and len(chosen) == 6
    storm_days = pd.DatetimeIndex(chosen.loc[chosen["label"] == 1, "time"]).dayofyear.tolist()
    assert storm_days == [1, 61, 90]  # first, middle (30th) and last of the 60 storm days
    with pytest.raises(ValueError, match="latents.stats"):
        data_no_mean = DirectionData(pooled.sel(stat=["std", "rms"]), labels, "us", data.levels)
        build_directions(["pc1"], data_no_mean)


def test_token_direction_is_the_gradient_of_the_score_under_a_uniform_shift():
    """Shifting the region's tokens by delta moves s = w . z by |g| (u . delta), for an
    axis w on the mean and std features (std is shift-invariant)."""
    rng = np.random.default_rng(2)
    c, h, w_, d = 4, 6, 10, 5
    lat = np.linspace(75, -75, h)
    lon = np.arange(w_) * 36.0
    region = Region("r", lat_min=-40, lat_max=40, lon_min=300, lon_max=100)
    tokens = rng.standard_normal((c, h, w_, d))
    stats = ("mean", "std")
    names = [
        f"{lv}/{st}/{ch}" for lv in ("surface", "atmos_1", "atmos_2", "atmos_3") for st in stats for ch in range(d)
    ]
    axis = rng.standard_normal(len(names))
    scale = rng.uniform(0.5, 2.0, len(names))
    u = Direction.from_feature_axis("a", axis, scale, names, ("surface", "atmos_1", "atmos_2", "atmos_3"), d, "t")
    g = np.array([a / s for a, s, n in zip(axis, scale, names) if "/mean/" in n]).reshape(c, d)
    np.testing.assert_allclose(u.vector, g / np.linalg.norm(g))
    delta = rng.standard_normal((c, d))
    inside = region.mask(lat, lon)
    pushed = tokens + inside[None, :, :, None] * delta[:, None, None, :]

    def score(t):
        x = pool_grid(t, lat, lon, {"r": region}, stats=stats)[0].reshape(-1)  # (C, stat, D)
        return float(np.sum(axis * x / scale))

    np.testing.assert_allclose(score(pushed) - score(tokens), np.linalg.norm(g) * np.sum(u.vector * delta), rtol=1e-9)


def test_slopes_and_summary_known_answers():
    alphas = np.array([-2.0, -1.0, 1.0, 2.0])
    r = 3.0 * alphas + 0.5 * alphas**2  # the even part cancels for symmetric alphas
    assert np.isclose(slopes(r[None], alphas, axis=-1)[0], 3.0)
    with pytest.raises(ValueError, match="interventions.alphas"):
        slopes(r, np.zeros(4), axis=-1)
    dates = pd.to_datetime(["2005-01-05", "2005-01-06", "2005-03-01", "2005-06-01", "2005-06-02", "2005-09-01"])
    labels = np.array([1, 1, 0, 1, 0, 0])
    counts, n_groups = bootstrap_weights(dates.values, labels, 200, seed=0)
    assert n_groups == 5 and counts.shape == (200, 6)
    assert np.array_equal(counts[:, 0], counts[:, 1])  # one storm episode, resampled whole
    # direction slope 2 on every date; random controls +-1 and +-3: RMS sqrt(5)
    slope = np.zeros((6, 1, 5, 1))
    slope[:, 0, 0, 0] = 2.0
    slope[:, 0, 1:, 0] = [1.0, -1.0, 3.0, -3.0]
    ds = xr.Dataset(
        {
            "slope": (("date", "direction", "member", "quantity"), slope),
            "label": (("date",), labels),
            "units": (("quantity",), ["K"]),
        },
        coords={"date": dates.values, "direction": ["pc1"], "member": np.arange(5), "quantity": ["2t"]},
    )
    table = summary_table(ds, 200, seed=0).set_index("statistic")
    assert np.isclose(table.loc["slope", "value"], 2.0) and np.isclose(table.loc["slope", "ci_low"], 2.0)
    assert np.isclose(table.loc["random_rms_slope", "value"], np.sqrt(5.0))
    assert np.isclose(table.loc["ratio", "value"], 2.0 / np.sqrt(5.0))
    assert table.loc["slope", "units"] == "K per unit alpha" and table.loc["ratio", "units"] == "1"
    # The controls are resampled too: the random RMS slope (constant over dates) has an
    # interval spanning the controls' magnitudes 1 and 3, and so has the ratio.
    rms = table.loc["random_rms_slope"]
    assert 1.0 <= rms["ci_low"] < np.sqrt(5.0) < rms["ci_high"] <= 3.0
    assert table.loc["ratio", "ci_low"] < table.loc["ratio", "value"] < table.loc["ratio", "ci_high"]
    # |2| is exceeded by the two controls of magnitude 3: rank p (1 + 2) / 5.
    assert np.isclose(table.loc["rank_p", "value"], 3 / 5) and np.isnan(table.loc["rank_p", "ci_low"])
    rows = headline(table.reset_index(), 200)
    assert [r["metric"] for r in rows] == [
        "intervention_pc1_2t_slope",
        "intervention_pc1_2t_random_rms_slope",
        "intervention_pc1_2t_ratio",
        "intervention_pc1_2t_rank_p",
    ]
    assert [r["n"] for r in rows] == [6, 6, 6, 4]
    assert rows[3]["n_unit"] == "random directions" and "among 4 random directions" in rows[3]["method"]
    assert "4 random directions together" in rows[2]["method"] and "not a test" in rows[2]["method"]


def test_one_episode_per_label_gives_no_interval():
    dates = pd.to_datetime(["2005-01-05", "2005-01-06", "2005-06-01"])
    labels = np.array([1, 1, 0])
    assert fewest_episodes(dates.values, labels) == 1
    slope = np.random.default_rng(0).standard_normal((3, 1, 5, 1))
    ds = xr.Dataset(
        {
            "slope": (("date", "direction", "member", "quantity"), slope),
            "label": (("date",), labels),
            "units": (("quantity",), ["K"]),
        },
        coords={"date": dates.values, "direction": ["pc1"], "member": np.arange(5), "quantity": ["2t"]},
    )
    table = summary_table(ds, 100, seed=0)
    assert table["ci_low"].isna().all() and table["value"].notna().all()
    rows = headline(table, 100)
    assert "no interval: a label has fewer than two episodes" in rows[2]["method"]
    assert "among 4 random directions" in rows[3]["method"]


def test_rank_p_is_uniform_when_the_direction_is_one_more_control():
    rng = np.random.default_rng(0)
    k = 19
    ps = np.array(
        [rank_p(rng.standard_normal(k + 1)[None, :] + 0.1 * rng.standard_normal((5, k + 1))) for _ in range(3000)]
    )
    for j in (1, 2, 5):
        assert np.mean(ps <= j / (k + 1)) == pytest.approx(j / (k + 1), abs=0.015)
    with pytest.raises(ValueError, match="random control"):
        rank_p(np.ones((3, 1)))
    with pytest.raises(ValueError, match="n_random"):
        control_weights(0, 10, 0)
