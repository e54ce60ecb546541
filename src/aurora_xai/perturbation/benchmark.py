"""Throughput of batched masked forecasts against one mask per forward pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..benchmark import timed
from .apply import normalisation_fill
from .forward import cast_to_model, masked_fields
from .settings import MaskFields

__all__ = ["benchmark_batched_masks"]


def benchmark_batched_masks(
    model: torch.nn.Module,
    batch: Any,
    masks: np.ndarray,
    batch_size: int,
    fill: Any | None = None,
    variable: str = "msl",
    fields: MaskFields | None = None,
    repeats: int = 3,
) -> dict[str, Any]:
    """Throughput (masks per second) of batched masked forecasts against one mask per pass.

    Both paths build the masked batches and run the model on every mask, after one
    warm-up pass of each. The two paths alternate ``repeats`` times and the median time
    of each is reported (robust to other load on the machine); ``fill`` defaults to the
    normalisation locations.

    Returns:
        ``n_masks``, ``batch_size``, ``device``, ``repeats``, ``single_s`` and
        ``batched_s`` (median seconds for all masks), ``masks_per_s_single``,
        ``masks_per_s_batched`` and ``speedup`` (single time / batched time).
    """
    if fill is None:
        fill = normalisation_fill(batch, getattr(model, "surf_stats", None))
    batch, fill = cast_to_model(model, batch, fill)
    masks = np.asarray(masks, dtype=bool)
    device = next(model.parameters()).device

    def run(bs: int) -> float:
        return timed(lambda: masked_fields(model, batch, fill, masks, variable, None, fields, bs), device)[1]

    masked_fields(model, batch, fill, masks[:1], variable, None, fields, 1)  # warm-up
    masked_fields(model, batch, fill, masks[:batch_size], variable, None, fields, batch_size)
    singles, batched = [], []
    for _ in range(max(1, repeats)):
        singles.append(run(1))
        batched.append(run(batch_size))
    t_single, t_batched = float(np.median(singles)), float(np.median(batched))
    k = len(masks)
    return {
        "n_masks": k,
        "batch_size": int(batch_size),
        "device": str(device),
        "repeats": int(max(1, repeats)),
        "single_s": t_single,
        "batched_s": t_batched,
        "masks_per_s_single": k / t_single,
        "masks_per_s_batched": k / t_batched,
        "speedup": t_single / t_batched,
    }
