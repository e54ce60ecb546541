"""Rule primitives of layer-wise relevance propagation, as autograd functions.

A primitive computes one operation and propagates relevance through it; which module
gets which primitive is decided by :mod:`aurora_xai.attribution.rule_maps`, and
:mod:`aurora_xai.attribution.patching` installs them in a model for a block.

Every rule is written in the "gradient times input" form: the forward pass computes
exactly what the original operation computes, and the backward pass returns a
*modified* gradient ``g`` such that the relevance of a tensor ``t`` is ``t * g``.
With this convention the relevance of the scalar target ``y`` is ``y * 1`` and the
relevance of the inputs is ``x * dy/dx`` under the modified backward.

Rules (``R`` is relevance, ``z`` the pre-activation, ``g`` the incoming gradient):

* :class:`EpsilonLinear`: epsilon rule for ``z = x W^T + b``:
  ``R_x = x * W^T (R_z / (z + eps * sign(z)))``, i.e. the incoming gradient is scaled
  by ``z / (z + eps sign z)`` before the ordinary linear backward. The bias and the
  stabiliser absorb ``b * g_z`` and ``R_z * eps / (z + eps sign z)``.
* :class:`EpsilonGate`: the same rule for any linear map whose output is already
  computed (convolutions): identity forward, scaled backward.
* :class:`LayerNormIdentity`: identity rule for layer normalisation. ``(x - mean(x)) /
  std(x)`` is treated as linear in ``x`` with ``std`` held constant (detached). The
  centring stays, so the map is linear and conserves relevance; the affine shift
  absorbs ``b * g``.
* :class:`ConstantAffine`: ``y = n * scale + shift`` with ``scale`` and ``shift``
  constant (the time-conditioned modulation of ``AdaptiveLayerNorm``); the shift
  absorbs ``shift * g``.
* :class:`ActivationIdentity`: identity rule for element-wise activations (GELU, SiLU):
  ``R_in = R_out``, i.e. ``g_in = g_out * act(x) / x``.
* :class:`UniformMatmul`: uniform ("half") rule for products of two input-dependent
  factors (``q @ k^T`` and ``A @ V`` in AttnLRP): each factor receives half of the
  relevance. When only one factor depends on the input (does not require grad) it
  receives all of it, which is then the exact linear rule.
* :class:`SoftmaxTaylor`: the AttnLRP softmax rule (Achtibat et al. 2024,
  Proposition 3.1), ``R_x = x * (R_s - s * sum(R_s))`` with ``R_s`` the relevance of the
  softmax output ``s``, which in this form is the ordinary softmax gradient. It is not conservative (softmax is
  shift-invariant, its first-order Taylor expansion at ``x`` has a bias term); the
  relevance it absorbs (including that of additive attention masks) is logged.

A :class:`Ledger` collects, during the backward pass, the relevance absorbed by each
kind of constant term so that ``sum(R_inputs) + sum(ledger) == target`` can be checked.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "ActivationIdentity",
    "ConstantAffine",
    "EpsilonGate",
    "EpsilonLinear",
    "LayerNormIdentity",
    "Ledger",
    "SoftmaxTaylor",
    "UniformMatmul",
    "gelu_ratio",
    "lrp_attention",
    "silu_ratio",
]


class Ledger:
    """Relevance absorbed by constant terms, accumulated during backward passes.

    Keys used by the rules: ``bias`` (biases of linear and convolution layers),
    ``norm_bias`` (affine shift of layer norms), ``epsilon`` (the epsilon stabiliser),
    ``modulation_shift`` (time-conditioned shift of adaptive layer norms), ``softmax``
    (AttnLRP softmax bias term and additive attention masks). Model-specific constants
    (embeddings, latent queries) are added by :mod:`aurora_xai.attribution.constants`.
    Values are summed in float64; adding is thread-safe.
    """

    def __init__(self) -> None:
        self._totals: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, key: str, value: torch.Tensor | float) -> None:
        """Add the sum of ``value`` (any shape) to the total of ``key``."""
        v = float(value.detach().double().sum()) if torch.is_tensor(value) else float(value)
        with self._lock:
            self._totals[key] += v

    def totals(self) -> dict[str, float]:
        """Absorbed relevance per key."""
        return dict(self._totals)


def _stabilise(z: torch.Tensor, eps: float) -> torch.Tensor:
    """``z + eps * sign(z)`` with ``sign(0) = +1``."""
    return z + eps * torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


def _epsilon_scale(g: torch.Tensor, z: torch.Tensor, eps: float) -> torch.Tensor:
    if eps == 0:
        return g
    return g * (z / _stabilise(z, eps))


def _bias_relevance(g_z: torch.Tensor, bias: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``sum(b * g_z)`` with ``b`` broadcast along dimension ``dim`` of ``g_z``."""
    dim = dim % g_z.ndim
    other = [d for d in range(g_z.ndim) if d != dim]
    return (g_z.sum(dim=other) * bias.to(g_z.dtype)).sum()


class EpsilonLinear(torch.autograd.Function):
    """``F.linear(x, weight, bias)`` with the epsilon rule in the backward pass."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps: float, ledger: Ledger | None):
        z = F.linear(x, weight, bias)
        ctx.save_for_backward(weight, bias, z)
        ctx.eps = eps
        ctx.ledger = ledger
        return z

    @staticmethod
    def backward(ctx, g):
        weight, bias, z = ctx.saved_tensors
        g_z = _epsilon_scale(g, z, ctx.eps)
        if ctx.ledger is not None:
            if ctx.eps:
                ctx.ledger.add("epsilon", (z * (g - g_z)).sum())
            if bias is not None:
                ctx.ledger.add("bias", _bias_relevance(g_z, bias))
        g_x = g_z @ weight.to(g_z.dtype) if ctx.needs_input_grad[0] else None
        return g_x, None, None, None, None


class EpsilonGate(torch.autograd.Function):
    """Identity forward on the output ``z`` of a linear map; epsilon-scaled backward.

    ``bias`` (optional, broadcast along ``bias_dim``) is only used for the ledger.
    """

    @staticmethod
    def forward(ctx, z, eps: float, bias, bias_dim: int, ledger: Ledger | None):
        ctx.save_for_backward(z, bias)
        ctx.eps = eps
        ctx.bias_dim = bias_dim
        ctx.ledger = ledger
        return z.clone()

    @staticmethod
    def backward(ctx, g):
        z, bias = ctx.saved_tensors
        g_z = _epsilon_scale(g, z, ctx.eps)
        if ctx.ledger is not None:
            if ctx.eps:
                ctx.ledger.add("epsilon", (z * (g - g_z)).sum())
            if bias is not None:
                ctx.ledger.add("bias", _bias_relevance(g_z, bias, ctx.bias_dim))
        return g_z, None, None, None, None


class LayerNormIdentity(torch.autograd.Function):
    """``F.layer_norm`` with the standard deviation treated as a constant in backward."""

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps: float, ledger: Ledger | None):
        y = F.layer_norm(x, normalized_shape, weight, bias, eps)
        ctx.save_for_backward(x, weight, bias)
        ctx.normalized_shape = tuple(normalized_shape)
        ctx.eps = eps
        ctx.ledger = ledger
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        dims = tuple(range(-len(ctx.normalized_shape), 0))
        if ctx.ledger is not None and bias is not None:
            ctx.ledger.add("norm_bias", (g * bias.to(g.dtype)).sum())
        var = x.var(dim=dims, keepdim=True, unbiased=False)
        std = torch.sqrt(var + ctx.eps)
        gh = g * weight.to(g.dtype) if weight is not None else g
        gh = gh / std
        g_x = gh - gh.mean(dim=dims, keepdim=True)
        return g_x, None, None, None, None, None


class ConstantAffine(torch.autograd.Function):
    """``n * scale + shift`` with constant ``scale`` and ``shift`` (logged as absorbed)."""

    @staticmethod
    def forward(ctx, n, scale, shift, ledger: Ledger | None, key: str):
        ctx.save_for_backward(scale, shift)
        ctx.ledger = ledger
        ctx.key = key
        ctx.n_shape = n.shape
        return n * scale + shift

    @staticmethod
    def backward(ctx, g):
        scale, shift = ctx.saved_tensors
        if ctx.ledger is not None:
            ctx.ledger.add(ctx.key, (g * shift).sum())
        g_n = (g * scale).sum_to_size(ctx.n_shape)
        return g_n, None, None, None, None


def gelu_ratio(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """``gelu(x) / x`` evaluated without division (the Gaussian CDF)."""
    if approximate == "tanh":
        return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu_ratio(x: torch.Tensor) -> torch.Tensor:
    """``silu(x) / x`` (the logistic sigmoid)."""
    return torch.sigmoid(x)


class ActivationIdentity(torch.autograd.Function):
    """Element-wise activation with the identity rule: ``g_in = g_out * act(x) / x``."""

    @staticmethod
    def forward(ctx, x, fn: Callable, ratio: Callable):
        ctx.save_for_backward(x)
        ctx.ratio = ratio
        return fn(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.ratio(x), None, None


class UniformMatmul(torch.autograd.Function):
    """``a @ b`` with the uniform rule: each input-dependent factor gets half."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        factor = 0.5 if (need_a and need_b) else 1.0
        g_a = (factor * (g @ b.transpose(-2, -1))).sum_to_size(a.shape) if need_a else None
        g_b = (factor * (a.transpose(-2, -1) @ g)).sum_to_size(b.shape) if need_b else None
        return g_a, g_b


class SoftmaxTaylor(torch.autograd.Function):
    """Softmax over the last dimension with the AttnLRP rule (= the true gradient).

    Logs ``sum(s * g_s) - sum(x * g_x)`` (relevance not passed on) under ``softmax``.
    """

    @staticmethod
    def forward(ctx, x, ledger: Ledger | None):
        s = torch.softmax(x, dim=-1)
        ctx.save_for_backward(x, s)
        ctx.ledger = ledger
        return s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        gs = g * s
        g_x = gs - s * gs.sum(dim=-1, keepdim=True)
        if ctx.ledger is not None:
            finite = torch.isfinite(x)
            r_in = torch.where(finite, x * g_x, torch.zeros_like(g_x)).sum()
            ctx.ledger.add("softmax", gs.sum() - r_in)
        return g_x, None


def lrp_attention(
    rule: str,
    ledger: Ledger | None = None,
) -> Callable[..., torch.Tensor]:
    """An explicit ``scaled_dot_product_attention`` implementing an LRP attention rule.

    ``rule="cp"`` (CP-LRP, conservative propagation): the softmax attention weights are
    computed without gradient (detached), so relevance flows only through the values
    and ``A @ V`` is linear in ``V``.

    ``rule="attnlrp"``: ``q @ k^T`` and ``A @ V`` use the uniform rule, the softmax the
    AttnLRP Taylor rule. Additive float masks (Swin's shifted-window mask of -100)
    enter the logits as constants; their (tiny) share is logged with the softmax.

    The returned function takes ``query (..., L, E)``, ``key (..., S, E)``, ``value
    (..., S, Ev)``, an optional additive float ``attn_mask`` broadcastable to ``(..., L,
    S)`` and ``scale`` (default ``1 / sqrt(E)``), and returns ``(..., L, Ev)``: the calls
    Aurora's window and Perceiver attention make.

    Raises:
        ValueError: ``rule`` is not ``cp`` or ``attnlrp``; when called: attention
            drop-out, ``is_causal``, grouped-query attention or a boolean mask (none of
            which Aurora uses).
    """
    if rule not in ("cp", "attnlrp"):
        raise ValueError(f"attention_rule must be 'cp' or 'attnlrp', got {rule!r}")

    def attention(
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> torch.Tensor:
        if dropout_p:
            raise ValueError("LRP attention does not support attention drop-out (use eval mode)")
        if is_causal or enable_gqa:
            raise ValueError("LRP attention: is_causal and enable_gqa are not supported")
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            raise ValueError("LRP attention: boolean attention masks are not supported (pass an additive float mask)")
        s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
        bias = None if attn_mask is None else attn_mask.to(query.dtype)
        if rule == "cp":
            with torch.no_grad():
                logits = (query @ key.transpose(-2, -1)) * s
                if bias is not None:
                    logits = logits + bias
                weights = torch.softmax(logits, dim=-1)
            return weights @ value
        logits = UniformMatmul.apply(query, key.transpose(-2, -1)) * s
        if bias is not None:
            logits = logits + bias
        weights = SoftmaxTaylor.apply(logits, ledger)
        return UniformMatmul.apply(weights, value)

    return attention
