"""Attribution inside ``torch.no_grad()`` / ``torch.inference_mode()`` gives the plain call's relevance."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.attribution.benchmark import benchmark_lrp
from aurora_xai.attribution.grad_mode import ordinary_parameters, without_inference_tensors
from aurora_xai.attribution.inputs import normalised_inputs
from aurora_xai.attribution.methods import LRP, InputXGradient, MethodOptions, compute_relevance
from aurora_xai.attribution.patching import checkpointed_model, lrp_rules
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
from aurora_xai.regions import Region

torch.set_num_threads(1)

BOX = Region("box", 10.0, 50.0, 340.0, 40.0)
TARGETS = {
    "msl": ForecastTarget("msl", None, BOX),
    "t500": ForecastTarget("t", 500, BOX),
    "latent_backbone": LatentTarget("backbone", BOX),
    "latent_encoder": LatentTarget("encoder", BOX),
}
MODES = {
    "plain": contextlib.nullcontext,
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
}
# (method, attention rule): every attribution method, LRP with each attention rule.
METHODS = [
    ("lrp", "cp"),
    ("lrp", "attnlrp"),
    ("lrp", "gradient"),
    ("input_x_gradient", "cp"),
    ("integrated_gradients", "cp"),
]


@pytest.fixture(scope="module")
def model():
    """float64 tiny model with two blocks per stage (shifted windows) and random biases."""
    return tiny_lrp_model(seed=3, depths=(2, 2, 2), dtype=torch.float64, bias_std=0.05)


def _relevance(model, mode: str, method: str, rule: str, target, **kw):
    """Relevance computed with the batch made inside the caller's grad mode, as a notebook would."""
    with MODES[mode]():
        batch = synthetic_batch(17, 32, dtype=torch.float64)
        ds = compute_relevance(model, batch, target, method=method, attention_rule=rule, n_steps=4, dtype=None, **kw)
        # the caller's grad mode is back after the call
        assert torch.is_grad_enabled() == (mode == "plain")
        assert torch.is_inference_mode_enabled() == (mode == "inference_mode")
    return ds


def _assert_same(a, b):
    assert list(a.data_vars) == list(b.data_vars)
    for v in a.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)
    for key in ("target_value", "relevance_sum"):
        assert a.attrs[key] == b.attrs[key], key


@pytest.mark.parametrize("method,rule", METHODS, ids=[f"{m}-{r}" for m, r in METHODS])
@pytest.mark.parametrize("target", ["msl", "latent_backbone"])
def test_every_method_gives_the_plain_relevance_in_every_grad_mode(model, method, rule, target):
    plain = _relevance(model, "plain", method, rule, TARGETS[target])
    assert np.isfinite(plain.attrs["relevance_sum"]) and plain.attrs["relevance_sum"] != 0
    for mode in ("no_grad", "inference_mode"):
        _assert_same(_relevance(model, mode, method, rule, TARGETS[target]), plain)


@pytest.mark.parametrize("target", ["t500", "latent_encoder"])
def test_other_targets_and_checkpointing_in_inference_mode(model, target):
    for method in ("lrp", "input_x_gradient"):
        plain = _relevance(model, "plain", method, "cp", TARGETS[target], checkpointing=True)
        _assert_same(_relevance(model, "inference_mode", method, "cp", TARGETS[target], checkpointing=True), plain)


def test_integrated_gradients_with_a_baseline_batch_made_in_inference_mode(model):
    target = TARGETS["msl"]
    batch = synthetic_batch(17, 32, seed=0)
    base = synthetic_batch(17, 32, seed=5)
    kw = dict(method="integrated_gradients", n_steps=4, dtype=None)
    plain = compute_relevance(model, batch, target, baseline=base, **kw)
    with torch.inference_mode():
        batch_i = synthetic_batch(17, 32, seed=0)
        base_i = synthetic_batch(17, 32, seed=5)
        inside = compute_relevance(model, batch_i, target, baseline=base_i, **kw)
    _assert_same(inside, plain)
    assert inside.attrs["target_at_baseline"] == plain.attrs["target_at_baseline"]


def test_model_built_or_cast_under_inference_mode(model):
    """A model created (or cast) under inference mode holds inference tensors; they are swapped, then restored."""
    batch = synthetic_batch(17, 32, dtype=torch.float32)
    ordinary = tiny_lrp_model(seed=1, depths=(1, 1, 1), dtype=torch.float32)
    with torch.inference_mode():
        built = tiny_lrp_model(seed=1, depths=(1, 1, 1), dtype=torch.float32)
    params = dict(built.named_parameters())
    assert all(p.is_inference() for p in params.values())
    for method in ("lrp", "input_x_gradient"):
        want = compute_relevance(ordinary, batch, TARGETS["msl"], method=method, dtype=torch.float64)
        got = compute_relevance(built, batch, TARGETS["msl"], method=method, dtype=torch.float64)
        _assert_same(got, want)
        # the model's own parameter objects are back, unchanged, still float32 inference tensors
        after = dict(built.named_parameters())
        assert all(after[k] is params[k] for k in params)
        assert all(p.dtype == torch.float32 and p.is_inference() for p in after.values())
    # an ordinary model is never copied
    before = list(ordinary.parameters())
    with torch.inference_mode(False), ordinary_parameters(ordinary):
        assert all(a is b for a, b in zip(ordinary.parameters(), before, strict=True))
    # shared parameters stay shared in the copy, and the swap is undone also on an error
    with torch.inference_mode():
        shared = nn.Linear(3, 3)
        tied = nn.Sequential(shared, nn.ReLU(), shared)
    with pytest.raises(RuntimeError, match="boom"), torch.inference_mode(False), ordinary_parameters(tied):
        assert tied[0].weight is tied[2].weight and not tied[0].weight.is_inference()
        raise RuntimeError("boom")
    assert tied[0].weight is shared.weight and shared.weight.is_inference()


def test_lower_level_entry_points_in_both_modes(model):
    """The LRP and input x gradient methods on inputs normalised under the caller's mode."""
    target = TARGETS["latent_backbone"]
    batch = synthetic_batch(17, 32)
    inputs = normalised_inputs(model, batch, torch.float64)
    options = MethodOptions()
    want_lrp = LRP().relevance(model, inputs, target, options)
    want_ixg = InputXGradient().relevance(model, inputs, target, options)
    for mode in ("no_grad", "inference_mode"):
        with MODES[mode]():
            inputs_m = normalised_inputs(model, synthetic_batch(17, 32), torch.float64)
            got_lrp = LRP().relevance(model, inputs_m, target, options)
            got_ixg = InputXGradient().relevance(model, inputs_m, target, options)
        for want, got in ((want_lrp, got_lrp), (want_ixg, got_ixg)):
            assert got[1] == want[1]
            for a, b in zip(got[0], want[0], strict=True):
                assert torch.equal(a, b)


def test_lrp_rules_and_checkpointing_contexts_turn_gradients_on():
    torch.manual_seed(0)
    toy = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 1)).double()
    x = torch.randn(2, 4, dtype=torch.float64)

    def relevance() -> torch.Tensor:
        with lrp_rules(toy, epsilon=1e-9):
            leaf = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(toy(leaf).sum(), leaf)
        return leaf.detach() * g

    want = relevance()
    for mode in ("no_grad", "inference_mode"):
        with MODES[mode]():
            assert torch.equal(relevance(), want)
            assert not torch.is_grad_enabled()
    model = tiny_lrp_model(seed=0, depths=(1, 1, 1))
    with torch.no_grad(), checkpointed_model(model):
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    assert torch.is_grad_enabled()


def test_without_inference_tensors_copies_only_inference_tensors():
    batch = synthetic_batch(9, 16)
    assert without_inference_tensors(batch) is batch
    with torch.inference_mode():
        inf = synthetic_batch(9, 16)
    out = without_inference_tensors(inf)
    tensors = [*out.surf_vars.values(), *out.static_vars.values(), *out.atmos_vars.values()]
    assert not any(t.is_inference() for t in [*tensors, out.metadata.lat, out.metadata.lon])
    assert torch.equal(out.surf_vars["msl"], batch.surf_vars["msl"])
    assert out.metadata.time == batch.metadata.time and out.metadata.atmos_levels == batch.metadata.atmos_levels


def test_benchmark_lrp_runs_in_inference_mode():
    model = tiny_lrp_model(seed=0, depths=(1, 1, 1), dtype=torch.float32)
    with torch.inference_mode():
        res = benchmark_lrp(model, synthetic_batch(17, 32, dtype=torch.float32), TARGETS["msl"], repeats=1)
    assert res["lrp_time_s"] > 0 and res["gradient_time_s"] > 0


def test_perturbation_relevances_in_inference_mode():
    """The perturbation experiment's relevance step gives the plain relevance under inference mode."""
    from aurora_xai.perturbation.relevance import compute_relevances

    model = tiny_lrp_model(seed=4, depths=(1, 1, 1), dtype=torch.float32)
    methods = ("lrp", "input_x_gradient", "integrated_gradients", "random")
    want = compute_relevances(
        model,
        synthetic_batch(17, 32, dtype=torch.float32),
        TARGETS["msl"],
        methods,
        attention_rule="cp",
        epsilon=1e-6,
        ig_steps=4,
    )
    with torch.inference_mode():
        batch = synthetic_batch(17, 32, dtype=torch.float32)
        got = compute_relevances(model, batch, TARGETS["msl"], methods, attention_rule="cp", epsilon=1e-6, ig_steps=4)
    assert got["random"] is None and want["random"] is None
    for m in methods[:3]:
        _assert_same(got[m], want[m])
