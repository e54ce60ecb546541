"""Progress lines from inside one forward and backward pass through Aurora.

An LRP pass at 0.25 deg with the small architecture takes about ten minutes on a CPU
(a few for the forward pass, the rest for the backward pass), one pass per labelled
day. :func:`stage_progress` hooks the model's stages and logs when the forward pass
has finished each of them and when the backward pass reaches each of them, so that a
log shows where a long pass is; a pass that takes seconds logs nothing (a line is due
only once ``every_s`` seconds have passed since the pass began or since the last line).

The stages, in forward order, with the tap vocabulary's names
(:mod:`aurora_xai.latents.taps`): ``encoder`` (the Perceiver encoder),
``backbone.encoder.<k>``, ``backbone.decoder.<k>`` and ``decoder`` (the Perceiver
decoder). The hooks return nothing: outputs and gradients are untouched. Recomputation
under activation checkpointing (:mod:`aurora_xai.attribution.patching`) calls the
pieces' original ``forward`` methods, not the modules, so it reports nothing; a target
that ends the forward pass early (a latent target) reports the stages it ran.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import torch

from ..logs import duration_text

__all__ = ["stage_modules", "stage_progress"]

log = logging.getLogger(__name__)


def stage_modules(model: Any) -> list[tuple[str, torch.nn.Module]]:
    """``(name, module)`` of Aurora's stages in forward order (see the module docstring);
    those a model lacks (a model that is not Aurora's) are left out."""
    backbone = getattr(model, "backbone", None)
    encoder_layers = getattr(backbone, "encoder_layers", None) or []
    decoder_layers = getattr(backbone, "decoder_layers", None) or []
    stages = [
        ("encoder", getattr(model, "encoder", None)),
        *((f"backbone.encoder.{k}", m) for k, m in enumerate(encoder_layers)),
        *((f"backbone.decoder.{k}", m) for k, m in enumerate(decoder_layers)),
        ("decoder", getattr(model, "decoder", None)),
    ]
    return [(name, m) for name, m in stages if isinstance(m, torch.nn.Module)]


def _grad_tensors(out: Any) -> list[torch.Tensor]:
    """The tensors in a stage's output that take part in autograd (a tensor, tuple, list,
    dict, or an ``aurora.Batch``)."""
    if isinstance(out, torch.Tensor):
        return [out] if out.requires_grad else []
    if isinstance(out, (tuple, list)):
        items: Any = out
    elif isinstance(out, dict):
        items = out.values()
    elif hasattr(out, "surf_vars"):
        items = list(out.surf_vars.values()) + list(out.atmos_vars.values())
    else:
        return []
    return [t for item in items for t in _grad_tensors(item)]


@contextlib.contextmanager
def stage_progress(
    model: Any, what: str = "LRP", every_s: float = 30.0, logger: logging.Logger = log
) -> Iterator[list[tuple[str, str, float]]]:
    """Log the progress of one forward and backward pass through ``model``'s stages.

    Args:
        model: An Aurora model.
        what: The pass's name in the lines (``"LRP"``).
        every_s: A line is logged (INFO) for a stage event once this many seconds have
            passed since the pass began or since the previous line; other events are
            logged at DEBUG.
        logger: Where the lines go.

    Yields:
        The events so far, ``(phase, stage, seconds since the start)`` with phase
        ``"forward"`` (the stage's forward call returned) or ``"backward"`` (the
        gradient of the stage's output was computed), in the order they happened.
    """
    events: list[tuple[str, str, float]] = []
    start = time.perf_counter()
    last = [start]

    def report(phase: str, name: str) -> None:
        now = time.perf_counter()
        events.append((phase, name, now - start))
        due = now - last[0] >= every_s
        if due:
            last[0] = now
        verb = "finished" if phase == "forward" else "reached"
        logger.log(
            logging.INFO if due else logging.DEBUG,
            "%s %s pass %s %s after %s",
            what,
            phase,
            verb,
            name,
            duration_text(now - start),
        )

    def forward_hook(name: str):
        def hook(_module: Any, _inputs: Any, out: Any) -> None:
            report("forward", name)
            reached = [False]

            def on_grad(_grad: torch.Tensor) -> None:  # the first of the outputs' gradients
                if not reached[0]:
                    reached[0] = True
                    report("backward", name)

            for tensor in _grad_tensors(out):
                tensor.register_hook(on_grad)

        return hook

    handles = [module.register_forward_hook(forward_hook(name)) for name, module in stage_modules(model)]
    try:
        yield events
    finally:
        for handle in handles:
            handle.remove()
