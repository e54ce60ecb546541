"""The tap vocabulary: where inside Aurora latent tokens are read.

One set of names, used by the extraction (``latents.tap``) and by latent attribution
targets (``attribution.latent_layer``, ``perturbation.latent_layer``) alike:

* ``encoder``: the Perceiver encoder output, the backbone input (stage 0 resolution);
* ``backbone.encoder.<k>``: the output of backbone encoder stage ``k`` before its
  down-sampling (stage ``k`` resolution; ``k`` from 0 to the number of stages - 1);
* ``bottleneck``: the deepest encoder stage (the last ``backbone.encoder.<k>``);
* ``backbone``: the backbone output, after the U-Net decoder and the concatenation with
  the first skip (stage 0 resolution, channels doubled; the published study's choice).

:func:`resolve_tap` maps a name to the module to hook, the read of its output and the
stage whose token geometry applies. Imports without torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "TAPS",
    "TapPoint",
    "capture_latents",
    "known_taps",
    "parse_tap",
    "resolve_tap",
    "tap_names",
]

#: Number of backbone encoder stages of every Aurora model (encoder depths of length 3).
AURORA_STAGES = 3


def known_taps(n_stages: int = AURORA_STAGES) -> tuple[str, ...]:
    """Tap names of a backbone with ``n_stages`` encoder stages, shallow to deep."""
    return ("encoder", *(f"backbone.encoder.{k}" for k in range(n_stages)), "bottleneck", "backbone")


#: The tap names of Aurora's models (three encoder stages): the values of ``latents.tap``.
TAPS = known_taps()


def tap_names(model: Any) -> tuple[str, ...]:
    """Tap names valid for ``model`` (its number of backbone encoder stages)."""
    return known_taps(len(model.backbone.encoder_layers))


def parse_tap(tap: str, n_stages: int = AURORA_STAGES, key: str = "latents.tap") -> int:
    """The backbone stage whose token geometry applies at ``tap``.

    Args:
        tap: A tap name.
        n_stages: Encoder stages of the model.
        key: Config key or argument named in the error.

    Returns:
        0 for ``encoder`` and ``backbone``, ``k`` for ``backbone.encoder.<k>``,
        ``n_stages - 1`` for ``bottleneck``.

    Raises:
        ValueError: naming ``key`` and the known taps, for any other name.
    """
    names = known_taps(n_stages)
    if tap not in names:
        raise ValueError(f"{key}: unknown tap {tap!r}; known taps: {', '.join(names)}")
    if tap in ("encoder", "backbone"):
        return 0
    if tap == "bottleneck":
        return n_stages - 1
    return int(tap.rsplit(".", 1)[1])  # backbone.encoder.<k>


def _stage_output(out: Any) -> Any:
    """Aurora's encoder stages return ``(downsampled, before down-sampling)`` or ``(x, None)``."""
    if isinstance(out, tuple):
        return out[1] if out[1] is not None else out[0]
    return out


def _identity(out: Any) -> Any:
    return out


@dataclasses.dataclass(frozen=True)
class TapPoint:
    """Where a tap reads the model.

    Attributes:
        tap: The tap name.
        module: The module whose forward output holds the tokens.
        stage: Backbone stage whose token resolution and geometry apply.
        read: Maps the module's output to the tokens ``(B, L, D)``.
    """

    tap: str
    module: Any
    stage: int
    read: Callable[[Any], Any]


def resolve_tap(model: Any, tap: str, key: str = "latents.tap") -> TapPoint:
    """The module, output read and stage of ``tap`` in an Aurora ``model``.

    Raises:
        ValueError: naming ``key`` and the model's known taps, for an unknown name.
    """
    n_stages = len(model.backbone.encoder_layers)
    stage = parse_tap(tap, n_stages, key)
    if tap == "encoder":
        return TapPoint(tap, model.encoder, stage, _identity)
    if tap == "backbone":
        return TapPoint(tap, model.backbone, stage, _identity)
    return TapPoint(tap, model.backbone.encoder_layers[stage], stage, _stage_output)


@contextlib.contextmanager
def capture_latents(model: Any, tap: str) -> Iterator[dict[str, object]]:
    """Record the tokens at ``tap`` during forward passes inside the block.

    Yields a dict that, after a forward pass, holds ``tokens`` (``(B, L, D)`` tensor,
    detached) and ``stage`` (the encoder stage whose resolution applies). The hook is
    removed on exit.

    Raises:
        ValueError: for an unknown tap (naming ``latents.tap`` and the known taps).
    """
    point = resolve_tap(model, tap)
    box: dict[str, object] = {}

    def hook(_mod: Any, _inp: Any, out: Any) -> None:
        box["tokens"] = point.read(out).detach()
        box["stage"] = point.stage

    handle = point.module.register_forward_hook(hook)
    try:
        yield box
    finally:
        handle.remove()
