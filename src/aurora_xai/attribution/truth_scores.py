"""Attribution against the known answer: F's exact attribution in the relevance's layout.

The synthetic store's driven fields follow a known 6-hourly map F
(:mod:`aurora_xai.truth`). For a forecast target on a driven field, F's exact attribution
(:func:`aurora_xai.truth.exact_attribution`) is the right answer a model that has learned
F should reproduce. This module puts it in the layout of
:func:`~aurora_xai.attribution.methods.compute_relevance` (Aurora's variable names,
history in hours, every input variable of the relevance, zero where F reads nothing) and
scores methods against it with :func:`~aurora_xai.attribution.agreement.agreement_scores`.

Baseline. The methods attribute the normalised inputs ``x_n = (x - location) / scale``:
input x gradient and LRP decompose the target relative to ``x_n = 0``, integrated
gradients start from ``x_n = 0`` (``baseline: zero``). The truth is therefore taken
relative to the same point, Aurora's normalisation locations
(:func:`normalisation_baseline`): for F's linear part it is then exactly what input x
gradient gives for a model that computes F. The output's units do not matter to the
scores (Spearman, cosine and the shares are invariant to a positive factor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from aurora_xai.data.dynamics import DRIVEN
from aurora_xai.data.variables import WB2_NAMES
from aurora_xai.model import normalisation_stats

__all__ = [
    "aurora_name",
    "identity_part",
    "normalisation_baseline",
    "truth_in_normalised_units",
    "truth_in_relevance_layout",
]


def aurora_name(store_name: str) -> str:
    """Aurora's short name of a surface or atmospheric store variable.

    Raises:
        KeyError: the store variable is not one of Aurora's.
    """
    for kind in ("surf", "atmos"):
        for short, long in WB2_NAMES[kind].items():
            if long == store_name:
                return short
    raise KeyError(f"{store_name!r} is not a surface or atmospheric variable of Aurora")


def normalisation_baseline(
    shape: tuple[int, int], surf_stats: Mapping[str, tuple[float, float]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline inputs ``(prev0, now0)`` of the driven fields at Aurora's normalisation locations.

    Args:
        shape: ``(lat, lon)`` of the grid.
        surf_stats: The model's own surface statistics, where it has them.

    Returns:
        Two ``(4, lat, lon)`` float64 arrays (driven fields in
        :data:`~aurora_xai.data.dynamics.DRIVEN` order), equal for both history steps.
    """
    base = np.stack(
        [
            np.full(shape, normalisation_stats(aurora_name(name), level, surf_stats)[0], dtype=np.float64)
            for name, level in DRIVEN
        ]
    )
    return base, base.copy()


def truth_in_relevance_layout(truth: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """F's exact attribution ``truth`` in the layout of the relevance map ``like``.

    Every variable of ``like`` gets an array of its shape: the truth where F reads that
    variable (store names mapped to Aurora's), exactly zero elsewhere (other variables,
    levels, static fields). The history steps are matched oldest first; the grid must be
    the same.

    Raises:
        ValueError: the grids differ, or the numbers of history steps differ.
    """
    for dim in ("latitude", "longitude"):
        if truth.sizes[dim] != like.sizes[dim] or not np.allclose(truth[dim].values, like[dim].values):
            raise ValueError(f"truth_in_relevance_layout: the {dim} of the truth and the relevance differ")
    if "history" in like.dims and truth.sizes["history"] != like.sizes["history"]:
        raise ValueError(
            f"truth_in_relevance_layout: the truth has {truth.sizes['history']} history steps, "
            f"the relevance {like.sizes['history']}"
        )
    by_short = {aurora_name(name): name for name in truth.data_vars}
    out: dict[str, Any] = {}
    for name, da in like.data_vars.items():
        values = np.zeros(da.shape, dtype=np.float64)
        store = by_short.get(name) if not name.startswith("static_") else None
        if store is not None:
            src = truth[store]
            if "level" in da.dims:
                for k, lev in enumerate(da["level"].values):
                    if float(lev) in [float(v) for v in src["level"].values]:
                        sel = src.sel(
                            level=src["level"].values[[float(v) for v in src["level"].values].index(float(lev))]
                        )
                        values[:, k] = sel.transpose("history", "latitude", "longitude").values
            else:
                values[:] = src.transpose(*[d for d in da.dims]).values
        out[name] = (da.dims, values)
    ds = xr.Dataset(out, coords=like.coords)
    ds.attrs.update({k: v for k, v in truth.attrs.items()})
    ds.attrs["layout"] = "compute_relevance (Aurora names; zero where F reads nothing)"
    return ds


def identity_part(like: xr.Dataset, batch: Any, target: Any, surf_stats: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The part of an attribution that the forecast's own current value carries.

    A forecast ``x(t + 6 h) = x(t) + increment`` (the surrogate's residual, and F's
    advection of the field itself) holds an identity path from the target variable's
    current step to the target. For input x gradient, LRP and integrated gradients from
    zero its attribution is exactly ``w * x_n(t)`` on the target variable at the current
    step and level (``w`` the target's weights, ``x_n`` the normalised input); the rest of
    the map is the attribution of the increment. Subtracting it from a method's map and
    from F's (both in normalised output units, :func:`truth_in_normalised_units`) scores
    the attribution of the 6-hour change, which the identity does not dominate.

    Args:
        like: A relevance map (its layout and grid).
        batch: The ``aurora.Batch`` the relevance was computed for (raw units).
        target: The :class:`~aurora_xai.attribution.targets.ForecastTarget`.
        surf_stats: The model's surface statistics.

    Returns:
        A Dataset in ``like``'s layout, zero but at the target variable's current step.
    """
    from aurora_xai.data.batch import select_field
    from aurora_xai.grid import lat_weights

    lat = like["latitude"].values
    lon = like["longitude"].values
    mask = target.region.mask(lat, lon).astype(float)
    if "cropped" in like.coords:
        mask = mask * ~like["cropped"].values.astype(bool)[:, None]
    if getattr(target, "area_weighted", False):
        mask = mask * lat_weights(lat)[:, None]
    w = mask / mask.sum()
    field = select_field(batch, target.variable, target.level)  # (B, H, W), the current step
    x = np.asarray(field[0].detach().cpu().numpy(), dtype=np.float64)
    loc, scale = normalisation_stats(target.variable, target.level, surf_stats)
    out = {name: (da.dims, np.zeros(da.shape)) for name, da in like.data_vars.items()}
    values = out[target.variable][1]
    part = w * (x - loc) / scale
    if target.level is None:
        values[-1] = part
    else:
        k = [float(v) for v in like["level"].values].index(float(target.level))
        values[-1, k] = part
    return xr.Dataset(out, coords=like.coords)


def truth_in_normalised_units(truth: xr.Dataset, variable: str, level: float | None, surf_stats=None) -> xr.Dataset:
    """F's attribution of a target divided by the target variable's normalisation scale
    (the units of a relevance map of a forecast target read in normalised space)."""
    scale = normalisation_stats(variable, level, surf_stats)[1]
    out = truth / scale
    out.attrs.update(truth.attrs)
    out.attrs["units"] = f"normalised {variable} (divided by {scale:g})"
    return out
