"""Batched masked forecasts: many masked copies of one sample through the model at once.

``K`` masks turn one sample into a batch of ``K`` masked copies
(:func:`~aurora_xai.perturbation.apply.masked_batch`); ``batch_size`` copies go through
the model per forward pass, and the predicted field is returned in reporting units
(:func:`~aurora_xai.perturbation.metrics.physical_field`). Batched and one-at-a-time
passes give the same forecasts (``batch_size`` is an execution setting).

``perturbation.batch_size: auto`` sizes the batches from memory
(:func:`auto_batch_size`): the peak memory of one copy's forward pass, measured on the
model's device (:func:`aurora_xai.memory.peak_bytes`), against the memory available
there (:func:`aurora_xai.memory.available_bytes`) with a safety margin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from aurora_xai.memory import available_bytes
from aurora_xai.model import forecast_step, model_dtype

from .apply import masked_batch
from .metrics import physical_field, region_mse
from .settings import MaskFields

log = logging.getLogger(__name__)

#: A progress line after every forward pass that took at least this long (seconds):
#: passes of minutes at 0.25 deg are logged, the tiny model's sub-second ones are not.
PROGRESS_SECONDS = 10.0

__all__ = [
    "AUTO",
    "AUTO_MARGIN",
    "auto_batch_size",
    "cast_to_model",
    "memory_batch_size",
    "copy_input_bytes",
    "masked_fields",
    "masked_mse",
]

#: The ``perturbation.batch_size`` value that sizes batches from memory.
AUTO = "auto"
#: Fraction of the available memory the masked copies of one pass may take, per device
#: type (the CPU figure is lower: resident set size is a coarser measure than CUDA's
#: allocator, and other processes share the memory).
AUTO_MARGIN: dict[str, float] = {"cuda": 0.8, "cpu": 0.5}


def cast_to_model(model: torch.nn.Module, batch: Any, fill: Any) -> tuple[Any, Any]:
    """The sample and the fill batch cast to the model's dtype (:func:`~aurora_xai.model.model_dtype`)."""
    dt = model_dtype(model)
    return batch.type(dt), fill.type(dt)


def copy_input_bytes(batch: Any) -> int:
    """Bytes of one masked copy's inputs: the surface and atmospheric tensors of ``batch``
    (batch size 1; static fields are shared by all copies)."""
    tensors = list(batch.surf_vars.values()) + list(batch.atmos_vars.values())
    return int(sum(t.numel() * t.element_size() for t in tensors))


def auto_batch_size(
    per_copy_bytes: int,
    available_bytes: int,
    max_size: int,
    device_type: str = "cpu",
    margin: float | None = None,
) -> int:
    """Masked copies per forward pass that fit in memory.

    Args:
        per_copy_bytes: Peak memory of one copy: its forward pass's peak above the memory
            in use before it (:func:`aurora_xai.memory.peak_bytes`) plus its inputs
            (:func:`copy_input_bytes`).
        available_bytes: Memory still available on the device
            (:func:`aurora_xai.memory.available_bytes`).
        max_size: The most copies ever run together (larger batches gain nothing).
        device_type: ``cuda`` or ``cpu``: chooses the margin (:data:`AUTO_MARGIN`).
        margin: Fraction of ``available_bytes`` the copies may take (overrides the
            device type's).

    Returns:
        ``floor(margin * available_bytes / per_copy_bytes)``, clipped to ``[1, max_size]``.

    Raises:
        ValueError: ``max_size`` < 1 or ``margin`` outside ``(0, 1]``.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}")
    margin = AUTO_MARGIN.get(device_type, AUTO_MARGIN["cpu"]) if margin is None else float(margin)
    if not 0 < margin <= 1:
        raise ValueError(f"margin must lie in (0, 1], got {margin}")
    n = int(margin * max(0, available_bytes) // max(1, per_copy_bytes))
    return max(1, min(n, int(max_size)))


def memory_batch_size(
    per_copy_bytes: int,
    max_size: int,
    device: torch.device | str,
    key: str,
    what: str = "copies",
    logger: logging.Logger = log,
    available: int | None = None,
) -> int:
    """A ``batch_size: auto`` for the memory available on ``device`` now, logged.

    :func:`auto_batch_size` of ``per_copy_bytes`` against ``available`` bytes (None:
    :func:`aurora_xai.memory.available_bytes` now), with the device type's margin; the
    line on ``logger`` (the caller's) names the config ``key`` and says what a copy is
    (``what``).
    """
    dev = torch.device(device)
    free = available_bytes(dev) if available is None else int(available)
    n = auto_batch_size(per_copy_bytes, free, max_size, dev.type)
    logger.info(
        "%s auto: one copy peaks at %.3f GB on %s, %.3f GB available, margin %.0f %%: "
        "%d %s per forward pass (at most %d run together)",
        key,
        per_copy_bytes / 1e9,
        dev,
        free / 1e9,
        100 * AUTO_MARGIN.get(dev.type, AUTO_MARGIN["cpu"]),
        n,
        what,
        max_size,
    )
    return n


@torch.no_grad()
def history_step_hours(model: torch.nn.Module, history_hours: float | None) -> float:
    """Hours between a batch's history steps: ``history_hours`` if given, else the model's step.

    The batch does not carry its history interval; the workflow refuses one other than
    the model's forecast step unless ``dates.allow_history_mismatch`` (see
    :func:`aurora_xai.config.check_config`), so the model's step is the default.
    """
    if history_hours is not None:
        return float(history_hours)
    return forecast_step(model).total_seconds() / 3600


def masked_fields(
    model: torch.nn.Module,
    batch: Any,
    fill: Any,
    masks: np.ndarray,
    variable: str,
    level: float | None = None,
    fields: MaskFields | None = None,
    batch_size: int = 8,
    history_hours: float | None = None,
) -> torch.Tensor:
    """Predicted ``variable`` for every mask: ``(K, H, W)`` (reporting units, cropped grid).

    ``batch_size`` masked copies go through the model per forward pass; with
    ``batch_size=1`` each mask runs alone (the reference path). ``history_hours``: hours
    between the batch's history steps (``dates.history_hours``), which place the masked
    steps of ``fields.history``; ``None``: the model's forecast step (the same unless
    ``dates.allow_history_mismatch``).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    step = history_step_hours(model, history_hours)
    out = []
    for i in range(0, len(masks), batch_size):
        mb = masked_batch(batch, fill, masks[i : i + batch_size], fields, step)
        out.append(physical_field(model(mb), variable, level).cpu())
    return torch.cat(out)


def masked_mse(
    model: torch.nn.Module,
    batch: Any,
    fill: Any,
    masks: np.ndarray,
    variable: str,
    level: float | None,
    references: Mapping[str, np.ndarray],
    weights: np.ndarray,
    fields: MaskFields | None = None,
    batch_size: int = 8,
    history_hours: float | None = None,
) -> dict[str, np.ndarray]:
    """Region MSE of every masked forecast against each reference: ``{name: (K,)}``.

    ``history_hours`` as :func:`masked_fields`.
    """
    masks = np.asarray(masks, dtype=bool)
    out: dict[str, list[np.ndarray]] = {k: [] for k in references}
    for i in range(0, len(masks), batch_size):
        t0 = time.perf_counter()
        f = masked_fields(
            model, batch, fill, masks[i : i + batch_size], variable, level, fields, batch_size, history_hours
        )
        for k, ref in references.items():
            out[k].append(region_mse(f, ref, weights))
        took = time.perf_counter() - t0
        if took >= PROGRESS_SECONDS:
            done = min(i + batch_size, len(masks))
            log.info("masked forecasts %d/%d of this group (%.0f s per pass of %d)", done, len(masks), took, batch_size)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
