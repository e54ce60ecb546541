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
        self,
        model: nn.Module,
        batch: Any,
        target: Any,
        *,
        epsilon: float,
        n_steps: int,
        dtype,
        checkpointing: bool | str = "none",
    ) -> xr.Dataset:
        """The variant's relevance map (:func:`~aurora_xai.attribution.methods.compute_relevance`;
        ``checkpointing`` changes memory, not the relevance)."""
        return compute_relevance(
            model,
            batch,
            target,
            method=self.method,
            attention_rule=self.attention_rule,
            epsilon=epsilon,
            n_steps=n_steps,
            dtype=dtype,
            checkpointing=checkpointing,
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
    checkpointing: bool | str = "none",
    progress: Callable[[str], Any] | None = None,
) -> dict[str, xr.Dataset]:
    """The relevance map of each variant in ``labels`` for one target (same batch, same model)."""
    out = {}
    for label in labels:
        out[label] = variant(label).relevance(
            model, batch, target, epsilon=epsilon, n_steps=n_steps, dtype=dtype, checkpointing=checkpointing
        )
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
    checkpointing: bool | str = "none",
    progress: Callable[[str], Any] | None = None,
) -> list[dict[str, Any]]:
    """The randomisation cascade of each variant: ``case``, ``method``, ``stage``, ``step``,
    ``spearman``, ``spearman_abs`` (with the trained model's map; step 0 = trained)."""
    rows = []
    for label in labels:
        v = variant(label)

        def relevance(m: nn.Module, v: Variant = v) -> xr.Dataset:
            ds = v.relevance(
                m, batch, target, epsilon=epsilon, n_steps=n_steps, dtype=dtype, checkpointing=checkpointing
            )
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


def cell_map(ds: xr.Dataset) -> xr.DataArray:
    """Signed relevance per grid cell ``(latitude, longitude)``: summed over variables,
    levels and history steps (static fields left out), divided by the map's ``sum |R|``."""
    total = None
    for name in _without_static(ds):
        da = ds[name]
        da = da.sum([d for d in da.dims if d not in ("latitude", "longitude")])
        total = da if total is None else total + da
    if total is None:
        raise ValueError("cell_map: the map has no surface or atmospheric variable")
    scale = float(sum(float(abs(ds[v]).sum()) for v in _without_static(ds)))
    return total / scale if scale > 0 else total


def truth_target_for(variable: str, level: float | None, region: Region) -> Any:
    """The :class:`~aurora_xai.truth.TruthTarget` of Aurora's ``variable`` (at ``level``) over
    ``region``, equally weighted as :class:`~aurora_xai.attribution.targets.ForecastTarget`.

    Raises:
        ValueError: the planted dynamics do not drive that variable and level.
    """
    from aurora_xai.data.variables import WB2_NAMES
    from aurora_xai.truth import TruthTarget

    kind = "atmos" if level is not None else "surf"
    store = WB2_NAMES[kind].get(variable)
    if store is None:
        raise ValueError(f"validation.target_variable: {variable!r} is not an Aurora {kind} variable")
    return TruthTarget(store, None if level is None else int(level), region, area_weighted=False)


def _unit_batch(batch: Any, target: Any, surf_stats: Any) -> Any:
    """``batch`` with the target variable's current step at normalised value 1 (so that
    :func:`~aurora_xai.attribution.truth_scores.identity_part` gives the weights alone)."""
    import dataclasses as dc

    from aurora_xai.model import normalisation_stats

    loc, scale = normalisation_stats(target.variable, target.level, surf_stats)
    if target.level is None:
        surf = dict(batch.surf_vars)
        v = surf[target.variable].clone()
        v[:, -1] = loc + scale
        surf[target.variable] = v
        return dc.replace(batch, surf_vars=surf)
    atmos = dict(batch.atmos_vars)
    v = atmos[target.variable].clone()
    k = [float(x) for x in batch.metadata.atmos_levels].index(float(target.level))
    v[:, -1, k] = loc + scale
    atmos[target.variable] = v
    return dc.replace(batch, atmos_vars=atmos)


def case_checks(
    model: nn.Module,
    source: Any,
    store: xr.Dataset | None,
    spec: Any,
    settings: Any,
    case: str,
    time: Any,
    region: Region,
    progress: Callable[[str], Any] | None = None,
    checkpointing: bool | str = "none",
) -> dict[str, Any]:
    """Every check of one case (the work of the rule ``validate_attribution``).

    Args:
        model: The model the study runs.
        source: The ERA5 source (:class:`~aurora_xai.data.era5.ERA5Source`).
        store: The store as an ``xarray.Dataset`` when it records planted dynamics (its
            ``planted_dynamics`` attribute), else None (no known answer).
        spec: The store's :class:`~aurora_xai.data.synthetic.SyntheticSpec` (with ``store``).
        settings: :class:`~aurora_xai.attribution.validation_settings.ValidationSettings`.
        case, time, region: The case's name, current time and box.
        checkpointing: Activation checkpointing of the relevance passes (an execution
            setting, ``attribution.checkpointing``: less memory, the same relevance).

    Returns:
        ``truth`` (rows, empty without a known answer), ``searchlight`` and ``cascade``
        (rows), ``maps`` (a Dataset of :func:`cell_map` per method, ``method`` first,
        with the truth's as ``truth`` where there is one).
    """
    import pandas as pd

    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.attribution.truth_scores import (
        identity_part,
        normalisation_baseline,
        truth_in_normalised_units,
        truth_in_relevance_layout,
    )
    from aurora_xai.truth import driven_state, exact_attribution

    say = progress or (lambda line: None)
    level = settings.target_level
    target = ForecastTarget(settings.target_variable, level, region)
    batch = source.batch(time)
    options = {
        "epsilon": settings.epsilon,
        "n_steps": settings.ig_steps,
        "dtype": torch.float64,
        "checkpointing": checkpointing,
    }
    say(f"case {case}: {target.describe()} at {time}")
    maps = method_maps(model, batch, target, settings.methods, progress=say, **options)
    out: dict[str, Any] = {"truth": [], "searchlight": [], "cascade": []}
    cells = {label: cell_map(ds) for label, ds in maps.items()}
    if store is not None:
        t = pd.Timestamp(time)
        step = pd.Timedelta(hours=6)
        prev, now = driven_state(store, [t - step, t])
        stats = getattr(model, "surf_stats", None)
        base = normalisation_baseline(prev.shape[-2:], stats)
        exact = exact_attribution(spec, prev, now, t, truth_target_for(settings.target_variable, level, region), base)
        like = next(iter(maps.values()))
        truth = truth_in_normalised_units(
            truth_in_relevance_layout(exact, like), settings.target_variable, level, stats
        )
        rows = truth_rows(maps, truth, case, k=settings.top_k)
        # the 6-hour change: the identity path of the target's own current value removed
        # from both (saliency's identity part is the weight itself, not weight x input)
        ident = identity_part(like, batch, target, stats)
        weight = identity_part(like, _unit_batch(batch, target, stats), target, stats)
        change = {label: ds - (weight if variant(label).method == "saliency" else ident) for label, ds in maps.items()}
        rows += [{**r, "target_part": "change"} for r in truth_rows(change, truth - ident, case, k=settings.top_k)]
        out["truth"] = [{"target_part": "forecast", **r} if "target_part" not in r else r for r in rows]
        cells["truth"] = cell_map(truth)
        say(f"case {case}: scored against F's exact attribution")
    reference = searchlight_for_case(
        model,
        batch,
        target,
        patch=settings.searchlight_patch,
        groups=settings.searchlight_groups,
        margin=settings.searchlight_margin,
        batch_size=settings.searchlight_batch_size,
    )
    out["searchlight"] = searchlight_rows(maps, reference, case, k=settings.top_k)
    say(f"case {case}: searchlight of {reference.attrs['n_passes']} passes")
    out["cascade"] = cascade_rows(
        model, batch, target, settings.cascade_methods, case, seed=settings.cascade_seed, progress=say, **options
    )
    names = list(cells)
    out["maps"] = xr.Dataset(
        {"relevance": xr.concat([cells[n] for n in names], dim=pd.Index(names, name="variant"))},
        attrs={"case": case, "time": str(time), "target": target.describe()},
    )
    return out
