"""The masking relevance of the experiment: which scalar, which methods, which map.

For one case, :func:`relevance_target` is the scalar whose relevance decides the masks,
:func:`compute_relevances` its relevance per attribution method (precomputed LRP
reused), and :func:`masking_maps` the map ``(lat, lon)`` each method's top masks are cut
from: ``sum |R|`` over the chosen variables, levels and history steps
(:func:`~aurora_xai.perturbation.masks.relevance_map`), or, for the method ``random``,
a seeded uniform random map (a control whose ratio should be about 1; seed ``(seed,
"random_relevance")``).
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget

from .masks import random_relevance_map, relevance_map
from .settings import Case, PerturbationSettings

__all__ = ["compute_relevances", "masking_maps", "relevance_target"]

log = logging.getLogger(__name__)


def relevance_target(case: Case, kind: str = "forecast", layer: str = "backbone") -> ForecastTarget | LatentTarget:
    """The scalar whose relevance decides the masks.

    ``forecast`` (default): mean of the predicted ``case.variable`` over the target region
    (the quantity whose degradation is measured). ``latent``: mean of the latent tokens
    of ``layer`` over the target region (the study's LRP target).
    """
    if kind == "forecast":
        return ForecastTarget(case.variable, case.level, case.target_region)
    if kind == "latent":
        return LatentTarget(layer, case.target_region)
    raise ValueError(f"perturbation.relevance_target: expected forecast or latent, got {kind!r}")


def compute_relevances(
    model: torch.nn.Module,
    batch: Any,
    target: Any,
    methods: Sequence[str],
    precomputed: Mapping[str, xr.Dataset] | None = None,
    *,
    attention_rule: str,
    epsilon: float,
    ig_steps: int,
    checkpointing: bool | str = False,
) -> dict[str, xr.Dataset | None]:
    """Relevance datasets per method (``random`` maps to ``None``; ``precomputed`` reused).

    ``attention_rule`` and ``epsilon`` are LRP's, ``ig_steps`` integrated gradients'
    (see :class:`PerturbationSettings`; their defaults are the config schema's).
    ``checkpointing`` is the activation checkpointing of
    :func:`~aurora_xai.attribution.methods.compute_relevance` (``attribution.checkpointing``:
    less memory, the same relevance; at 0.25 deg LRP needs it to fit in tens of GB).
    """
    out: dict[str, xr.Dataset | None] = {}
    for method in methods:
        if precomputed and method in precomputed:
            out[method] = precomputed[method]
        elif method == "random":
            out[method] = None
        else:
            t0 = _time.perf_counter()
            out[method] = compute_relevance(
                model,
                batch,
                target,
                method=method,
                attention_rule=attention_rule,
                epsilon=epsilon,
                n_steps=ig_steps,
                checkpointing=checkpointing,
            )
            log.info("relevance %s in %.1f s", method, _time.perf_counter() - t0)
    return out


def masking_maps(
    relevances: Mapping[str, xr.Dataset | np.ndarray | None],
    shape: tuple[int, int],
    settings: PerturbationSettings,
) -> dict[str, np.ndarray]:
    """Masking relevance ``(lat, lon)`` per method (``None`` or ``random``: a seeded random map)."""
    out = {}
    for method, rel in relevances.items():
        if rel is None or method == "random":
            out[method] = random_relevance_map(shape, settings.seed)
        elif isinstance(rel, xr.Dataset):
            out[method] = relevance_map(
                rel, settings.relevance_variables, settings.relevance_levels, settings.relevance_history
            )
        else:
            out[method] = np.abs(np.asarray(rel, dtype=np.float64))
        if out[method].shape != tuple(shape):
            raise ValueError(f"relevance map of {method} has shape {out[method].shape}, the grid {shape}")
    return out
