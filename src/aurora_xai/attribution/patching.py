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
* optionally, activation checkpointing at a level of :data:`CHECKPOINTING_LEVELS`
  (see below; recomputation happens in the backward pass, with the same rules).

Padding, rolls, window partition and reverse, patch merging/splitting index
operations, reshapes, concatenations, residual additions and multiplications by
constants are linear and need no rule in this formulation.

Everything is restored on exit, also when the block raises.

Activation checkpointing (``torch.utils.checkpoint``, non-reentrant) keeps only the
inputs of a checkpointed piece during the forward pass and recomputes the piece when
the backward pass reaches it. Levels, coarse to fine (:data:`CHECKPOINTING_LEVELS`, the
values of ``attribution.checkpointing``):

* ``none``;
* ``stage``: each backbone stage (``BasicLayer3D``: its Swin blocks and its patch
  merging or splitting) is one piece; the recomputation of a stage holds all its
  blocks' saved tensors at once;
* ``block``: each stage, and inside it each Swin block and each patch merging or
  splitting (nested pieces): the forward pass keeps the stage inputs, the
  recomputation of a stage keeps its blocks' inputs, that of a block its saved
  tensors (a block's forward runs three times);
* ``block+perceiver``: ``block``, and the Perceiver encoder is one piece (its patch
  embeddings and level aggregation are recomputed when the backward pass reaches
  them, at its end), inside which, as in the decoder, the Perceiver resamplers (level
  aggregation and de-aggregation) run in chunks of :data:`PERCEIVER_CHUNK_ROWS` rows
  (spatial patches), each chunk a piece, and the surface MLP is a piece. A resampler
  treats its rows independently, so the chunks compute what one call computes.

``True`` means the finest level, ``False`` ``none``. The relevance does not depend on
the level: a recomputation repeats the same operations on the same values (on a CPU
the relevance is bit-identical; the ledger's totals are sums in another order). The
recomputation may run in another thread than the one that entered the block (CUDA's
autograd runs the backward pass in a device thread): it is marked so that the
attention dispatcher gives it the LRP attention too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from aurora.model.film import AdaptiveLayerNorm
from aurora.model.perceiver import MLP as PerceiverMLP
from aurora.model.perceiver import PerceiverResampler
from aurora.model.swin3d import PatchMerging3D, PatchSplitting3D, Swin3DTransformerBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

from aurora_xai.attribution.grad_mode import gradients_enabled, ordinary_parameters
from aurora_xai.attribution.rule_maps import RuleMap, rule_map
from aurora_xai.attribution.rules import ConstantAffine, Ledger, lrp_attention

__all__ = [
    "CHECKPOINTING_LEVELS",
    "PERCEIVER_CHUNK_ROWS",
    "checkpointed_model",
    "checkpointing_level",
    "lrp_rules",
]

#: Activation-checkpointing levels, coarse to fine (``attribution.checkpointing``).
CHECKPOINTING_LEVELS: tuple[str, ...] = ("none", "stage", "block", "block+perceiver")

#: Rows (spatial patches) per chunk of the Perceiver resamplers at ``block+perceiver``:
#: 16 chunks at 0.25 deg (64 800 patches), one at 1 deg.
PERCEIVER_CHUNK_ROWS = 4096

# Serialises the replacement of the global attention function between blocks.
_SDPA_LOCK = threading.RLock()

# Marks a thread while it recomputes a checkpointed piece (see _install_sdpa).
_RECOMPUTING = threading.local()


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
    """Replace ``F.scaled_dot_product_attention`` by a per-thread dispatcher.

    The owner thread, and any thread while it recomputes a checkpointed piece, get
    ``attention``; other threads the original function.
    """
    _SDPA_LOCK.acquire()
    patcher.call(_SDPA_LOCK.release)
    original = F.scaled_dot_product_attention
    owner = threading.get_ident()

    @functools.wraps(original)
    def dispatcher(*args: Any, **kwargs: Any) -> torch.Tensor:
        if threading.get_ident() == owner or getattr(_RECOMPUTING, "depth", 0):
            return attention(*args, **kwargs)
        return original(*args, **kwargs)

    patcher.set_module_attr(F, "scaled_dot_product_attention", dispatcher)


def checkpointing_level(value: bool | str | None) -> str:
    """The level of :data:`CHECKPOINTING_LEVELS` that ``value`` names.

    ``True`` is the finest level (``block+perceiver``), ``False`` and ``None`` are
    ``none``; a level name is itself. The strings ``"true"`` and ``"false"`` (the
    config's booleans as a Snakemake resource carries them) are ``True`` and ``False``.

    Raises:
        ValueError: any other value, naming ``attribution.checkpointing`` and the levels.
    """
    if value is None or value is False or value == "false":
        return "none"
    if value is True or value == "true":
        return CHECKPOINTING_LEVELS[-1]
    if isinstance(value, str) and value in CHECKPOINTING_LEVELS:
        return value
    raise ValueError(f"attribution.checkpointing: expected true, false or one of {CHECKPOINTING_LEVELS}, got {value!r}")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - musl, macOS, Windows
        return None


def _release_free_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim(0)``).

    Tensors below glibc's mmap threshold (32 MB at most) live on the heap, whose freed
    pages stay resident; checkpointing frees and reallocates them piece by piece, so
    without this the resident memory grows far beyond the live tensors (8.9 GB against
    5.0 GB at 0.5 deg). Called where a piece on the CPU starts, in the forward pass and
    in the recomputation.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextlib.contextmanager
def _recomputing(on_cpu: bool) -> Iterator[None]:
    if on_cpu:
        _release_free_heap()
    depth = getattr(_RECOMPUTING, "depth", 0)
    _RECOMPUTING.depth = depth + 1
    try:
        yield
    finally:
        _RECOMPUTING.depth = depth


def _contexts(on_cpu: bool) -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """``checkpoint``'s ``context_fn``: nothing in the forward pass, the mark in the recomputation."""
    return contextlib.nullcontext(), _recomputing(on_cpu)


def _checkpointed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    on_cpu = any(torch.is_tensor(a) and a.device.type == "cpu" for a in (*args, *kwargs.values()))
    if on_cpu:
        _release_free_heap()
    context_fn = functools.partial(_contexts, on_cpu)
    return checkpoint(fn, *args, use_reentrant=False, context_fn=context_fn, **kwargs)


def _checkpoint_forward(module: nn.Module) -> Callable[..., Any]:
    """``module.forward`` as one checkpointed piece."""
    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        return _checkpointed(original, *args, **kwargs)

    return forward


def _chunked_rows_forward(module: nn.Module, rows: int) -> Callable[..., torch.Tensor]:
    """``PerceiverResampler.forward(latents (N, L1, D), x (N, L2, D))`` in checkpointed chunks of rows.

    The resampler's attention mixes tokens within a row only, its MLPs and layer norms
    act per token: the chunks compute what one call computes.
    """
    original = module.forward

    def forward(latents: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if latents.shape[0] != n:
            raise ValueError(f"Perceiver chunks: latents have {latents.shape[0]} rows, the context {n}")
        parts = [_checkpointed(original, latents[i : i + rows], x[i : i + rows]) for i in range(0, n, rows)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    return forward


def _checkpoint_pieces(model: nn.Module, level: str, rows: int) -> list[tuple[nn.Module, Callable[..., Any]]]:
    """The modules whose ``forward`` is replaced at ``level``, with their replacement."""
    if level == "none":
        return []
    backbone = getattr(model, "backbone", None)
    stages = [*getattr(backbone, "encoder_layers", []), *getattr(backbone, "decoder_layers", [])]
    if not stages:
        raise ValueError(
            f"attribution.checkpointing={level!r} needs a model with backbone encoder/decoder layers "
            f"(got {type(model).__name__})"
        )
    pieces = [(stage, _checkpoint_forward(stage)) for stage in stages]
    if level == "stage":
        return pieces
    pieces += [
        (m, _checkpoint_forward(m))
        for stage in stages
        for m in stage.modules()
        if isinstance(m, (Swin3DTransformerBlock, PatchMerging3D, PatchSplitting3D))
    ]
    if level == "block+perceiver":
        resamplers = [m for m in model.modules() if isinstance(m, PerceiverResampler)]
        pieces += [(m, _chunked_rows_forward(m, rows)) for m in resamplers]
        encoder = getattr(model, "encoder", None)
        if encoder is not None:
            pieces.append((encoder, _checkpoint_forward(encoder)))
            surf_mlp = getattr(encoder, "surf_mlp", None)
            if isinstance(surf_mlp, PerceiverMLP):
                pieces.append((surf_mlp, _checkpoint_forward(surf_mlp)))
    return pieces


def _install_checkpointing(patcher: _Patcher, model: nn.Module, level: bool | str | None, rows: int) -> None:
    if rows < 1:
        raise ValueError(f"Perceiver chunk rows must be >= 1, got {rows}")
    for module, forward in _checkpoint_pieces(model, checkpointing_level(level), rows):
        patcher.set_instance_attr(module, "forward", forward)


@contextlib.contextmanager
def checkpointed_model(
    model: nn.Module, level: bool | str = "block+perceiver", chunk_rows: int = PERCEIVER_CHUNK_ROWS
) -> Iterator[nn.Module]:
    """Run ``model`` under activation checkpointing at ``level`` (no LRP rules); gradients on.

    For the gradient methods; :func:`lrp_rules` takes the same levels. Restored on exit.

    Args:
        model: An Aurora model.
        level: A level of :data:`CHECKPOINTING_LEVELS`, ``True`` (the finest) or
            ``False`` (``none``).
        chunk_rows: Rows per Perceiver chunk (``block+perceiver``).

    Raises:
        ValueError: an unknown level (naming the levels), a level other than ``none``
            on a model without backbone stages, ``chunk_rows < 1``.
    """
    patcher = _Patcher()
    with gradients_enabled(), ordinary_parameters(model):
        try:
            _install_checkpointing(patcher, model, level, chunk_rows)
            yield model
        finally:
            patcher.restore()


@contextlib.contextmanager
def lrp_rules(
    model: nn.Module,
    attention_rule: str | RuleMap = "cp",
    epsilon: float = 1e-6,
    checkpointing: bool | str = "none",
    ledger: Ledger | None = None,
    chunk_rows: int = PERCEIVER_CHUNK_ROWS,
) -> Iterator[Ledger]:
    """Install LRP rules in ``model`` for the duration of the block.

    Args:
        model: Any module; Aurora's specific modules are handled when present.
        attention_rule: A preset name of :data:`~aurora_xai.attribution.rule_maps.PRESETS`
            (``"cp"``, ``"attnlrp"``, ``"gradient"``) or a
            :class:`~aurora_xai.attribution.rule_maps.RuleMap`.
        epsilon: Stabiliser of the epsilon rule for linear and convolution layers.
        checkpointing: Activation checkpointing: a level of :data:`CHECKPOINTING_LEVELS`
            (``none``, ``stage``, ``block``, ``block+perceiver``), ``True`` (the finest)
            or ``False``. Less memory, the same relevance.
        ledger: Collects the relevance absorbed by constant terms; a new one when None.
        chunk_rows: Rows per Perceiver chunk (``block+perceiver``).

    Gradients are on inside the block (also under ``torch.no_grad()`` /
    ``torch.inference_mode()``) and parameters that are inference tensors are replaced
    by ordinary copies until exit (:mod:`aurora_xai.attribution.grad_mode`).

    Yields:
        The :class:`~aurora_xai.attribution.rules.Ledger`.

    Raises:
        ValueError: an unknown preset name or checkpointing level (naming the known
            ones), ``epsilon < 0``, checkpointing on a model without backbone stages.
        NotImplementedError: a module type the map marks as unsupported.
    """
    rules = rule_map(attention_rule)
    level = checkpointing_level(checkpointing)
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

        _install_checkpointing(patcher, model, level, chunk_rows)

        if rules.attention is not None:
            _install_sdpa(patcher, lrp_attention(rules.attention, ledger))
        yield ledger
    finally:
        patcher.restore()
