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
stage whose token geometry applies. :func:`capture_latents` records one tap during
ordinary forward passes; :func:`record_taps` records several from one forward pass and
ends the pass after the deepest of them (the rest of the backbone, the decoder and the
forecast are not computed). Imports without torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = [
    "TAPS",
    "TapPoint",
    "TapRecorder",
    "capture_latents",
    "known_taps",
    "parse_tap",
    "record_taps",
    "resolve_tap",
    "tap_depth",
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


def tap_depth(tap: str, n_stages: int = AURORA_STAGES, key: str = "latents.tap") -> int:
    """Where ``tap`` is read in the forward pass: larger is later.

    0 for ``encoder``, ``k + 1`` for ``backbone.encoder.<k>``, ``n_stages`` for
    ``bottleneck`` (the same tokens as the last encoder stage), ``n_stages + 1`` for
    ``backbone``.

    Raises:
        ValueError: as :func:`parse_tap`.
    """
    stage = parse_tap(tap, n_stages, key)
    if tap == "encoder":
        return 0
    if tap == "backbone":
        return n_stages + 1
    return stage + 1


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


class _TapsRecorded(Exception):
    """Raised from the hook of the deepest requested tap to end the forward pass there."""


class TapRecorder:
    """Runs forward passes that record several taps (see :func:`record_taps`).

    Attributes:
        taps: The recorded taps, in the order given.
        points: Tap name -> :class:`TapPoint`.
        stop: Whether the forward pass ends at the deepest tap.
        forward_passes: Number of forward passes run so far.
    """

    def __init__(self, model: Any, taps: tuple[str, ...], points: dict[str, TapPoint], stop: bool) -> None:
        self.model = model
        self.taps = taps
        self.points = points
        self.stop = stop
        self.forward_passes = 0
        self._tokens: dict[str, Any] = {}

    def __call__(self, batch: Any) -> dict[str, Any]:
        """Run ``model(batch)`` and return the tokens ``(B, L, D)`` (detached) of every tap.

        With ``stop``, the pass ends right after the deepest tap's module: nothing after
        it runs, and the model's forecast is not returned.

        Raises:
            RuntimeError: if a tap was not reached by the forward pass.
        """
        self._tokens = {}
        self.forward_passes += 1
        try:
            self.model(batch)
        except _TapsRecorded:
            pass
        missing = [t for t in self.taps if t not in self._tokens]
        if missing:
            raise RuntimeError(f"the forward pass did not reach the taps {missing}")
        tokens, self._tokens = self._tokens, {}
        return tokens


@contextlib.contextmanager
def record_taps(model: Any, taps: Sequence[str], stop: bool = True, key: str = "latents.taps") -> Iterator[TapRecorder]:
    """Record several taps from one forward pass; optionally end the pass after the deepest.

    One forward hook per hooked module records the tokens of each tap read there
    (``bottleneck`` and the last ``backbone.encoder.<k>`` share a module). With
    ``stop``, the hook of the deepest tap (:func:`tap_depth`) raises an exception
    private to this module after recording, which :class:`TapRecorder` catches: the
    modules after it (the rest of the backbone, the Perceiver decoder, the forecast's
    unnormalisation) are not run. Hooks are removed on exit.

    Args:
        model: An Aurora model.
        taps: Tap names (duplicates are recorded once).
        stop: End each forward pass after the deepest tap.
        key: Config key named in errors.

    Yields:
        A :class:`TapRecorder`: ``recorder(batch)`` runs one pass and returns
        ``{tap: tokens}``.

    Raises:
        ValueError: for an unknown tap (naming ``key`` and the known taps) or no taps.
    """
    taps = tuple(dict.fromkeys(taps))
    if not taps:
        raise ValueError(f"{key}: no taps to record")
    n_stages = len(model.backbone.encoder_layers)
    points = {tap: resolve_tap(model, tap, key) for tap in taps}
    deepest = max(taps, key=lambda t: tap_depth(t, n_stages, key))
    by_module: dict[int, list[TapPoint]] = {}
    for point in points.values():
        by_module.setdefault(id(point.module), []).append(point)
    recorder = TapRecorder(model, taps, points, stop)
    handles = []

    def make_hook(group: list[TapPoint]) -> Callable[[Any, Any, Any], None]:
        last = stop and any(p.tap == deepest for p in group)

        def hook(_mod: Any, _inp: Any, out: Any) -> None:
            for p in group:
                recorder._tokens[p.tap] = p.read(out).detach()
            if last:
                raise _TapsRecorded

        return hook

    try:
        for group in by_module.values():
            handles.append(group[0].module.register_forward_hook(make_hook(group)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
