"""Steering with four arms: bit-identical arms, the reconstruction hook, the feature choice,
the table and headline, and a whole run on the tiny model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.features.sae import TopKSAE
from aurora_xai.features.steering import (
    choose_features,
    feature_statistics,
    map_window,
    random_unit_draws,
    reconstruct_tokens,
    run_steering,
    sae_reconstruct,
    steer_date,
    steering_headline,
    steering_table,
)
from aurora_xai.features.tokens import TokenWriter
from aurora_xai.interventions.push import push_module, quantity_weights, region_token_mask
from aurora_xai.latents.geometry import cropped_grid
from aurora_xai.regions import Region
from aurora_xai.tables import headline_rows

BOX = Region("box", lat_min=-10.0, lat_max=50.0, lon_min=330.0, lon_max=60.0)
QUANTITIES = ["msl", "10v"]


@pytest.fixture(scope="module")
def model():
    return tiny_lrp_model(depths=(1, 1, 1)).eval()


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch()


def _setup(model, batch, tap="backbone"):
    lat, lon = batch.metadata.lat.numpy(), batch.metadata.lon.numpy()
    mask, res = region_token_mask(model, tap, lat, lon, BOX)
    kept = cropped_grid(lat, model.encoder.patch_size)[0]
    return mask, res, quantity_weights(BOX, kept, lon), map_window(BOX, kept, lon)


def test_identity_reconstruction_is_the_control_and_zero_dose_the_reconstruction(model, batch):
    mask, (c, _, _), weights, window = _setup(model, batch)
    d = 64
    sae = TopKSAE(d, 4 * d, 8, seed=0)
    u = np.random.default_rng(0).standard_normal((c, d))
    shifts = np.stack([np.zeros((c, d)), 0.5 * u, np.zeros((c, d)), -0.5 * u])
    for where in ("everywhere", "region"):
        same = steer_date(model, batch, "backbone", mask, shifts, QUANTITIES, weights, window, lambda x: x, where, 3)
        assert np.array_equal(same.reconstruction, same.control)
        assert np.all(same.downstream_map == 0)
    none = steer_date(model, batch, "backbone", mask, shifts, QUANTITIES, weights, window, None, "everywhere", 3)
    assert np.array_equal(none.reconstruction, none.control)
    for bs in (1, 3, 8):
        seen = []
        step = steer_date(
            model,
            batch,
            "backbone",
            mask,
            shifts,
            QUANTITIES,
            weights,
            window,
            sae_reconstruct(sae),
            "everywhere",
            bs,
            lambda i, f, add=seen.append: add((i, f)),
        )
        # alpha = 0 on top of the reconstruction is the reconstruction, bit for bit
        assert np.all(step.response[[0, 2]] == 0)
        assert np.all(np.abs(step.response[[1, 3]]) > 0)
        # an untrained SAE changes the forecast
        assert np.all(step.reconstruction != step.control)
        idx = np.concatenate([i for i, _ in seen])
        assert sorted(idx) == [0, 1, 2, 3]
        fields = np.concatenate([f for _, f in seen])[np.argsort(idx)]
        assert np.all(fields[[0, 2]] == 0)
        assert fields.shape == (4, 2, len(window[0]), len(window[1]))


@pytest.mark.parametrize("where", ["everywhere", "region"])
def test_reconstruction_replaces_exactly_the_chosen_tokens(model, batch, where):
    mask, (c, h, w), *_ = _setup(model, batch, "backbone.encoder.1")
    seen = {}
    module = push_module(model, "backbone.encoder.1")

    def grab(_m, _i, out):
        seen["tokens"] = out.detach().clone()

    handle = module.register_forward_hook(grab)
    with torch.no_grad():
        model(batch)
    clean = seen["tokens"]
    handle.remove()
    sae = TopKSAE(clean.shape[-1], 2 * clean.shape[-1], 4, seed=1).double()
    with reconstruct_tokens(model, "backbone.encoder.1", sae_reconstruct(sae), None if where == "everywhere" else mask):
        handle = module.register_forward_hook(grab)
        try:
            with torch.no_grad():
                model(batch)
        finally:
            handle.remove()
    new = seen["tokens"].reshape(1, c, h * w, -1)
    old = clean.reshape(1, c, h * w, -1)
    with torch.no_grad():
        expect = sae(old.reshape(-1, old.shape[-1])).reshape(old.shape)
    inside = torch.as_tensor(mask) if where == "region" else torch.ones(h * w, dtype=torch.bool)
    assert torch.allclose(new[:, :, inside], expect[:, :, inside], atol=1e-10)
    assert torch.equal(new[:, :, ~inside], old[:, :, ~inside])


def test_random_draws_are_shared_and_have_unit_norm_per_level():
    a = random_unit_draws(20, 3, 16, seed=5)
    b = random_unit_draws(20, 3, 16, seed=5)
    assert a.shape == (20, 3, 16) and np.array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=2), 1.0)
    assert not np.array_equal(a, random_unit_draws(20, 3, 16, seed=6))


def test_map_window_is_contiguous_across_the_meridian():
    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    rows, cols = map_window(BOX, lat, lon, margin=15)
    assert lat[rows].min() >= -25 and lat[rows].max() <= 65
    steps = np.diff(lon[cols]) % 360
    assert np.all(steps == 3.0)
    assert lon[cols][0] == 315.0 and lon[cols][-1] == 75.0


def _token_store(path, dates, labels, d=4):
    """Tokens whose channel 0 is large in the box on storm days, channel 1 on calm days."""
    lat = np.repeat([20.0, -60.0], 10)
    lon = np.tile(np.r_[0.0:50.0:5.0], 2)
    rng = np.random.default_rng(0)
    with TokenWriter(path, d, chunk_tokens=16) as w:
        for t, y in zip(dates, labels):
            x = 0.1 * rng.random((20, d))
            x[:10, 0 if y == "storm" else 1] += 2.0
            x[10:, 3] += 1.0
            w.append(x, t, np.zeros(20), lat, lon)


def _identity_sae(d=4):
    sae = TopKSAE(d, d, 1)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.decoder.copy_(torch.eye(d))
    return sae.eval()


def test_feature_choice_finds_the_storm_features_then_the_most_frequent(tmp_path):
    dates = pd.date_range("2020-01-01 12:00", periods=8, freq="D")
    lab = ["storm", "calm"] * 4
    _token_store(tmp_path / "t.zarr", dates, lab)
    labels = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "label": lab})
    stats = feature_statistics(_identity_sae(), [tmp_path / "t.zarr"], BOX, labels)
    assert stats.loc[0, "storm_corr"] > 0.99 and stats.loc[1, "storm_corr"] < -0.99
    assert np.isnan(stats.loc[2, "mean_activation"]) and stats.loc[2, "frequency"] == 0
    np.testing.assert_allclose(stats["frequency"].sum(), 1.0)
    chosen = choose_features(stats, 3)
    assert list(chosen["feature"]) == [0, 1, 3]
    assert list(chosen["reason"]) == ["storm correlation", "storm correlation", "frequency"]


def _steer_ds(k=20, slope_own=1.0):
    rng = np.random.default_rng(0)
    dates = pd.to_datetime(["2020-01-01", "2020-01-05", "2020-01-09", "2020-02-01", "2020-02-05", "2020-02-09"])
    alphas = np.array([-2.0, 2.0])
    nd, nq = 1, 1
    resp = rng.normal(0, 0.1, (6, nd, k + 1, 2, nq)) * alphas[None, None, None, :, None]
    resp[:, :, 0] = slope_own * alphas[None, None, :, None] + 0.01 * rng.normal(size=(6, nd, 2, nq))
    from aurora_xai.interventions.summary import slopes

    control = rng.normal(1000, 5, (6, nq))
    return xr.Dataset(
        {
            "response": (("date", "direction", "member", "alpha", "quantity"), resp),
            "slope": (("date", "direction", "member", "quantity"), slopes(resp, alphas, axis=3)),
            "control": (("date", "quantity"), control),
            "downstream": (("date", "quantity"), np.full((6, nq), 0.5)),
            "label": (("date",), np.array([1, 1, 1, 0, 0, 0])),
            "units": (("quantity",), ["hPa"]),
            "feature": (("direction",), [7]),
        },
        coords={
            "date": dates,
            "direction": ["feature7"],
            "member": np.arange(k + 1),
            "alpha": alphas,
            "quantity": ["msl"],
        },
    )


def test_table_and_headline_known_answers():
    ds = _steer_ds()
    table = steering_table(ds, 200, 0)
    rank = table[(table["statistic"] == "rank_p")]
    assert float(rank["value"].iloc[0]) == pytest.approx(1 / 21)
    assert int(rank["feature"].iloc[0]) == 7
    resp = table[(table["statistic"] == "response") & (table["alpha"] == 2.0)]
    assert float(resp["value"].iloc[0]) == pytest.approx(2.0, abs=0.05)
    down = table[table["statistic"] == "downstream"]
    assert float(down["value"].iloc[0]) == pytest.approx(0.5)
    rel = table[table["statistic"] == "downstream_relative"]
    sd = float(np.std(ds["control"].values, ddof=1))
    assert float(rel["value"].iloc[0]) == pytest.approx(0.5 / sd)
    rows = headline_rows(steering_headline(table, "backbone", 200))
    assert set(rows["metric"]) == {"steer_feature7_msl_rank_p", "sae_downstream_msl@backbone"}
    assert rows["calibration"].str.len().min() > 0
    # a direction interchangeable with its random draws is not singled out
    null = steering_table(_steer_ds(slope_own=0.0), 50, 0)
    assert float(null.loc[null["statistic"] == "rank_p", "value"].iloc[0]) > 0.2


@dataclasses.dataclass
class _Source:
    """A store stand-in: the synthetic batch at any time."""

    lat: np.ndarray
    lon: np.ndarray

    def batch(self, t):
        import datetime

        return synthetic_batch(
            seed=int(pd.Timestamp(t).day), time=pd.Timestamp(t).to_pydatetime().replace(tzinfo=datetime.UTC)
        )


@dataclasses.dataclass(frozen=True)
class _Cfg:
    tap: str = "backbone"
    quantities: tuple = ("msl", "10v")
    features: int = 2
    alphas: tuple = (-2.0, 2.0)
    n_random: int = 3
    dates_per_class: int = 1
    n_boot: int = 50
    reconstruct: str = "everywhere"


_RUNS: dict = {}


def _run(model, batch, tmp_path):
    if "ds" in _RUNS:
        return _RUNS["ds"]
    dates = pd.date_range("2020-01-01 12:00", periods=4, freq="D")
    lab = ["storm", "calm"] * 2
    lat_t = np.repeat([20.0, -60.0], 10)
    lon_t = np.tile(np.r_[0.0:50.0:5.0], 2)
    rng = np.random.default_rng(1)
    with TokenWriter(tmp_path / "t.zarr", 64, chunk_tokens=32) as w:
        for t in dates:
            w.append(rng.standard_normal((20, 64)), t, np.zeros(20), lat_t, lon_t)
    labels = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "label": lab})
    sae = TopKSAE(64, 128, 8, seed=0).eval()
    src = _Source(batch.metadata.lat.numpy(), batch.metadata.lon.numpy())
    _RUNS["ds"] = run_steering(_Cfg(), BOX, None, src, 0, sae, [tmp_path / "t.zarr"], labels, model=model, batch_size=8)
    return _RUNS["ds"]


def test_run_steering_end_to_end(model, batch, tmp_path):
    ds = _run(model, batch, tmp_path)
    assert ds.sizes["date"] == 2 and ds.sizes["direction"] == 2 and ds.sizes["member"] == 4
    assert list(ds["direction"].values) == [f"feature{f}" for f in ds["feature"].values]
    assert np.all(np.isfinite(ds["response"].values))
    assert ds["map"].shape[:3] == (2, 2, 2)
    # one dose unit, and the random pushes shared by every direction
    assert np.all(ds["scale"].values == ds["scale"].values[0]) and ds["scale"].values[0] > 0
    assert np.array_equal(ds["response"].values[:, 0, 1:], ds["response"].values[:, 1, 1:])
    assert ds.attrs["pushes_per_date"] == (2 + 3) * 2
    np.testing.assert_allclose(np.linalg.norm(ds["vector"].values, axis=(1, 2)), np.sqrt(4))
    table = steering_table(ds, 50, 0)
    assert set(table["statistic"]) >= {"rank_p", "slope", "response", "downstream", "downstream_relative"}
    assert table.loc[table["statistic"] == "rank_p", "value"].min() >= 1 / 4


def test_figures_draw(model, batch, tmp_path):
    from aurora_xai.features.steering_figures import plot_dose_response, plot_response_maps

    ds = _run(model, batch, tmp_path)
    fig = plot_dose_response(ds, n_boot=20)
    assert len(fig.axes) == 4
    fig = plot_response_maps(ds, BOX)
    assert any("reconstruction only" in ax.get_title() for ax in fig.axes)


def test_pc1_and_the_storm_axis_beside_the_features(model, batch, tmp_path):
    from test_interventions import _pooled

    from aurora_xai.interventions.directions import DirectionData

    pooled, labels = _pooled(d=64)
    levels = tuple(str(v) for v in pooled["latent_level"].values)
    dates = pd.DatetimeIndex(pooled["date"].values)
    rng = np.random.default_rng(2)
    with TokenWriter(tmp_path / "t.zarr", 64, chunk_tokens=256) as w:
        for t in dates[:120]:
            w.append(rng.standard_normal((8, 64)), t, np.zeros(8), np.full(8, 20.0), np.arange(8) * 5.0)
    sae = TopKSAE(64, 128, 8, seed=0).eval()
    src = _Source(batch.metadata.lat.numpy(), batch.metadata.lon.numpy())
    ds = run_steering(
        _Cfg(),
        BOX,
        None,
        src,
        0,
        sae,
        [tmp_path / "t.zarr"],
        labels,
        pooled=pooled,
        direction_data=lambda p, lab: DirectionData(p, lab, "us", levels),
        model=model,
        batch_size=16,
    )
    names = [str(d) for d in ds["direction"].values]
    assert names[-2:] == ["pc1", "storm_axis"] and names[0].startswith("feature")
    assert list(ds["feature"].values[-2:]) == [-1, -1]
    np.testing.assert_allclose(np.linalg.norm(ds["vector"].values, axis=(1, 2)), 2.0)
    # the axes' doses are the common unit, the features' own units are recorded
    np.testing.assert_array_equal(ds["alpha_feature_units"].values[-1], ds["alpha"].values)
    assert np.all(np.isfinite(ds["response"].values)) and np.all(ds["response"].values[:, :, 0] != 0)
    rows = headline_rows(steering_headline(steering_table(ds, 50, 0), "backbone", 50))
    assert {"steer_pc1_msl_rank_p", "steer_storm_axis_10v_rank_p", "sae_downstream_msl@backbone"} <= set(rows["metric"])
    assert rows.loc[rows["metric"].str.endswith("_rank_p"), "value"].between(1 / 4, 1).all()
