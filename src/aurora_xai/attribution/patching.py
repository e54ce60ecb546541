"""Temporary restructuring of a model for LRP: the ``lrp_rules`` context manager.

Inside ``with lrp_rules(model, attention_rule=..., epsilon=...)`` a forward pass
computes the same outputs as the plain model (up to the rounding of the explicit
attention, which replaces the fused kernel), and ``torch.autograd.grad`` returns the
modified gradients of :mod:`aurora_xai.attribution.rules`; ``input * grad`` is the
relevance. The backward pass must run inside the block. Gradients are on inside the
block, also when it is entered under ``torch.no_grad()`` or ``torch.inference_mode()``
(tensors created under inference mode cannot be saved for backward: make the inputs
outside it, or see :mod:`aurora_xai.attribution.grad_mode`).

What is changed (per instance, never per class, except the one function below):

* every module the rule map (:mod:`aurora_xai.attribution.rule_maps`) gives a rule:
  its ``forward`` is replaced, or a forward hook passes its output through the rule;
* Aurora's ``AdaptiveLayerNorm``: ``forward`` -> layer norm times the time-conditioned
  scale plus shift, both computed without gradient and held constant
  (:class:`~aurora_xai.attribution.rules.ConstantAffine`); its inner layer norm keeps
  the map's rule;
* ``torch.nn.functional.scaled_dot_product_attention`` (the module attribute, which
  Aurora's ``WindowAttention`` and ``PerceiverAttention`` look up at call time as
  ``F.scaled_dot_product_attention``), unless the map leaves the attention alone:
  replaced by a dispatcher that runs the explicit LRP attention for calls from the
  thread that entered the block and the original function for any other thread;
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
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from aurora.model.film import AdaptiveLayerNorm
from torch import nn

from aurora_xai.attribution.grad_mode import gradients_enabled, ordinary_parameters
from aurora_xai.attribution.rule_maps import RuleMap, rule_map
from aurora_xai.attribution.rules import ConstantAffine, Ledger, lrp_attention

__all__ = ["checkpointed_backbone", "lrp_rules"]

# Serialises the replacement of the global attention function between blocks.
_SDPA_LOCK = threading.RLock()


class _Patcher:
    """Records every change so that it can be undone in reverse order."""

    _MISSING = object()

    def __init__(self) -> None:
        self._undo: list[Callable[[], Any]] = []

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

    def call(self, fn: Callable[[], Any]) -> None:
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


def _adaln_forward(module: AdaptiveLayerNorm, ledger: Ledger | None) -> Callable[..., torch.Tensor]:
    """``AdaptiveLayerNorm.forward`` with the modulation held constant (no gradient)."""

    def forward(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            cm = module.ln_modulation(c)
            if cm.ndim == 2:
                cm = cm.unsqueeze(1)
            shift, scale = cm.chunk(2, dim=-1)
            scale = module.scale_bias + scale
        return ConstantAffine.apply(module.ln(x), scale, shift, ledger, "modulation_shift")

    return forward


def _install_sdpa(patcher: _Patcher, attention: Callable[..., torch.Tensor]) -> None:
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

    patcher.set_module_attr(F, "scaled_dot_product_attention", dispatcher)


def _checkpoint_forward(module: nn.Module) -> Callable[..., Any]:
    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        return torch.utils.checkpoint.checkpoint(original, *args, use_reentrant=False, **kwargs)

    return forward


def _install_checkpointing(patcher: _Patcher, model: nn.Module) -> None:
    backbone = getattr(model, "backbone", None)
    stages = [*getattr(backbone, "encoder_layers", []), *getattr(backbone, "decoder_layers", [])]
    if not stages:
        raise ValueError("checkpointing=True needs a model with backbone encoder/decoder layers")
    for stage in stages:
        patcher.set_instance_attr(stage, "forward", _checkpoint_forward(stage))


@contextlib.contextmanager
def checkpointed_backbone(model: nn.Module) -> Iterator[nn.Module]:
    """Run each backbone stage under activation checkpointing (no LRP rules); gradients on.

    Raises:
        ValueError: the model has no ``backbone.encoder_layers`` / ``decoder_layers``.
    """
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
    attention_rule: str | RuleMap = "cp",
    epsilon: float = 1e-6,
    checkpointing: bool = False,
    ledger: Ledger | None = None,
) -> Iterator[Ledger]:
    """Install LRP rules in ``model`` for the duration of the block.

    Args:
        model: Any module; Aurora's specific modules are handled when present.
        attention_rule: A preset name of :data:`~aurora_xai.attribution.rule_maps.PRESETS`
            (``"cp"``, ``"attnlrp"``, ``"gradient"``) or a
            :class:`~aurora_xai.attribution.rule_maps.RuleMap`.
        epsilon: Stabiliser of the epsilon rule for linear and convolution layers.
        checkpointing: Run each backbone stage under activation checkpointing.
        ledger: Collects the relevance absorbed by constant terms; a new one when None.

    Gradients are on inside the block (also under ``torch.no_grad()`` /
    ``torch.inference_mode()``) and parameters that are inference tensors are replaced
    by ordinary copies until exit (:mod:`aurora_xai.attribution.grad_mode`).

    Yields:
        The :class:`~aurora_xai.attribution.rules.Ledger`.

    Raises:
        ValueError: an unknown preset name (naming the known ones), ``epsilon < 0``,
            ``checkpointing`` on a model without backbone stages.
        NotImplementedError: a module type the map marks as unsupported.
    """
    rules = rule_map(attention_rule)
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    ledger = Ledger() if ledger is None else ledger

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
            if isinstance(m, AdaptiveLayerNorm):
                patcher.set_instance_attr(m, "forward", _adaln_forward(m, ledger))
                continue
            rule = rules.rule_for(m)
            if rule is None:
                continue
            if rule.kind == "output":
                patcher.hook(m.register_forward_hook(rule.make(m, epsilon, ledger)))
            else:
                patcher.set_instance_attr(m, "forward", rule.make(m, epsilon, ledger))

        if checkpointing:
            _install_checkpointing(patcher, model)

        if rules.attention is not None:
            _install_sdpa(patcher, lrp_attention(rules.attention, ledger))
        yield ledger
    finally:
        patcher.restore()
