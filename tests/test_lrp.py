"""Correctness of the LRP implementation on tiny Aurora models and toy models."""

from __future__ import annotations

import copy
import threading

import aurora
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.attribution.benchmark import benchmark_lrp
from aurora_xai.attribution.constants import zero_constant_terms
from aurora_xai.attribution.methods import METHODS, compute_relevance, get_method
from aurora_xai.attribution.patching import lrp_rules
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import Region

torch.set_num_threads(1)

BOX = Region("box", 10.0, 50.0, 340.0, 40.0)  # crosses the prime meridian
MSL = ForecastTarget("msl", None, BOX)
T500 = ForecastTarget("t", 500, BOX)


@pytest.fixture(scope="module")
def batch64():
    return synthetic_batch(33, 64, dtype=torch.float64)


@pytest.fixture(scope="module")
def model_biased():
    """float64 tiny model, two blocks per stage (shifted windows), random biases."""
    return tiny_lrp_model(seed=0, depths=(2, 2, 2), dtype=torch.float64, bias_std=0.05)


@pytest.fixture(scope="module")
def model_bias_free(model_biased):
    m = copy.deepcopy(model_biased)
    zero_constant_terms(m)
    return m


def _total(ds):
    return sum(float(ds[v].sum()) for v in ds.data_vars)


# ------------------------------------------------------------------------------------
# Conservation.
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [MSL, T500], ids=["msl", "t500"])
def test_cp_conserves_without_constant_terms(model_bias_free, batch64, target):
    ds = compute_relevance(model_bias_free, batch64, target, attention_rule="cp", epsilon=1e-9, dtype=torch.float64)
    assert abs(ds.attrs["target_value"]) > 1e-4
    assert np.isclose(_total(ds), ds.attrs["relevance_sum"], rtol=1e-10)
    assert ds.attrs["conservation_error"] < 0.01  # the requirement
    # What is missing is exactly the epsilon stabiliser's share ...
    assert np.isclose(ds.attrs["share_absorbed"], ds.attrs["absorbed_epsilon"], rtol=0, atol=1e-10)
    # ... and without it conservation is exact to float64 rounding.
    ds0 = compute_relevance(model_bias_free, batch64, target, attention_rule="cp", epsilon=0.0, dtype=torch.float64)
    assert ds0.attrs["conservation_error"] < 1e-10


def test_attnlrp_bias_free_only_softmax_absorbs(model_bias_free, batch64):
    ds = compute_relevance(model_bias_free, batch64, T500, attention_rule="attnlrp", epsilon=0.0, dtype=torch.float64)
    # AttnLRP's softmax rule is not conservative; every other term is zero here.
    for key, value in ds.attrs.items():
        if key.startswith("absorbed_") and key not in ("absorbed_softmax", "absorbed_total"):
            assert abs(value) < 1e-10, key
    assert ds.attrs["closure_error"] < 1e-8
    assert np.isclose(ds.attrs["share_absorbed"], ds.attrs["absorbed_softmax"], atol=1e-8)


@pytest.mark.parametrize("rule", ["cp", "attnlrp"])
def test_ledger_accounts_for_every_constant_term(model_biased, batch64, rule):
    """With all of Aurora's constants present, sum(R) + absorbed == target."""
    ds = compute_relevance(model_biased, batch64, MSL, attention_rule=rule, epsilon=1e-3, dtype=torch.float64)
    assert ds.attrs["conservation_error"] > 1e-3  # the constants do absorb relevance
    assert ds.attrs["closure_error"] < 1e-8
    for key in ("bias", "modulation_shift", "position_scale_embedding", "epsilon"):
        assert abs(ds.attrs[f"absorbed_{key}"]) > 0, key


def test_default_tiny_model_closure(batch64):
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0)).double()
    ds = compute_relevance(model, batch64, T500, epsilon=0.0, dtype=torch.float64)
    assert ds.attrs["closure_error"] < 1e-8


def test_latent_target_conserves(model_bias_free, batch64):
    for layer in ("encoder", "backbone", "backbone.encoder.1"):
        target = LatentTarget(layer, BOX)
        ds = compute_relevance(model_bias_free, batch64, target, epsilon=0.0, dtype=torch.float64)
        assert ds.attrs["conservation_error"] < 1e-8, layer


# ------------------------------------------------------------------------------------
# Agreement with gradient methods on a linear model; known answer.
# ------------------------------------------------------------------------------------


def test_linear_model_lrp_equals_input_x_gradient_and_ig():
    from captum.attr import InputXGradient, IntegratedGradients

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(12, 16, bias=False), nn.Linear(16, 8, bias=False), nn.Linear(8, 1, bias=False)
    ).double()
    x = torch.randn(3, 12, dtype=torch.float64)

    def f(inp):
        return net(inp)[:, 0]

    r_ixg = InputXGradient(f).attribute(x).detach()
    r_ig = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=16)
    scale = float(r_ixg.abs().max())
    for eps in (0.0, 1e-12):
        xl = x.clone().requires_grad_(True)
        with lrp_rules(net, epsilon=eps):
            (g,) = torch.autograd.grad(f(xl).sum(), xl)
        r_lrp = xl.detach() * g
        assert torch.allclose(r_lrp, r_ixg, rtol=1e-9, atol=1e-9 * scale), eps
        assert torch.allclose(r_lrp, r_ig, rtol=1e-9, atol=1e-9 * scale), eps
        assert torch.allclose(r_lrp.sum(1), f(x).detach(), rtol=1e-9)


class BoxModel(nn.Module):
    """Output msl = pointwise MLP of t at one level and the last history step, masked
    to a box; every other input is ignored."""

    patch_size = 4

    def __init__(self, level_index: int, lat_slice: slice, lon_slice: slice) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.fc1 = nn.Linear(1, 8, bias=False)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(8, 1, bias=False)
        self.level_index = level_index
        self.lat_slice, self.lon_slice = lat_slice, lon_slice

    def forward(self, batch):
        b = batch.normalise(surf_stats={}).crop(self.patch_size)
        t = b.atmos_vars["t"][:, -1, self.level_index]  # (B, H, W)
        y = self.fc2(self.act(self.fc1(t[..., None])))[..., 0]
        mask = torch.zeros_like(y)
        mask[:, self.lat_slice, self.lon_slice] = 1.0
        msl = (y * mask)[:, None]
        return aurora.Batch(
            surf_vars={"msl": msl},
            static_vars={},
            atmos_vars={},
            metadata=aurora.Metadata(
                lat=b.metadata.lat,
                lon=b.metadata.lon,
                time=b.metadata.time,
                atmos_levels=b.metadata.atmos_levels,
            ),
        )


@pytest.mark.parametrize("method", ["lrp", "input_x_gradient", "integrated_gradients", "saliency"])
def test_known_answer_relevance_in_box(batch64, method):
    model = BoxModel(level_index=2, lat_slice=slice(5, 11), lon_slice=slice(40, 52)).double()
    lat = batch64.metadata.lat.numpy()
    lon = batch64.metadata.lon.numpy()
    box = Region("inner", float(lat[10]), float(lat[5]), float(lon[40]), float(lon[51]))
    target = ForecastTarget("msl", None, box)
    ds = compute_relevance(model, batch64, target, method=method, epsilon=0.0, n_steps=8, dtype=torch.float64)
    total = sum(float(abs(ds[v]).sum()) for v in ds.data_vars)
    inside = float(
        abs(ds["t"].sel(level=500.0, history=0.0)).isel(latitude=slice(5, 11), longitude=slice(40, 52)).sum()
    )
    assert total > 0
    assert inside / total > 0.99
    if method == "lrp":
        assert ds.attrs["conservation_error"] < 1e-8  # identity rule through GELU


def test_methods_are_looked_up_by_name_and_unknown_names_are_errors(batch64):
    """An unknown method or attention rule is an error naming the known ones, never a fall-through."""
    assert list(METHODS) == ["lrp", "input_x_gradient", "integrated_gradients", "saliency"]
    assert all(get_method(name).name == name for name in METHODS)
    model = BoxModel(level_index=2, lat_slice=slice(5, 11), lon_slice=slice(40, 52)).double()
    for call in (
        lambda: get_method("smoothgrad"),
        lambda: compute_relevance(model, batch64, MSL, method="smoothgrad", dtype=torch.float64),
    ):
        with pytest.raises(ValueError) as err:
            call()
        assert "smoothgrad" in str(err.value)
        assert all(repr(name) in str(err.value) for name in METHODS), err.value
    with pytest.raises(ValueError) as err:
        compute_relevance(model, batch64, MSL, attention_rule="softmax", dtype=torch.float64)
    assert all(repr(name) in str(err.value) for name in ("cp", "attnlrp", "gradient")), err.value


# ------------------------------------------------------------------------------------
# The context manager leaves the model as it was.
# ------------------------------------------------------------------------------------


def _snapshot(model):
    snap = {}
    for name, m in model.named_modules():
        d = {}
        for k, v in m.__dict__.items():
            if isinstance(v, dict):
                d[k] = (id(v), tuple((kk, id(vv)) for kk, vv in v.items()))
            else:
                d[k] = id(v)
        snap[name] = d
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    return snap, flags, F.scaled_dot_product_attention, F.layer_norm, torch.softmax


def _forward(model, batch):
    with torch.no_grad():
        pred = model(batch)
    return [pred.surf_vars[k] for k in pred.surf_vars] + [pred.atmos_vars[k] for k in pred.atmos_vars]


def test_context_manager_restores_model():
    model = tiny_lrp_model(seed=2, depths=(2, 2, 2), dtype=torch.float32)
    model.backbone.encoder_layers[0].blocks[0].attn.use_fp16_safe_attention = True
    batch = synthetic_batch(17, 32, dtype=torch.float32)
    before = _forward(model, batch)
    snap = _snapshot(model)
    with lrp_rules(model, attention_rule="attnlrp", checkpointing=True):
        assert F.scaled_dot_product_attention is not snap[2]
        inside = _forward(model, batch)
    assert _snapshot(model) == snap
    after = _forward(model, batch)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    # The rules change gradients, not values (up to the explicit attention's rounding).
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(before, inside))

    with pytest.raises(RuntimeError, match="boom"):
        with lrp_rules(model, attention_rule="cp"):
            _forward(model, batch)
            raise RuntimeError("boom")
    assert _snapshot(model) == snap
    after2 = _forward(model, batch)
    assert all(torch.equal(a, b) for a, b in zip(before, after2))


def test_compute_relevance_restores_model(batch64):
    model = tiny_lrp_model(seed=2, depths=(1, 1, 1), dtype=torch.float32)
    model.train()
    snap = _snapshot(model)
    # float64 computation on a float32 model: cast temporarily, back exactly.
    compute_relevance(model, batch64, MSL, dtype=torch.float64, checkpointing=True)
    assert _snapshot(model) == snap
    assert model.training and all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(ValueError):
        compute_relevance(model.double(), batch64, MSL, dtype=torch.float32)


def test_attention_patch_is_thread_local():
    q = torch.randn(1, 2, 5, 4)
    expected = F.scaled_dot_product_attention(q, q, q)
    model = nn.Linear(2, 2)
    results = {}
    with lrp_rules(model):
        t = threading.Thread(target=lambda: results.update(out=F.scaled_dot_product_attention(q, q, q)))
        t.start()
        t.join()
        mine = F.scaled_dot_product_attention(q, q, q)
    assert torch.equal(results["out"], expected)
    assert torch.allclose(mine, expected, atol=1e-6)


# ------------------------------------------------------------------------------------
# Dataset layout, checkpointing, baselines, benchmark.
# ------------------------------------------------------------------------------------


def test_dataset_layout_and_crop(model_biased, batch64):
    ds = compute_relevance(model_biased, batch64, T500, dtype=None)
    assert ds["msl"].dims == ("history", "latitude", "longitude")
    assert ds["t"].dims == ("history", "level", "latitude", "longitude")
    assert ds["static_z"].dims == ("latitude", "longitude")
    assert list(ds["level"].values) == [100.0, 250.0, 500.0, 850.0]
    assert list(ds["history"].values) == [-6.0, 0.0]
    assert ds["latitude"].size == 33 and bool(ds["cropped"][-1]) and not ds["cropped"][:-1].any()
    assert ds.attrs["cropped_latitudes"] == [-90.0]
    for v in ds.data_vars:
        assert float(abs(ds[v].isel(latitude=-1)).max()) == 0.0, v
    for key in (
        "method",
        "attention_rule",
        "epsilon",
        "target",
        "target_value",
        "relevance_sum",
        "conservation_error",
        "share_absorbed",
        "closure_error",
    ):
        assert key in ds.attrs, key
    assert ds.attrs["target"].startswith("forecast:t@500hPa")


def test_checkpointing_gives_same_relevance(model_biased, batch64):
    a = compute_relevance(model_biased, batch64, MSL, attention_rule="attnlrp", dtype=None)
    b = compute_relevance(model_biased, batch64, MSL, attention_rule="attnlrp", checkpointing=True, dtype=None)
    for v in a.data_vars:
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-10, atol=1e-14)


def test_gradient_baselines(model_biased, batch64):
    ixg = compute_relevance(model_biased, batch64, T500, method="input_x_gradient", dtype=None)
    ig = compute_relevance(model_biased, batch64, T500, method="integrated_gradients", n_steps=16, dtype=None)
    assert ixg.attrs["method"] == "input_x_gradient"
    assert np.isclose(ixg.attrs["target_value"], ig.attrs["target_value"])
    assert ig.attrs["completeness_error"] < 1e-3


def test_float32_lrp_runs(batch64):
    model = tiny_lrp_model(seed=0, depths=(1, 1, 1), dtype=torch.float32, bias_std=0.0)
    zero_constant_terms(model)
    ds = compute_relevance(model, batch64, MSL)  # float32 default
    assert ds.attrs["dtype"] == "float32"
    assert ds.attrs["conservation_error"] < 1e-2  # epsilon=1e-6 takes ~1e-3 here
    assert ds.attrs["closure_error"] < 1e-4  # float32 rounding


def test_benchmark_lrp_keys(batch64):
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    res = benchmark_lrp(model, synthetic_batch(17, 32, dtype=torch.float32), MSL, repeats=1)
    for key in (
        "forward_time_s",
        "lrp_time_s",
        "time_ratio",
        "forward_peak_bytes",
        "lrp_peak_bytes",
        "lrp_saved_for_backward_bytes",
    ):
        assert key in res, key
    assert res["lrp_time_s"] > 0 and res["lrp_saved_for_backward_bytes"] > 0
