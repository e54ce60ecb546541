"""Rule maps: which LRP rule each module type gets, and the named presets.

A :class:`RuleMap` is data: an ordered tuple of ``(module types, layer rule)`` pairs,
of which the first whose types match a module (``isinstance``, so subclasses such as
Aurora's ``LinearPatchReconstruction`` match ``nn.Linear``) decides, plus the rule of
the attention function (``F.scaled_dot_product_attention``). Modules that match no
pair (containers, dropout, index operations) need no rule: in the gradient-times-input
form of :mod:`aurora_xai.attribution.rules` their ordinary backward is already right.

A layer rule turns a module into its rule primitive, either as a replacement
``forward`` (``kind == "forward"``) or as a forward hook on its output (``kind ==
"output"``, for layers whose own forward stays, such as convolutions);
:func:`aurora_xai.attribution.patching.lrp_rules` installs them for the duration of a
block.

Presets (:data:`PRESETS`, by name, the values of ``attribution.attention_rule``):

* ``cp``: CP-LRP, attention weights detached;
* ``attnlrp``: AttnLRP, uniform rule for the two attention products and the softmax
  Taylor rule;
* ``gradient``: attention left unpatched (crossed by its plain gradient, which does not
  conserve relevance; the published implementation's behaviour, for comparison only).

All three give the same layer rules (:data:`LAYER_RULES`); they differ in the attention.
To add a preset, add a :class:`RuleMap` to :data:`PRESETS`; to give a new module type a
rule, add a pair to a map's ``layers``.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from aurora.model.patchembed import LevelPatchEmbed
from torch import nn

from aurora_xai.attribution.rules import (
    ActivationIdentity,
    EpsilonGate,
    EpsilonLinear,
    LayerNormIdentity,
    Ledger,
    gelu_ratio,
    silu_ratio,
)

__all__ = [
    "ATTENTION_RULES",
    "EpsilonOutputRule",
    "EpsilonRule",
    "IdentityActivationRule",
    "IdentityNormRule",
    "LAYER_RULES",
    "LayerRule",
    "PRESETS",
    "RuleMap",
    "Unsupported",
    "gelu_ratio_of",
    "rule_map",
    "silu_ratio_of",
]

#: Rules of the attention function that :func:`~aurora_xai.attribution.rules.lrp_attention` implements.
ATTENTION_RULES = ("cp", "attnlrp")


class LayerRule(abc.ABC):
    """How one module propagates relevance.

    ``kind`` is ``"forward"`` when :meth:`make` returns a replacement ``forward`` of the
    module, ``"output"`` when it returns a forward hook ``hook(module, args, output)``
    that returns the output passed through a rule primitive.
    """

    kind: ClassVar[str]

    @abc.abstractmethod
    def make(self, module: nn.Module, epsilon: float, ledger: Ledger | None) -> Callable[..., Any]:
        """The replacement forward or the output hook of ``module``.

        Args:
            module: The module the rule is installed in.
            epsilon: Stabiliser of the epsilon rule (rules without one ignore it).
            ledger: Collects the relevance absorbed by constant terms, or None.
        """


@dataclasses.dataclass(frozen=True)
class EpsilonRule(LayerRule):
    """``nn.Linear``: epsilon rule (:class:`~aurora_xai.attribution.rules.EpsilonLinear`)."""

    kind: ClassVar[str] = "forward"

    def make(self, module: nn.Module, epsilon: float, ledger: Ledger | None) -> Callable[..., Any]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            return EpsilonLinear.apply(x, module.weight, module.bias, epsilon, ledger)

        return forward


@dataclasses.dataclass(frozen=True)
class IdentityNormRule(LayerRule):
    """``nn.LayerNorm``: identity rule, std held constant (:class:`~aurora_xai.attribution.rules.LayerNormIdentity`)."""

    kind: ClassVar[str] = "forward"

    def make(self, module: nn.Module, epsilon: float, ledger: Ledger | None) -> Callable[..., Any]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            return LayerNormIdentity.apply(x, module.normalized_shape, module.weight, module.bias, module.eps, ledger)

        return forward


def gelu_ratio_of(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``gelu(x) / x`` for an ``nn.GELU`` (its ``approximate`` setting)."""
    return functools.partial(gelu_ratio, approximate=module.approximate)


def silu_ratio_of(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``silu(x) / x`` for an ``nn.SiLU``."""
    return silu_ratio


@dataclasses.dataclass(frozen=True)
class IdentityActivationRule(LayerRule):
    """Element-wise activation: identity rule (:class:`~aurora_xai.attribution.rules.ActivationIdentity`).

    Args:
        ratio: Gives, for a module, the function ``act(x) / x`` evaluated without division.
    """

    ratio: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]]
    kind: ClassVar[str] = "forward"

    def make(self, module: nn.Module, epsilon: float, ledger: Ledger | None) -> Callable[..., Any]:
        original = type(module).forward.__get__(module)
        ratio = self.ratio(module)

        def forward(x: torch.Tensor) -> torch.Tensor:
            return ActivationIdentity.apply(x, original, ratio)

        return forward


@dataclasses.dataclass(frozen=True)
class EpsilonOutputRule(LayerRule):
    """A linear layer's output through the epsilon gate (:class:`~aurora_xai.attribution.rules.EpsilonGate`).

    For convolutions and Aurora's ``LevelPatchEmbed`` (a ``conv3d``): their forward stays,
    the gate rescales the gradient of the output; the module's ``bias`` (broadcast along
    ``bias_dim`` of the output) is logged as absorbed.
    """

    bias_dim: int
    kind: ClassVar[str] = "output"

    def make(self, module: nn.Module, epsilon: float, ledger: Ledger | None) -> Callable[..., Any]:
        bias_dim = self.bias_dim

        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
            if not torch.is_tensor(out) or not out.requires_grad:
                return out
            bias = getattr(module, "bias", None)
            bias = bias.detach() if torch.is_tensor(bias) else None
            return EpsilonGate.apply(out, epsilon, bias, bias_dim, ledger)

        return hook


@dataclasses.dataclass(frozen=True)
class Unsupported(LayerRule):
    """A module type no rule is written for: installing it raises ``NotImplementedError``."""

    kind: ClassVar[str] = "forward"

    def make(self, module: nn.Module, epsilon: float, ledger: Ledger | None) -> Callable[..., Any]:
        raise NotImplementedError(f"lrp_rules: no rule for {type(module).__name__}")


LayerRules = tuple[tuple[tuple[type, ...], LayerRule], ...]


@dataclasses.dataclass(frozen=True)
class RuleMap:
    """Which rule each module type gets, and the rule of the attention.

    Args:
        name: The preset's name (``attribution.attention_rule``).
        layers: ``(module types, rule)`` pairs; the first pair whose types match a
            module decides.
        attention: ``"cp"`` or ``"attnlrp"`` (the explicit attention of
            :func:`~aurora_xai.attribution.rules.lrp_attention`), or None to leave
            ``F.scaled_dot_product_attention`` alone.
        description: One line for readers.

    Raises:
        ValueError: an unknown ``attention``, or a pair that is not ``(types, LayerRule)``.
    """

    name: str
    layers: LayerRules
    attention: str | None
    description: str = ""

    def __post_init__(self) -> None:
        if self.attention is not None and self.attention not in ATTENTION_RULES:
            raise ValueError(
                f"RuleMap {self.name!r}: attention must be one of {ATTENTION_RULES} or None, got {self.attention!r}"
            )
        for pair in self.layers:
            types, rule = pair
            if not (isinstance(types, tuple) and types and all(isinstance(t, type) for t in types)):
                raise ValueError(f"RuleMap {self.name!r}: expected a tuple of module types, got {types!r}")
            if not isinstance(rule, LayerRule):
                raise ValueError(f"RuleMap {self.name!r}: expected a LayerRule for {types}, got {rule!r}")

    def rule_for(self, module: nn.Module) -> LayerRule | None:
        """The rule of ``module``: that of the first matching pair, None when none matches."""
        for types, rule in self.layers:
            if isinstance(module, types):
                return rule
        return None


#: The layer rules of every preset, in the order they are matched.
LAYER_RULES: LayerRules = (
    ((nn.Linear,), EpsilonRule()),
    ((nn.LayerNorm,), IdentityNormRule()),
    ((nn.GELU,), IdentityActivationRule(gelu_ratio_of)),
    ((nn.SiLU,), IdentityActivationRule(silu_ratio_of)),
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), EpsilonOutputRule(bias_dim=1)),
    ((LevelPatchEmbed,), EpsilonOutputRule(bias_dim=-1)),
    ((nn.MultiheadAttention, nn.Softmax, nn.BatchNorm1d, nn.BatchNorm2d), Unsupported()),
)

#: The named rule maps.
PRESETS: Mapping[str, RuleMap] = MappingProxyType(
    {
        "cp": RuleMap("cp", LAYER_RULES, "cp", "CP-LRP: attention weights detached, relevance through the values"),
        "attnlrp": RuleMap("attnlrp", LAYER_RULES, "attnlrp", "AttnLRP: uniform rule for q k^T and A V, softmax rule"),
        "gradient": RuleMap(
            "gradient", LAYER_RULES, None, "attention crossed by its plain gradient (not conservative; comparison only)"
        ),
    }
)


def rule_map(name: str | RuleMap) -> RuleMap:
    """The preset named ``name`` (a :class:`RuleMap` is returned as it is).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if isinstance(name, RuleMap):
        return name
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"attention_rule must be one of {tuple(PRESETS)}, got {name!r}") from None
