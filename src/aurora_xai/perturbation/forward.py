"""Batched masked forecasts: many masked copies of one sample through the model at once.

``K`` masks turn one sample into a batch of ``K`` masked copies
(:func:`~aurora_xai.perturbation.apply.masked_batch`); ``batch_size`` copies go through
the model per forward pass, and the predicted field is returned in reporting units
(:func:`~aurora_xai.perturbation.metrics.physical_field`). Batched and one-at-a-time
passes give the same forecasts (``batch_size`` is an execution setting).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from aurora_xai.model import forecast_step, model_dtype

from .apply import masked_batch
from .metrics import physical_field, region_mse
from .settings import MaskFields

__all__ = ["cast_to_model", "masked_fields", "masked_mse"]


def cast_to_model(model: torch.nn.Module, batch: Any, fill: Any) -> tuple[Any, Any]:
    """The sample and the fill batch cast to the model's dtype (:func:`~aurora_xai.model.model_dtype`)."""
    dt = model_dtype(model)
    return batch.type(dt), fill.type(dt)


@torch.no_grad()
def masked_fields(
    model: torch.nn.Module,
    batch: Any,
    fill: Any,
    masks: np.ndarray,
    variable: str,
    level: float | None = None,
    fields: MaskFields | None = None,
    batch_size: int = 8,
) -> torch.Tensor:
    """Predicted ``variable`` for every mask: ``(K, H, W)`` (reporting units, cropped grid).

    ``batch_size`` masked copies go through the model per forward pass; with
    ``batch_size=1`` each mask runs alone (the reference path).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    step = forecast_step(model).total_seconds() / 3600
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
) -> dict[str, np.ndarray]:
    """Region MSE of every masked forecast against each reference: ``{name: (K,)}``."""
    masks = np.asarray(masks, dtype=bool)
    out: dict[str, list[np.ndarray]] = {k: [] for k in references}
    for i in range(0, len(masks), batch_size):
        f = masked_fields(model, batch, fill, masks[i : i + batch_size], variable, level, fields, batch_size)
        for k, ref in references.items():
            out[k].append(region_mse(f, ref, weights))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
