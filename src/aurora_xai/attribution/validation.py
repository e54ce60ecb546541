"""Attribution checked three ways: against the known answer, a searchlight and a randomisation cascade.

For a case (a storm's time and box) and a forecast target (a variable at +6 h over the
box, normalised), every method variant of :data:`VARIANTS` computes a relevance map:
LRP with the ``cp``, ``attnlrp`` and published ``gradient`` attention rules, input x
gradient, integrated gradients and the plain gradient (saliency). Then:

* :func:`truth_rows`: each map against F's exact attribution where the store has planted
  dynamics (:mod:`aurora_xai.attribution.truth_scores`);
* :func:`searchlight_rows`: each map, summed into blocks, against the searchlight
  reference (:mod:`aurora_xai.attribution.searchlight`);
* :func:`cascade_rows`: each map's rank correlation with itself as the model's stages are
  randomised from the output down (:mod:`aurora_xai.attribution.cascade`).

The rows carry ``case``, ``method`` (the variant's label), the scores of
:func:`~aurora_xai.attribution.agreement.agreement_scores` and what was compared.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from aurora_xai.attribution.agreement import agreement_scores
from aurora_xai.attribution.cascade import cascade_similarity
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.searchlight import coarsen_relevance, searchlight_reference
from aurora_xai.regions import Region

__all__ = [
    "VARIANTS",
    "Variant",
    "cascade_rows",
    "method_maps",
    "searchlight_rows",
    "truth_rows",
    "variant",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Variant:
    """A method as the checks name it: ``label`` -> ``compute_relevance(method, attention_rule)``."""

    label: str
    method: str
    attention_rule: str = "cp"

    def relevance(
        self, model: nn.Module, batch: Any, target: Any, *, epsilon: float, n_steps: int, dtype
    ) -> xr.Dataset:
        """The variant's relevance map (:func:`~aurora_xai.attribution.methods.compute_relevance`)."""
        return compute_relevance(
            model,
            batch,
            target,
            method=self.method,
            attention_rule=self.attention_rule,
            epsilon=epsilon,
            n_steps=n_steps,
            dtype=dtype,
        )


#: The method variants the checks compare, by label.
VARIANTS: Mapping[str, Variant] = {
    v.label: v
    for v in (
        Variant("lrp_cp", "lrp", "cp"),
        Variant("lrp_attnlrp", "lrp", "attnlrp"),
        Variant("lrp_gradient", "lrp", "gradient"),
        Variant("input_x_gradient", "input_x_gradient"),
        Variant("integrated_gradients", "integrated_gradients"),
        Variant("saliency", "saliency"),
    )
}


def variant(label: str) -> Variant:
    """The variant named ``label``.

    Raises:
        ValueError: an unknown label (the message lists the known ones).
    """
    try:
        return VARIANTS[label]
    except KeyError:
        raise ValueError(f"validation.methods: unknown method {label!r}; choose from {list(VARIANTS)}") from None


def method_maps(
    model: nn.Module,
    batch: Any,
    target: Any,
    labels: Sequence[str],
    *,
    epsilon: float = 1e-6,
    n_steps: int = 32,
    dtype: torch.dtype | None = torch.float64,
    progress: Callable[[str], Any] | None = None,
) -> dict[str, xr.Dataset]:
    """The relevance map of each variant in ``labels`` for one target (same batch, same model)."""
    out = {}
    for label in labels:
        out[label] = variant(label).relevance(model, batch, target, epsilon=epsilon, n_steps=n_steps, dtype=dtype)
        if progress is not None:
            progress(f"{label}: target {out[label].attrs['target_value']:.4g}")
    return out


def _without_static(ds: xr.Dataset) -> list[str]:
    return [v for v in ds.data_vars if not str(v).startswith("static_")]


def truth_rows(maps: Mapping[str, xr.Dataset], truth: xr.Dataset, case: str, k: int = 10) -> list[dict[str, Any]]:
    """Each map scored against F's exact attribution ``truth`` (in the maps' layout).

    Returns:
        One row per method: ``case``, ``method``, ``spearman``, ``cosine``,
        ``support_share``, ``ndcg@k``, ``history_share``, ``reference_history_share``,
        ``n_elements``.
    """
    rows = []
    for label, ds in maps.items():
        scores = agreement_scores(ds, truth, variables=sorted(ds.data_vars), k=k)
        rows.append({"case": case, "method": label, **scores})
    return rows


def searchlight_rows(
    maps: Mapping[str, xr.Dataset], reference: xr.Dataset, case: str, k: int = 10
) -> list[dict[str, Any]]:
    """Each map, summed into the searchlight's blocks and groups, scored against it."""
    rows = []
    for label, ds in maps.items():
        coarse = coarsen_relevance(ds, reference)
        scores = agreement_scores(coarse, reference, variables=sorted(reference.data_vars), k=k)
        rows.append({"case": case, "method": label, **scores})
    return rows


def cascade_rows(
    model: nn.Module,
    batch: Any,
    target: Any,
    labels: Sequence[str],
    case: str,
    *,
    epsilon: float = 1e-6,
    n_steps: int = 32,
    dtype: torch.dtype | None = torch.float64,
    seed: int = 0,
    progress: Callable[[str], Any] | None = None,
) -> list[dict[str, Any]]:
    """The randomisation cascade of each variant: ``case``, ``method``, ``stage``, ``step``,
    ``spearman``, ``spearman_abs`` (with the trained model's map; step 0 = trained)."""
    rows = []
    for label in labels:
        v = variant(label)

        def relevance(m: nn.Module, v: Variant = v) -> xr.Dataset:
            ds = v.relevance(m, batch, target, epsilon=epsilon, n_steps=n_steps, dtype=dtype)
            return ds[_without_static(ds)]

        for row in cascade_similarity(model, relevance, seed=seed, progress=progress):
            rows.append({"case": case, "method": label, **row})
    return rows


def searchlight_for_case(
    model: nn.Module,
    batch: Any,
    target: Any,
    *,
    patch: int,
    groups: str,
    margin: float,
    batch_size: int,
) -> xr.Dataset:
    """The searchlight reference over the target's box widened by ``margin`` degrees."""
    wide = widened(target.region, margin)
    return searchlight_reference(model, batch, target, patch=patch, groups=groups, region=wide, batch_size=batch_size)


def widened(region: Region, margin: float) -> Region:
    """``region`` widened by ``margin`` degrees on every side (the full circle where it
    would wrap onto itself; latitudes clipped to the poles)."""
    width = (region.lon_max - region.lon_min) % 360.0
    lat = (max(-90.0, region.lat_min - margin), min(90.0, region.lat_max + margin))
    if region.full_circle or width + 2 * margin >= 360:
        lon = (0.0, 360.0)
    else:
        lon = ((region.lon_min - margin) % 360.0, (region.lon_max + margin) % 360.0)
    return Region(f"{region.name}+{margin:g}", lat[0], lat[1], lon[0], lon[1])


def flagged(rows: Sequence[Mapping[str, Any]], threshold: float = 0.5) -> dict[str, bool]:
    """Per method: does its map survive full randomisation (``|spearman| > threshold`` at the last step)?"""
    last: dict[str, tuple[int, float]] = {}
    for r in rows:
        key = f"{r['case']}/{r['method']}"
        if key not in last or r["step"] > last[key][0]:
            last[key] = (int(r["step"]), float(r["spearman"]))
    return {k: bool(np.isfinite(s) and abs(s) > threshold) for k, (_, s) in last.items()}
