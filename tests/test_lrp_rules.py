"""LRP rule primitives against explicit reference formulas; rule maps and presets.

Each primitive of :mod:`aurora_xai.attribution.rules` is run on a small layer in
float64 with a given output relevance ``R_out`` (gradient-times-input form: the output
gradient is ``R_out / out``), and the input relevance ``x * grad`` is compared with the
rule's formula written out with explicit loops. Conservation alone does not pin a rule
down: the negative controls give rules that conserve relevance but split it wrongly,
and check that the comparison with the reference rejects them.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from aurora.model.decoder import LinearPatchReconstruction
from aurora.model.film import AdaptiveLayerNorm
from aurora.model.patchembed import LevelPatchEmbed
from torch import nn

from aurora_xai.attribution._testing import tiny_lrp_model
from aurora_xai.attribution.patching import lrp_rules
from aurora_xai.attribution.rule_maps import (
    LAYER_RULES,
    PRESETS,
    EpsilonOutputRule,
    EpsilonRule,
    IdentityActivationRule,
    IdentityNormRule,
    RuleMap,
    Unsupported,
    rule_map,
)
from aurora_xai.attribution.rules import (
    ActivationIdentity,
    ConstantAffine,
    EpsilonGate,
    EpsilonLinear,
    LayerNormIdentity,
    Ledger,
    SoftmaxTaylor,
    UniformMatmul,
    gelu_ratio,
    lrp_attention,
    silu_ratio,
)

torch.set_num_threads(1)
DT = torch.float64


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.clone().requires_grad_(True)


def _relevance(out: torch.Tensor, inputs: list[torch.Tensor], r_out: torch.Tensor) -> list[torch.Tensor]:
    """Input relevance ``x * grad`` for the output relevance ``r_out`` (output gradient ``r_out / out``)."""
    grads = torch.autograd.grad(out, inputs, grad_outputs=r_out / out.detach(), allow_unused=True)
    return [x.detach() * g if g is not None else torch.zeros_like(x) for x, g in zip(inputs, grads)]


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equality with the reference up to float64 rounding (the criterion of every test here)."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def _sign(z: float) -> float:
    return 1.0 if z >= 0 else -1.0


# ------------------------------------------------------------------------------------
# Epsilon rule.
# ------------------------------------------------------------------------------------


def _epsilon_reference(x, w, b, r_out, eps):
    """R_i = sum_j x_i w_ji R_j / (z_j + eps sign z_j), batch by batch, by loops."""
    n, d_in = x.shape
    d_out = w.shape[0]
    r = torch.zeros_like(x)
    absorbed = {"bias": 0.0, "epsilon": 0.0}
    for s in range(n):
        for j in range(d_out):
            z = float(sum(x[s, i] * w[j, i] for i in range(d_in)) + (b[j] if b is not None else 0.0))
            den = z + eps * _sign(z)
            for i in range(d_in):
                r[s, i] += x[s, i] * w[j, i] * r_out[s, j] / den
            absorbed["bias"] += float((b[j] if b is not None else 0.0) * r_out[s, j] / den)
            absorbed["epsilon"] += float(eps * _sign(z) * r_out[s, j] / den)
    return r, absorbed


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_epsilon_linear_matches_the_epsilon_rule(eps):
    x, w, b = _randn(3, 5, seed=0), _randn(4, 5, seed=1), _randn(4, seed=2)
    r_out = _randn(3, 4, seed=3)
    ledger = Ledger()
    xl = _leaf(x)
    z = EpsilonLinear.apply(xl, w, b, eps, ledger)
    torch.testing.assert_close(z, F.linear(x, w, b), rtol=0, atol=0)
    (r,) = _relevance(z, [xl], r_out)
    ref, absorbed = _epsilon_reference(x, w, b, r_out, eps)
    assert _close(r, ref)
    totals = ledger.totals()
    assert totals["bias"] == pytest.approx(absorbed["bias"], rel=1e-10)
    assert totals.get("epsilon", 0.0) == pytest.approx(absorbed["epsilon"], rel=1e-10, abs=1e-14)
    # what the input does not receive, the bias and the stabiliser absorb
    assert float(r.sum()) + sum(totals.values()) == pytest.approx(float(r_out.sum()), rel=1e-10)


def test_epsilon_reference_rejects_a_conserving_wrong_split():
    """Splitting R_j in proportion to |x_i w_ji| also conserves (no bias, eps 0), but is not the rule."""
    x, w = _randn(3, 5, seed=0), _randn(4, 5, seed=1)
    r_out = _randn(3, 4, seed=3)
    ref, _ = _epsilon_reference(x, w, None, r_out, 0.0)
    contrib = (x[:, None, :] * w[None]).abs()  # (n, out, in)
    wrong = (contrib / contrib.sum(-1, keepdim=True) * r_out[..., None]).sum(1)
    assert torch.allclose(wrong.sum(), r_out.sum()) and torch.allclose(ref.sum(), r_out.sum())
    assert not _close(wrong, ref)
    xl = _leaf(x)
    (r,) = _relevance(EpsilonLinear.apply(xl, w, None, 0.0, None), [xl], r_out)
    assert _close(r, ref) and not _close(r, wrong)


def test_epsilon_gate_on_a_convolution_matches_the_epsilon_rule():
    """Convolution + gate = the epsilon rule of the convolution's dense matrix."""
    eps = 0.2
    x, w, b = _randn(1, 2, 6, seed=4), _randn(3, 2, 3, seed=5), _randn(3, seed=6)
    ledger = Ledger()
    xl = _leaf(x)
    z = EpsilonGate.apply(F.conv1d(xl, w, b), eps, b, 1, ledger)
    r_out = _randn(*z.shape, seed=7)
    (r,) = _relevance(z, [xl], r_out)
    # dense matrix of the convolution: column k is the response to the k-th unit input
    basis = torch.eye(x.numel(), dtype=DT).reshape(-1, *x.shape[1:])
    dense = F.conv1d(basis, w).reshape(x.numel(), -1).T  # (out, in)
    bias = b[:, None].expand(z.shape[1:]).reshape(-1)
    ref, absorbed = _epsilon_reference(x.reshape(1, -1), dense, bias, r_out.reshape(1, -1), eps)
    assert _close(r.reshape(1, -1), ref)
    assert ledger.totals()["bias"] == pytest.approx(absorbed["bias"], rel=1e-10)
    assert ledger.totals()["epsilon"] == pytest.approx(absorbed["epsilon"], rel=1e-10)


# ------------------------------------------------------------------------------------
# Layer norm, constant affine, activations.
# ------------------------------------------------------------------------------------


def test_layer_norm_identity_rule_holds_std_constant():
    """R_i = sum_j x_i J_ji R_j / y_j with J_ji = w_j (delta_ij - 1/N) / std (std a constant)."""
    x, w, b = _randn(2, 5, seed=8), _randn(5, seed=9), _randn(5, seed=10)
    n_feat, eps = 5, 1e-5
    ledger = Ledger()
    xl = _leaf(x)
    y = LayerNormIdentity.apply(xl, (n_feat,), w, b, eps, ledger)
    torch.testing.assert_close(y, F.layer_norm(x, (n_feat,), w, b, eps), rtol=0, atol=0)
    r_out = _randn(2, 5, seed=11)
    (r,) = _relevance(y, [xl], r_out)
    ref = torch.zeros_like(x)
    bias_absorbed = 0.0
    for s in range(2):
        mean = sum(float(v) for v in x[s]) / n_feat
        std = math.sqrt(sum((float(v) - mean) ** 2 for v in x[s]) / n_feat + eps)
        for j in range(n_feat):
            g = r_out[s, j] / y[s, j].detach()
            bias_absorbed += float(b[j] * g)
            for i in range(n_feat):
                jac = w[j] * ((1.0 if i == j else 0.0) - 1.0 / n_feat) / std
                ref[s, i] += x[s, i] * jac * g
    assert _close(r, ref)
    assert ledger.totals()["norm_bias"] == pytest.approx(bias_absorbed, rel=1e-10)
    assert float(r.sum()) + bias_absorbed == pytest.approx(float(r_out.sum()), rel=1e-10)


def test_constant_affine_passes_relevance_to_the_normalised_input():
    """y = n * scale + shift (constants): R_n = n scale R / y, the shift absorbs shift R / y."""
    n, scale, shift = _randn(2, 3, 4, seed=12), _randn(2, 1, 4, seed=13), _randn(2, 1, 4, seed=14)
    ledger = Ledger()
    nl = _leaf(n)
    y = ConstantAffine.apply(nl, scale, shift, ledger, "modulation_shift")
    r_out = _randn(2, 3, 4, seed=15)
    (r,) = _relevance(y, [nl], r_out)
    ref = torch.zeros_like(n)
    absorbed = 0.0
    for bi, li, di in itertools.product(range(2), range(3), range(4)):
        yv = n[bi, li, di] * scale[bi, 0, di] + shift[bi, 0, di]
        ref[bi, li, di] = n[bi, li, di] * scale[bi, 0, di] * r_out[bi, li, di] / yv
        absorbed += float(shift[bi, 0, di] * r_out[bi, li, di] / yv)
    assert _close(r, ref)
    assert ledger.totals()["modulation_shift"] == pytest.approx(absorbed, rel=1e-10)


@pytest.mark.parametrize(
    "fn,ratio",
    [
        (F.gelu, gelu_ratio),
        (lambda t: F.gelu(t, approximate="tanh"), lambda t: gelu_ratio(t, "tanh")),
        (F.silu, silu_ratio),
    ],
    ids=["gelu", "gelu-tanh", "silu"],
)
def test_activation_identity_rule_passes_relevance_unchanged(fn, ratio):
    x = torch.linspace(-2.0, 2.0, 8, dtype=DT)[None]  # no zero: the output gradient is R / act(x)
    xl = _leaf(x)
    y = ActivationIdentity.apply(xl, fn, ratio)
    torch.testing.assert_close(y, fn(x), rtol=0, atol=0)
    r_out = _randn(1, 8, seed=16)
    (r,) = _relevance(y, [xl], r_out)
    assert _close(r, r_out)  # R_in = R_out, element by element


# ------------------------------------------------------------------------------------
# Uniform rule of a product of two input-dependent factors; softmax rule.
# ------------------------------------------------------------------------------------


def _uniform_reference(a, b, r_out, share_a=0.5):
    """R_A[l,s] = share_a sum_p A_ls B_sp R_lp / O_lp, R_B[s,p] = (1 - share_a) sum_l (same)."""
    o = a @ b
    ra, rb = torch.zeros_like(a), torch.zeros_like(b)
    L, S = a.shape
    P = b.shape[1]
    for l_, s, p in itertools.product(range(L), range(S), range(P)):
        part = a[l_, s] * b[s, p] * r_out[l_, p] / o[l_, p]
        ra[l_, s] += share_a * part
        rb[s, p] += (1 - share_a) * part
    return ra, rb


class _SkewedMatmul(torch.autograd.Function):
    """A wrong product rule: 70 % of the relevance to the first factor, 30 % to the second."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return 0.7 * (g @ b.T), 0.3 * (a.T @ g)


def test_uniform_rule_splits_the_product_half_and_half():
    a, b = _randn(3, 4, seed=17), _randn(4, 2, seed=18)
    r_out = _randn(3, 2, seed=19)
    al, bl = _leaf(a), _leaf(b)
    o = UniformMatmul.apply(al, bl)
    torch.testing.assert_close(o, a @ b, rtol=0, atol=0)
    ra, rb = _relevance(o, [al, bl], r_out)
    ref_a, ref_b = _uniform_reference(a, b, r_out)
    assert _close(ra, ref_a) and _close(rb, ref_b)
    assert float(ra.sum()) == pytest.approx(float(r_out.sum()) / 2, rel=1e-10)
    assert float(rb.sum()) == pytest.approx(float(r_out.sum()) / 2, rel=1e-10)
    # one input-dependent factor: it receives everything (the exact linear rule)
    al1 = _leaf(a)
    (ra_only,) = _relevance(UniformMatmul.apply(al1, b), [al1], r_out)
    assert _close(ra_only, _uniform_reference(a, b, r_out, share_a=1.0)[0])


def test_uniform_reference_rejects_a_conserving_wrong_split():
    a, b = _randn(3, 4, seed=17), _randn(4, 2, seed=18)
    r_out = _randn(3, 2, seed=19)
    al, bl = _leaf(a), _leaf(b)
    wa, wb = _relevance(_SkewedMatmul.apply(al, bl), [al, bl], r_out)
    assert float(wa.sum() + wb.sum()) == pytest.approx(float(r_out.sum()), rel=1e-10)  # conserves
    ref_a, ref_b = _uniform_reference(a, b, r_out)
    assert not _close(wa, ref_a) and not _close(wb, ref_b)
    assert _close(wa, _uniform_reference(a, b, r_out, share_a=0.7)[0])  # it is the 70/30 split


def _softmax_reference(x, r_out):
    """AttnLRP (Achtibat et al. 2024, Prop. 3.1): R_i = x_i (R_i^out - s_i sum_j R_j^out), by loops."""
    r = torch.zeros_like(x)
    for row in range(x.shape[0]):
        e = [math.exp(float(v)) for v in x[row]]
        s = [v / sum(e) for v in e]
        total = sum(float(v) for v in r_out[row])
        for i in range(x.shape[1]):
            r[row, i] = x[row, i] * (r_out[row, i] - s[i] * total)
    return r


def test_softmax_rule_is_the_attnlrp_rule():
    x = _randn(3, 5, seed=20)
    ledger = Ledger()
    xl = _leaf(x)
    s = SoftmaxTaylor.apply(xl, ledger)
    torch.testing.assert_close(s, torch.softmax(x, -1), rtol=0, atol=0)
    r_out = _randn(3, 5, seed=21)
    (r,) = _relevance(s, [xl], r_out)
    assert _close(r, _softmax_reference(x, r_out))
    # not conservative: the ledger holds what the inputs do not receive
    assert ledger.totals()["softmax"] == pytest.approx(float(r_out.sum() - r.sum()), rel=1e-10)


def test_softmax_reference_rejects_a_conserving_wrong_rule():
    """Handing each logit its output's relevance conserves exactly, but is not the AttnLRP rule."""
    x, r_out = _randn(3, 5, seed=20), _randn(3, 5, seed=21)
    wrong = r_out.clone()
    assert torch.equal(wrong.sum(), r_out.sum())
    assert not _close(wrong, _softmax_reference(x, r_out))


# ------------------------------------------------------------------------------------
# The explicit attention.
# ------------------------------------------------------------------------------------


def _attention_inputs():
    q, k, v = _randn(1, 2, 3, 2, seed=22), _randn(1, 2, 4, 2, seed=23), _randn(1, 2, 4, 3, seed=24)
    return q, k, v


def test_attnlrp_attention_chains_the_reference_rules():
    """R_O -> uniform rule of A V -> softmax rule -> uniform rule of q k^T, per head."""
    q, k, v = _attention_inputs()
    scale = 0.7
    ql, kl, vl = _leaf(q), _leaf(k), _leaf(v)
    out = lrp_attention("attnlrp")(ql, kl, vl, scale=scale)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=scale), rtol=1e-12, atol=1e-12)
    r_out = _randn(*out.shape, seed=25)
    rq, rk, rv = _relevance(out, [ql, kl, vl], r_out)
    for h in range(2):
        logits = (q[0, h] @ k[0, h].T) * scale
        weights = torch.softmax(logits, -1)
        r_w, r_v = _uniform_reference(weights, v[0, h], r_out[0, h])
        r_logits = _softmax_reference(logits, r_w)
        r_q, r_kt = _uniform_reference(q[0, h], k[0, h].T, r_logits)
        assert _close(rv[0, h], r_v) and _close(rq[0, h], r_q) and _close(rk[0, h], r_kt.T)


def test_cp_attention_passes_relevance_through_the_values_only():
    q, k, v = _attention_inputs()
    mask = torch.zeros(3, 4, dtype=DT)
    mask[0, 1] = -100.0  # an additive float mask, as Swin's shifted windows use
    ql, kl, vl = _leaf(q), _leaf(k), _leaf(v)
    out = lrp_attention("cp")(ql, kl, vl, attn_mask=mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-12)
    r_out = _randn(*out.shape, seed=26)
    rq, rk, rv = _relevance(out, [ql, kl, vl], r_out)
    assert not rq.any() and not rk.any()
    for h in range(2):
        weights = torch.softmax(q[0, h] @ k[0, h].T / math.sqrt(2) + mask, -1)
        _, r_v = _uniform_reference(weights, v[0, h], r_out[0, h], share_a=0.0)
        assert _close(rv[0, h], r_v)
    assert float(rv.sum()) == pytest.approx(float(r_out.sum()), rel=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [{"dropout_p": 0.1}, {"is_causal": True}, {"enable_gqa": True}, {"attn_mask": torch.ones(3, 4, dtype=torch.bool)}],
    ids=["dropout", "causal", "gqa", "bool-mask"],
)
def test_lrp_attention_refuses_what_it_does_not_implement(kwargs):
    q, k, v = _attention_inputs()
    with pytest.raises(ValueError, match="LRP attention"):
        lrp_attention("attnlrp")(q, k, v, **kwargs)
    with pytest.raises(ValueError, match="'cp' or 'attnlrp'"):
        lrp_attention("gradient")


# ------------------------------------------------------------------------------------
# Rule maps and presets.
# ------------------------------------------------------------------------------------


def test_presets_registry_and_unknown_names():
    assert list(PRESETS) == ["cp", "attnlrp", "gradient"]
    assert {name: PRESETS[name].attention for name in PRESETS} == {"cp": "cp", "attnlrp": "attnlrp", "gradient": None}
    assert all(PRESETS[name].layers is LAYER_RULES for name in PRESETS)
    assert rule_map("attnlrp") is PRESETS["attnlrp"]
    custom = RuleMap("mine", LAYER_RULES, None)
    assert rule_map(custom) is custom
    for call in (lambda: rule_map("lrp-z"), lambda: lrp_rules(nn.Linear(2, 2), "lrp-z").__enter__()):
        with pytest.raises(ValueError) as err:
            call()
        assert all(repr(name) in str(err.value) for name in ("cp", "attnlrp", "gradient")), err.value
        assert "lrp-z" in str(err.value)
    with pytest.raises(ValueError, match="attention"):
        RuleMap("bad", LAYER_RULES, "softmax")
    with pytest.raises(ValueError, match="module types"):
        RuleMap("bad", ((nn.Linear, EpsilonRule()),), None)
    with pytest.raises(ValueError, match="LayerRule"):
        RuleMap("bad", (((nn.Linear,), "epsilon"),), None)


def test_map_assigns_rules_by_module_type():
    cp = PRESETS["cp"]
    cases = [
        (nn.Linear(2, 2), EpsilonRule()),
        (LinearPatchReconstruction(4, 2), EpsilonRule()),  # a Linear subclass
        (nn.LayerNorm(3), IdentityNormRule()),
        (nn.Conv2d(1, 1, 1), EpsilonOutputRule(bias_dim=1)),
        (nn.Conv3d(1, 1, 1), EpsilonOutputRule(bias_dim=1)),
        (LevelPatchEmbed(("t",), 2, 4), EpsilonOutputRule(bias_dim=-1)),
        (nn.MultiheadAttention(4, 1), Unsupported()),
        (nn.Dropout(), None),
        (nn.Sequential(), None),
    ]
    for module, rule in cases:
        assert cp.rule_for(module) == rule, type(module).__name__
    assert isinstance(cp.rule_for(nn.GELU()), IdentityActivationRule)
    assert isinstance(cp.rule_for(nn.SiLU()), IdentityActivationRule)


def test_lrp_rules_installs_what_the_map_says_in_aurora():
    model = tiny_lrp_model(seed=0, depths=(1, 1, 1), dtype=torch.float32)
    sdpa = F.scaled_dot_product_attention
    for name in PRESETS:
        with lrp_rules(model, name):
            assert (F.scaled_dot_product_attention is sdpa) == (name == "gradient")
            for mod_name, m in model.named_modules():
                rule = PRESETS[name].rule_for(m)
                patched = "forward" in m.__dict__
                hooked = len(m._forward_hooks) > 0
                if isinstance(m, AdaptiveLayerNorm):
                    assert patched and rule is None, mod_name
                elif rule is None:
                    assert not patched and not hooked, mod_name
                else:
                    assert (patched, hooked) == ((True, False) if rule.kind == "forward" else (False, True)), mod_name
        assert all("forward" not in m.__dict__ and not m._forward_hooks for m in model.modules())
        assert F.scaled_dot_product_attention is sdpa


def test_a_custom_map_decides_the_rules():
    """A map that gives GELU no rule: the relevance is input x plain gradient; with the preset, R is conserved."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6, bias=False), nn.GELU(), nn.Linear(6, 1, bias=False)).double()
    x = _randn(3, 4, seed=27)
    linear_only = RuleMap("linear-only", (((nn.Linear,), EpsilonRule()),), None)

    def relevance(rules):
        leaf = _leaf(x)
        with lrp_rules(net, rules, epsilon=0.0):
            (g,) = torch.autograd.grad(net(leaf).sum(), leaf)
        return leaf.detach() * g

    leaf = _leaf(x)
    (plain,) = torch.autograd.grad(net(leaf).sum(), leaf)
    assert _close(relevance(linear_only), x * plain)
    with_rules = relevance("cp")
    assert not _close(with_rules, x * plain)
    with torch.no_grad():
        target = float(net(x).sum())
    assert float(with_rules.sum()) == pytest.approx(target, rel=1e-10)


def test_unsupported_module_raises_and_restores():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    with pytest.raises(NotImplementedError, match="BatchNorm1d"):
        with lrp_rules(model):
            pass
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
