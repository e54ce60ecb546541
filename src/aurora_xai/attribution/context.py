"""The ``lrp_rules`` context manager: temporarily install LRP rules in a model.

Inside ``with lrp_rules(model, attention_rule=..., epsilon=...)`` a forward pass
computes the same outputs as the plain model (up to the rounding of the explicit
attention, which replaces the fused kernel), and ``torch.autograd.grad`` returns the
modified gradients of :mod:`aurora_xai.attribution.rules`; ``input * grad`` is the
relevance. The backward pass must run inside the block. Gradients are on inside the
block, also when it is entered under ``torch.no_grad()`` or ``torch.inference_mode()``
(tensors created under inference mode cannot be saved for backward: make the inputs
outside it, or see :mod:`aurora_xai.attribution.grad_mode`).

What is patched (per instance, never per class, except the one function below):

* ``nn.Linear`` (and subclasses such as Aurora's ``LinearPatchReconstruction``):
  ``forward`` -> epsilon rule;
* convolutions and Aurora's ``LevelPatchEmbed`` (a ``conv3d``): a forward hook adds the
  epsilon gate to the output;
* ``nn.LayerNorm``: ``forward`` -> identity rule (std detached);
* Aurora's ``AdaptiveLayerNorm``: ``forward`` -> identity-rule norm times the
  time-conditioned scale plus shift, both held constant;
* ``nn.GELU`` / ``nn.SiLU``: ``forward`` -> identity rule;
* ``torch.nn.functional.scaled_dot_product_attention`` (the module attribute, which
  Aurora's ``WindowAttention`` and ``PerceiverAttention`` look up at call time as
  ``F.scaled_dot_product_attention``): replaced by a dispatcher that runs the explicit
  LRP attention for calls from the thread that entered the block and the original
  function for any other thread;
* ``use_fp16_safe_attention`` flags are switched off (they would bypass the function);
* all parameters get ``requires_grad=False`` (so that "requires grad" means "depends
  on the input", which the uniform product rule uses) and all modules are put in eval
  mode;
* optionally (``checkpointing=True``) each backbone stage runs under
  ``torch.utils.checkpoint`` (non-reentrant; recomputation happens in the backward,
  inside the block, with the same rules).

Padding, rolls, window partition and reverse, patch merging/splitting index
operations, reshapes, concatenations, residual additions and multiplications by
constants are linear and need no rule in this formulation.

Everything is restored on exit, also when the block raises.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aurora_xai.attribution.grad_mode import gradients_enabled, ordinary_parameters
from aurora_xai.attribution.rules import (
    ActivationIdentity,
    ConstantAffine,
    EpsilonGate,
    EpsilonLinear,
    LayerNormIdentity,
    Ledger,
    gelu_ratio,
    lrp_attention,
    silu_ratio,
)

__all__ = ["ATTENTION_RULES", "checkpointed_backbone", "lrp_rules"]

#: ``cp`` and ``attnlrp`` are LRP rules of the attention; ``gradient`` leaves
#: ``scaled_dot_product_attention`` unpatched, so relevance crosses the attention by its
#: plain gradient: the published implementation's behaviour, kept for comparison only
#: (it does not conserve relevance).
ATTENTION_RULES = ("cp", "attnlrp", "gradient")

# Serialises the replacement of the global attention function between blocks.
_SDPA_LOCK = threading.RLock()
_SDPA_STATE = threading.local()


def _aurora_types() -> dict[str, type]:
    """Aurora classes that need rules, resolved lazily (aurora is an optional import)."""
    out: dict[str, type] = {}
    try:
        from aurora.model.film import AdaptiveLayerNorm
        from aurora.model.patchembed import LevelPatchEmbed

        out["AdaptiveLayerNorm"] = AdaptiveLayerNorm
        out["LevelPatchEmbed"] = LevelPatchEmbed
    except ImportError:  # pragma: no cover - aurora is installed in this project
        pass
    return out


class _Patcher:
    """Records every change so that it can be undone in reverse order."""

    _MISSING = object()

    def __init__(self) -> None:
        self._undo: list[Any] = []

    def set_instance_attr(self, obj: Any, name: str, value: Any) -> None:
        old = obj.__dict__.get(name, self._MISSING)
        obj.__dict__[name] = value

        def undo() -> None:
            if old is self._MISSING:
                obj.__dict__.pop(name, None)
            else:
                obj.__dict__[name] = old

        self._undo.append(undo)

    def set_module_attr(self, mod: Any, name: str, value: Any) -> None:
        old = getattr(mod, name)
        setattr(mod, name, value)
        self._undo.append(lambda: setattr(mod, name, old))

    def hook(self, handle: Any) -> None:
        self._undo.append(handle.remove)

    def call(self, fn: Any) -> None:
        self._undo.append(fn)

    def restore(self) -> None:
        errors = []
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception as e:  # pragma: no cover - keep undoing the rest
                errors.append(e)
        if errors:  # pragma: no cover
            raise RuntimeError(f"lrp_rules: {len(errors)} changes could not be undone: {errors}")


def _linear_forward(module: nn.Linear, eps: float, ledger: Ledger | None):
    def forward(x: torch.Tensor) -> torch.Tensor:
        return EpsilonLinear.apply(x, module.weight, module.bias, eps, ledger)

    return forward


def _layernorm_forward(module: nn.LayerNorm, ledger: Ledger | None):
    def forward(x: torch.Tensor) -> torch.Tensor:
        return LayerNormIdentity.apply(x, module.normalized_shape, module.weight, module.bias, module.eps, ledger)

    return forward


def _adaln_forward(module: nn.Module, ledger: Ledger | None):
    def forward(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            cm = module.ln_modulation(c)
            if cm.ndim == 2:
                cm = cm.unsqueeze(1)
            shift, scale = cm.chunk(2, dim=-1)
            scale = module.scale_bias + scale
        return ConstantAffine.apply(module.ln(x), scale, shift, ledger, "modulation_shift")

    return forward


def _activation_forward(module: nn.Module):
    original = type(module).forward.__get__(module)
    if isinstance(module, nn.GELU):
        approximate = module.approximate
        ratio = functools.partial(gelu_ratio, approximate=approximate)
    else:
        ratio = silu_ratio

    def forward(x: torch.Tensor) -> torch.Tensor:
        return ActivationIdentity.apply(x, original, ratio)

    return forward


def _gate_hook(eps: float, ledger: Ledger | None, bias_attr: str, bias_dim: int):
    def hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(out) or not out.requires_grad:
            return out
        bias = getattr(module, bias_attr, None)
        bias = bias.detach() if torch.is_tensor(bias) else None
        return EpsilonGate.apply(out, eps, bias, bias_dim, ledger)

    return hook


def _install_sdpa(patcher: _Patcher, attention) -> None:
    """Replace ``F.scaled_dot_product_attention`` by a per-thread dispatcher."""
    _SDPA_LOCK.acquire()
    patcher.call(_SDPA_LOCK.release)
    original = F.scaled_dot_product_attention
    owner = threading.get_ident()

    @functools.wraps(original)
    def dispatcher(*args: Any, **kwargs: Any) -> torch.Tensor:
        if threading.get_ident() == owner:
            return attention(*args, **kwargs)
        return original(*args, **kwargs)

    dispatcher.__lrp_dispatcher__ = True  # type: ignore[attr-defined]
    patcher.set_module_attr(F, "scaled_dot_product_attention", dispatcher)


def _checkpoint_forward(module: nn.Module):
    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        return torch.utils.checkpoint.checkpoint(original, *args, use_reentrant=False, **kwargs)

    return forward


def _backbone_stages(model: nn.Module) -> list[nn.Module]:
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return []
    stages: list[nn.Module] = []
    for name in ("encoder_layers", "decoder_layers"):
        stages.extend(getattr(backbone, name, []))
    return stages


def _install_checkpointing(patcher: _Patcher, model: nn.Module) -> None:
    stages = _backbone_stages(model)
    if not stages:
        raise ValueError("checkpointing=True needs a model with backbone encoder/decoder layers")
    for stage in stages:
        patcher.set_instance_attr(stage, "forward", _checkpoint_forward(stage))


@contextlib.contextmanager
def checkpointed_backbone(model: nn.Module) -> Iterator[nn.Module]:
    """Run each backbone stage under activation checkpointing (no LRP rules); gradients on."""
    patcher = _Patcher()
    with gradients_enabled(), ordinary_parameters(model):
        try:
            _install_checkpointing(patcher, model)
            yield model
        finally:
            patcher.restore()


@contextlib.contextmanager
def lrp_rules(
    model: nn.Module,
    attention_rule: str = "cp",
    epsilon: float = 1e-6,
    checkpointing: bool = False,
    ledger: Ledger | None = None,
) -> Iterator[Ledger]:
    """Install LRP rules in ``model`` for the duration of the block.

    Args:
        model: Any module; Aurora's specific modules are handled when present.
        attention_rule: ``"cp"`` (attention weights detached) or ``"attnlrp"``.
        epsilon: Stabiliser of the epsilon rule for linear and convolution layers.
        checkpointing: Run each backbone stage under activation checkpointing.
        ledger: Collects the relevance absorbed by constant terms; a new one when None.

    Gradients are on inside the block (also under ``torch.no_grad()`` /
    ``torch.inference_mode()``) and parameters that are inference tensors are replaced
    by ordinary copies until exit (:mod:`aurora_xai.attribution.grad_mode`).

    Yields:
        The :class:`~aurora_xai.attribution.rules.Ledger`.
    """
    if attention_rule not in ATTENTION_RULES:
        raise ValueError(f"attention_rule must be one of {ATTENTION_RULES}, got {attention_rule!r}")
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    ledger = Ledger() if ledger is None else ledger
    aurora_types = _aurora_types()
    adaln_type = aurora_types.get("AdaptiveLayerNorm")
    patch_embed_type = aurora_types.get("LevelPatchEmbed")

    patcher = _Patcher()
    stack = contextlib.ExitStack()
    patcher.call(stack.close)
    try:
        stack.enter_context(gradients_enabled())
        stack.enter_context(ordinary_parameters(model))
        # Parameters are constants; training flags off.
        for p in model.parameters():
            if p.requires_grad:
                p.requires_grad_(False)
                patcher.call(functools.partial(p.requires_grad_, True))
        for m in model.modules():
            if m.training:
                m.training = False
                patcher.call(functools.partial(setattr, m, "training", True))

        for m in model.modules():
            if getattr(m, "use_fp16_safe_attention", False):
                patcher.set_instance_attr(m, "use_fp16_safe_attention", False)
            if isinstance(m, nn.Linear):
                patcher.set_instance_attr(m, "forward", _linear_forward(m, epsilon, ledger))
            elif isinstance(m, nn.LayerNorm):
                patcher.set_instance_attr(m, "forward", _layernorm_forward(m, ledger))
            elif isinstance(m, (nn.GELU, nn.SiLU)):
                patcher.set_instance_attr(m, "forward", _activation_forward(m))
            elif adaln_type is not None and isinstance(m, adaln_type):
                patcher.set_instance_attr(m, "forward", _adaln_forward(m, ledger))
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                patcher.hook(m.register_forward_hook(_gate_hook(epsilon, ledger, "bias", 1)))
            elif patch_embed_type is not None and isinstance(m, patch_embed_type):
                patcher.hook(m.register_forward_hook(_gate_hook(epsilon, ledger, "bias", -1)))
            elif isinstance(m, (nn.MultiheadAttention, nn.Softmax, nn.BatchNorm1d, nn.BatchNorm2d)):
                raise NotImplementedError(f"lrp_rules: no rule for {type(m).__name__}")

        if checkpointing:
            _install_checkpointing(patcher, model)

        if attention_rule != "gradient":
            _install_sdpa(patcher, lrp_attention(attention_rule, ledger))
        yield ledger
    finally:
        patcher.restore()
