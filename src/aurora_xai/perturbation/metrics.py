"""Forecast degradation: region MSE, the relevant/random ratio with a bootstrap interval, AOPC.

* :func:`region_mse`: mean squared difference of a predicted field and a reference over
  the cells of the evaluation region (plain mean by default, as in the study; optionally
  weighted by exact cell areas, :func:`aurora_xai.grid.lat_weights`). Units: the variable's physical units squared, with mean
  sea-level pressure in hPa (:func:`physical_field`).
* :func:`bootstrap_ratio`: ``ratio = mse_relevant / mean(mse_random)``. The interval is
  a percentile bootstrap over the random draws (resampled with replacement): it is the
  uncertainty of the random baseline's mean; the relevant mask is deterministic given
  the relevance map, so it has no sampling error of its own. The interval therefore
  says how well the random baseline is known, not whether one mask of that size could
  be a random draw: a single random mask also gets an interval that excludes 1 when
  it happens to hit (or miss) sensitive cells. The experiment reports instead the rank
  interval and rank p of :mod:`~aurora_xai.perturbation.rank`, which take the top mask
  as one more draw.
* :func:`aopc`: area over the perturbation curve (Samek et al. 2017), here the mean
  degradation (MSE against the reference) over the list of mask fractions, each fraction
  weighted equally (an area in index space, not in ``p``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from aurora_xai.data.batch import select_field
from aurora_xai.grid import region_cell_weights
from aurora_xai.regions import Region

__all__ = [
    "UNIT_SCALES",
    "aopc",
    "aopc_ratio",
    "bootstrap_mean_ci",
    "bootstrap_ratio",
    "eval_weights",
    "physical_field",
    "region_mse",
]

#: Factor and unit label turning a variable into the units MSEs are reported in.
UNIT_SCALES: dict[str, tuple[float, str]] = {
    "msl": (0.01, "hPa"),
    "2t": (1.0, "K"),
    "10u": (1.0, "m s-1"),
    "10v": (1.0, "m s-1"),
    "z": (1.0 / 9.80665, "m (geopotential height)"),
    "u": (1.0, "m s-1"),
    "v": (1.0, "m s-1"),
    "t": (1.0, "K"),
    "q": (1000.0, "g kg-1"),
}


def physical_field(pred: Any, variable: str, level: float | None = None) -> torch.Tensor:
    """Predicted field ``(B, H, W)`` of a prediction batch in reporting units (float64)."""
    scale = UNIT_SCALES.get(variable, (1.0, ""))[0]
    return select_field(pred, variable, level).detach().to(torch.float64) * scale


def eval_weights(region: Region, lat: np.ndarray, lon: np.ndarray, area_weighted: bool = False) -> np.ndarray:
    """Weights ``(lat, lon)`` summing to 1 over the cells of ``region``.

    With ``area_weighted``, each cell counts by its exact area
    (:func:`aurora_xai.grid.lat_weights`), else all cells equally
    (:func:`aurora_xai.grid.region_cell_weights`).

    Raises:
        ValueError: if the region holds no cell of the grid.
    """
    return region_cell_weights(region, lat, lon, area_weighted, grid="prediction grid", key="evaluation region")


def region_mse(field: torch.Tensor, reference: torch.Tensor | np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``(field - reference)**2``: ``(B,)`` for ``field`` of shape ``(B, H, W)``."""
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float64), device=field.device)
    w = torch.as_tensor(weights, dtype=torch.float64, device=field.device)
    d = field.to(torch.float64) - ref
    return (d * d * w).sum(dim=(-2, -1)).cpu().numpy()


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: Sequence[float],
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    return _percentiles(v[idx].mean(axis=1), level)


def bootstrap_ratio(
    relevant: float,
    random: Sequence[float],
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """``(ratio, low, high)``: ``relevant / mean(random)`` and its bootstrap interval over draws.

    A zero random mean gives ``inf`` (or ``nan`` when ``relevant`` is zero too).
    """
    r = np.asarray(random, dtype=np.float64)
    if r.ndim != 1 or len(r) == 0:
        raise ValueError("bootstrap_ratio needs a 1-D array of at least one random MSE")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(relevant / r.mean())
        idx = rng.integers(0, len(r), size=(n_boot, len(r)))
        boot = relevant / r[idx].mean(axis=1)
    finite = boot[np.isfinite(boot)]
    if len(finite) < len(boot):
        return ratio, float("nan"), float("nan")
    lo, hi = _percentiles(finite, level)
    return ratio, lo, hi


def aopc(curve: Sequence[float]) -> float:
    """Mean degradation over the mask fractions (each fraction weighted equally)."""
    c = np.asarray(curve, dtype=np.float64)
    return float(c.mean())


def aopc_ratio(
    relevant: Sequence[float],
    random: Sequence[Sequence[float]],
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> tuple[float, float, float, float, float]:
    """AOPC of the relevant curve over that of the random mean, with a bootstrap interval.

    Args:
        relevant: MSE of the relevant mask per fraction ``(P,)``.
        random: MSE of the random draws per fraction ``(P, N)`` (resampled per fraction).

    Returns:
        ``(aopc_relevant, aopc_random, ratio, low, high)``.
    """
    rel = np.asarray(relevant, dtype=np.float64)
    rnd = np.asarray(random, dtype=np.float64)
    a_rel, a_rnd = aopc(rel), aopc(rnd.mean(axis=1))
    P, N = rnd.shape
    idx = rng.integers(0, N, size=(n_boot, P, N))
    boot_means = np.take_along_axis(np.broadcast_to(rnd, (n_boot, P, N)), idx, axis=2).mean(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = a_rel / a_rnd
        boot = a_rel / boot_means.mean(axis=1)
    if not np.all(np.isfinite(boot)):
        return a_rel, a_rnd, float(ratio), float("nan"), float("nan")
    lo, hi = _percentiles(boot, level)
    return a_rel, a_rnd, float(ratio), lo, hi
