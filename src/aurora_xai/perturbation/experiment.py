"""The perturbation experiment: mask relevant cells, mask random cells, compare the damage.

For one case (a sample time, a target for the relevance, an evaluation region, a sector)
and each attribution method:

1. the masking relevance is ``sum |R|`` over the chosen variables, levels and history
   steps (:func:`~aurora_xai.perturbation.masks.relevance_map`); the method ``random`` is
   a seeded uniform random map (a control whose ratio should be about 1);
2. for each fraction ``p`` (percent of the sector's cells), the top-``p`` mask of the
   sector is compared with ``n_draws`` random masks of the same size inside the sector,
   scattered cells (the study's control; shared by all methods) and contiguous blobs
   matched to the top mask's components (per method);
3. every mask is applied to every selected field (:mod:`~aurora_xai.perturbation.apply`)
   and the model runs on batches of masked copies; the degradation is the MSE of the
   predicted target variable over the evaluation region against the clean prediction
   (the study's) and, when the store has the verifying time, against the truth.

Seeds: scattered draws use ``(seed, "scattered", p)``; blob draws ``(seed, "blobs",
method, p)``; bootstraps ``(seed, "bootstrap", ...)``; the random map ``(seed,
"random_relevance")``; see :func:`~aurora_xai.perturbation.masks.rng_for`.
"""

from __future__ import annotations

import dataclasses
import logging
import time as _time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from aurora_xai.latents.geometry import cropped_grid
from aurora_xai.settings import Settings

from .apply import masked_batch
from .masks import (
    connected_components,
    is_global_longitude,
    n_cells,
    random_blob_masks,
    random_relevance_map,
    random_scattered_masks,
    relevance_map,
    rng_for,
    sector_cells,
    top_mask,
)
from .metrics import (
    UNIT_SCALES,
    aopc_ratio,
    bootstrap_mean_ci,
    bootstrap_ratio,
    eval_weights,
    physical_field,
    region_mse,
)
from .settings import Case, MaskFields, PerturbationSettings

__all__ = [
    "TABLE_COLUMNS",
    "PerturbationResult",
    "benchmark_batched_masks",
    "compute_relevances",
    "headline",
    "masked_fields",
    "masked_mse",
    "build_fill",
    "masking_maps",
    "relevance_target",
    "run_case",
    "run_experiment",
    "truth_field",
]

log = logging.getLogger(__name__)

#: Columns of the per-case table (then extra columns: units, mse_clean, random mean interval).
TABLE_COLUMNS = (
    "case",
    "method",
    "mask_kind",
    "p",
    "n_cells",
    "mse_relevant",
    "mse_random_mean",
    "ratio",
    "ci_low",
    "ci_high",
    "n_draws",
    "metric_reference",
)


@dataclasses.dataclass
class PerturbationResult:
    """Outputs of :func:`run_experiment`.

    Attributes:
        table: One row per method, random kind, fraction and metric reference
            (:data:`TABLE_COLUMNS` then ``units``, ``mse_clean``, ``mse_random_ci_low``,
            ``mse_random_ci_high``: the bootstrap interval of the random mean;
            ``n_components``: 4-connected components of the top mask; ``p_exceed``:
            ``(1 + #draws degrading at least as much) / (n_draws + 1)``, a one-sided
            Monte Carlo p-value of the top mask against single random masks).
        aopc: One row per method, random kind and metric reference: AOPC of the relevant
            and of the random curve, their ratio and its bootstrap interval.
        draws: Every MSE, the masking relevance maps, the sector and the top masks
            (the attribution method's dimension is ``attribution``, since xarray's
            ``sel`` reserves the keyword ``method``).
    """

    table: pd.DataFrame
    aopc: pd.DataFrame
    draws: xr.Dataset


# --------------------------------------------------------------------------------------
# Relevance.
# --------------------------------------------------------------------------------------


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
) -> dict[str, xr.Dataset | None]:
    """Relevance datasets per method (``random`` maps to ``None``; ``precomputed`` reused).

    ``attention_rule`` and ``epsilon`` are LRP's, ``ig_steps`` integrated gradients'
    (see :class:`PerturbationSettings`; their defaults are the config schema's).
    """
    from aurora_xai.attribution.methods import compute_relevance

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


# --------------------------------------------------------------------------------------
# Batched masked forecasts.
# --------------------------------------------------------------------------------------


def _step_hours(model: torch.nn.Module) -> float:
    step = getattr(model, "timestep", None)
    return step.total_seconds() / 3600 if step is not None else 6.0


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return p.dtype if p is not None else torch.float32


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
    step = _step_hours(model)
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


# --------------------------------------------------------------------------------------
# The experiment.
# --------------------------------------------------------------------------------------


def _prepare(model: torch.nn.Module, batch: Any, fill: Any) -> tuple[Any, Any]:
    dt = _model_dtype(model)
    return batch.type(dt), fill.type(dt)


def run_experiment(
    model: torch.nn.Module,
    batch: Any,
    maps: Mapping[str, np.ndarray],
    case: Case,
    settings: PerturbationSettings,
    fill: Any,
    truth: np.ndarray | None = None,
) -> PerturbationResult:
    """Run the perturbation experiment for one case.

    Args:
        model: An Aurora model (evaluation mode).
        batch: The sample, batch size 1, raw units.
        maps: Masking relevance ``(lat, lon)`` per method (:func:`masking_maps`).
        case: The case.
        settings: The settings.
        fill: Batch of the masked values (:mod:`~aurora_xai.perturbation.apply`).
        truth: The verifying field of ``case.variable`` at the forecast time on the input
            grid in raw units (``None``: no truth reference).
    """
    settings.masked.check(batch, _step_hours(model))
    batch, fill = _prepare(model, batch, fill)
    lat = batch.metadata.lat.detach().cpu().numpy().astype(float)
    lon = batch.metadata.lon.detach().cpu().numpy().astype(float)
    patch = int(getattr(model, "patch_size", 4))
    lat_kept, dropped = cropped_grid(lat, patch)
    wrap = is_global_longitude(lon)
    sector = sector_cells(case.sector, lat, lon, exclude_rows=dropped)
    n_sector = int(sector.sum())
    weights = eval_weights(case.eval_region, lat_kept, lon, settings.area_weighted)
    units = UNIT_SCALES.get(case.variable, (1.0, ""))[1]
    units = f"({units})^2" if units else ""

    with torch.no_grad():
        clean = physical_field(model(batch), case.variable, case.level)[0].cpu().numpy()
    references = {"clean": clean}
    if truth is not None:
        scale = UNIT_SCALES.get(case.variable, (1.0, ""))[0]
        references["truth"] = np.asarray(truth, dtype=np.float64)[: len(lat_kept)] * scale
    mse_clean = {k: float(region_mse(torch.as_tensor(clean[None]), ref, weights)[0]) for k, ref in references.items()}

    methods = list(maps)
    P, M, N = len(settings.fractions), len(methods), settings.n_draws
    refs = list(references)
    sizes = np.zeros(P, dtype=int)
    mse_rel = np.full((len(refs), M, P), np.nan)
    mse_sc = np.full((len(refs), P, N), np.nan)
    mse_bl = np.full((len(refs), M, P, N), np.nan)
    tops = np.zeros((M, P, *sector.shape), dtype=np.int8)
    n_components = np.zeros((M, P), dtype=int)
    common = dict(
        variable=case.variable,
        level=case.level,
        references=references,
        weights=weights,
        fields=settings.masked,
        batch_size=settings.batch_size,
    )
    t0 = _time.perf_counter()
    n_forward = 0
    for ip, p in enumerate(settings.fractions):
        n = n_cells(n_sector, p)
        sizes[ip] = n
        if "scattered" in settings.random_kinds:
            sc = random_scattered_masks(sector, n, N, rng_for(settings.seed, "scattered", p))
            res = masked_mse(model, batch, fill, sc, **common)
            n_forward += len(sc)
            for ir, r in enumerate(refs):
                mse_sc[ir, ip] = res[r]
        for im, method in enumerate(methods):
            top = top_mask(maps[method], sector, n)
            tops[im, ip] = top
            n_components[im, ip] = len(connected_components(top, wrap)[1])
            group = [top[None]]
            if "blobs" in settings.random_kinds:
                group.append(random_blob_masks(sector, top, N, rng_for(settings.seed, "blobs", method, p), wrap))
            allm = np.concatenate(group)
            res = masked_mse(model, batch, fill, allm, **common)
            n_forward += len(allm)
            for ir, r in enumerate(refs):
                mse_rel[ir, im, ip] = res[r][0]
                if "blobs" in settings.random_kinds:
                    mse_bl[ir, im, ip] = res[r][1:]
        log.info("p = %g %%: %d cells; %d masked forecasts so far", p, n, n_forward)
    elapsed = _time.perf_counter() - t0
    log.info("%d masked forecasts in %.1f s (%.2f masks/s)", n_forward, elapsed, n_forward / max(elapsed, 1e-9))

    rows, aopc_rows = [], []
    for ir, r in enumerate(refs):
        for im, method in enumerate(methods):
            for kind in settings.random_kinds:
                rnd_all = mse_sc[ir] if kind == "scattered" else mse_bl[ir, im]
                for ip, p in enumerate(settings.fractions):
                    rnd = rnd_all[ip]
                    ratio, lo, hi = bootstrap_ratio(
                        mse_rel[ir, im, ip],
                        rnd,
                        rng_for(settings.seed, "bootstrap", r, method, kind, p),
                        settings.n_boot,
                        settings.ci_level,
                    )
                    mlo, mhi = bootstrap_mean_ci(
                        rnd,
                        rng_for(settings.seed, "bootstrap_mean", r, method, kind, p),
                        settings.n_boot,
                        settings.ci_level,
                    )
                    rows.append(
                        {
                            "case": case.name,
                            "method": method,
                            "mask_kind": kind,
                            "p": float(p),
                            "n_cells": int(sizes[ip]),
                            "mse_relevant": float(mse_rel[ir, im, ip]),
                            "mse_random_mean": float(rnd.mean()),
                            "ratio": ratio,
                            "ci_low": lo,
                            "ci_high": hi,
                            "n_draws": int(N),
                            "metric_reference": r,
                            "units": units,
                            "mse_clean": mse_clean[r],
                            "mse_random_ci_low": mlo,
                            "mse_random_ci_high": mhi,
                            "n_components": int(n_components[im, ip]),
                            "p_exceed": float((1 + np.sum(rnd >= mse_rel[ir, im, ip])) / (len(rnd) + 1)),
                        }
                    )
                a_rel, a_rnd, ratio, lo, hi = aopc_ratio(
                    mse_rel[ir, im],
                    rnd_all,
                    rng_for(settings.seed, "bootstrap_aopc", r, method, kind),
                    settings.n_boot,
                    settings.ci_level,
                )
                aopc_rows.append(
                    {
                        "case": case.name,
                        "method": method,
                        "mask_kind": kind,
                        "metric_reference": r,
                        "aopc_relevant": a_rel,
                        "aopc_random": a_rnd,
                        "ratio": ratio,
                        "ci_low": lo,
                        "ci_high": hi,
                        "n_fractions": P,
                        "n_draws": int(N),
                        "units": units,
                    }
                )
    table = pd.DataFrame(rows)
    aopc_table = pd.DataFrame(aopc_rows)

    draws = xr.Dataset(
        {
            "mse_relevant": (("reference", "attribution", "p"), mse_rel),
            "mse_scattered": (("reference", "p", "draw"), mse_sc),
            "mse_blobs": (("reference", "attribution", "p", "draw"), mse_bl),
            "mse_clean": (("reference",), np.array([mse_clean[r] for r in refs])),
            "n_cells": (("p",), sizes),
            "n_components": (("attribution", "p"), n_components),
            "relevance_map": (("attribution", "latitude", "longitude"), np.stack([maps[m] for m in methods])),
            "top_mask": (("attribution", "p", "latitude", "longitude"), tops),
            "sector": (("latitude", "longitude"), sector.astype(np.int8)),
        },
        coords={
            "reference": refs,
            "attribution": methods,
            "p": ("p", np.asarray(settings.fractions, dtype=float), {"units": "percent of the sector's cells"}),
            "draw": np.arange(N),
            "latitude": ("latitude", lat, {"units": "degrees_north"}),
            "longitude": ("longitude", lon, {"units": "degrees_east"}),
        },
        attrs={
            "case": case.name,
            "time": str(case.time),
            "variable": case.variable,
            "level": "" if case.level is None else float(case.level),
            "eval_region": case.eval_region.name,
            "sector": case.sector.name,
            "n_sector_cells": n_sector,
            "mask_value": settings.mask_value,
            "mse_units": units,
            "seed": settings.seed,
            "masked_forecasts": n_forward,
            "elapsed_s": round(elapsed, 3),
        },
    )
    return PerturbationResult(table, aopc_table, draws)


def _p_label(p: float) -> str:
    return f"{p:g}".replace(".", "_")


def headline(
    result: PerturbationResult,
    method: str = "lrp",
    p: float = 1.0,
    reference: str = "clean",
    suffix: str = "",
) -> list[dict[str, Any]]:
    """Headline rows: the ratio at ``p`` for ``method`` (scattered, blobs) and AOPC per method.

    Metrics: ``perturbation_ratio_p1`` (scattered control), ``perturbation_ratio_p1_blobs``,
    ``perturbation_aopc_<method>`` (AOPC of the relevant curve, MSE units, ``n`` = number
    of fractions) and ``perturbation_aopc_ratio_<method>`` (over the scattered control,
    with interval, ``n`` = draws), each followed by ``suffix``.
    """
    t = result.table
    t = t[t["metric_reference"] == reference]
    rows: list[dict[str, Any]] = []
    lab = _p_label(p)
    for kind, name in (("scattered", f"perturbation_ratio_p{lab}"), ("blobs", f"perturbation_ratio_p{lab}_blobs")):
        sel = t[(t["method"] == method) & (t["mask_kind"] == kind) & np.isclose(t["p"], p)]
        if len(sel) == 1:
            r = sel.iloc[0]
            rows.append(
                {
                    "metric": name + suffix,
                    "value": r["ratio"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "n": int(r["n_draws"]),
                }
            )
    a = result.aopc
    a = a[a["metric_reference"] == reference]
    for m in a["method"].unique():
        sel = a[(a["method"] == m) & (a["mask_kind"] == "scattered")]
        if len(sel) == 0:
            sel = a[a["method"] == m]
        r = sel.iloc[0]
        rows.append(
            {"metric": f"perturbation_aopc_{m}{suffix}", "value": r["aopc_relevant"], "n": int(r["n_fractions"])}
        )
        rows.append(
            {
                "metric": f"perturbation_aopc_ratio_{m}{suffix}",
                "value": r["ratio"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "n": int(r["n_draws"]),
            }
        )
    return rows


# --------------------------------------------------------------------------------------
# Benchmark.
# --------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    from .apply import normalisation_fill

    if fill is None:
        fill = normalisation_fill(batch, getattr(model, "surf_stats", None))
    batch, fill = _prepare(model, batch, fill)
    masks = np.asarray(masks, dtype=bool)
    device = next(model.parameters()).device

    def run(bs: int) -> float:
        _sync(device)
        t0 = _time.perf_counter()
        masked_fields(model, batch, fill, masks, variable, None, fields, bs)
        _sync(device)
        return _time.perf_counter() - t0

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


# --------------------------------------------------------------------------------------
# One case from the workflow configuration.
# --------------------------------------------------------------------------------------


def relevance_target(case: Case, kind: str = "forecast", layer: str = "backbone") -> Any:
    """The scalar whose relevance decides the masks.

    ``forecast`` (default): mean of the predicted ``case.variable`` over the target region
    (the quantity whose degradation is measured). ``latent``: mean of the latent tokens
    of ``layer`` over the target region (the study's LRP target).
    """
    from aurora_xai.attribution.targets import ForecastTarget, LatentTarget

    if kind == "forecast":
        return ForecastTarget(case.variable, case.level, case.target_region)
    if kind == "latent":
        return LatentTarget(layer, case.target_region)
    raise ValueError(f"perturbation.relevance_target: expected forecast or latent, got {kind!r}")


def build_fill(
    settings: PerturbationSettings, source: Any, batch: Any, model: torch.nn.Module, case: Case
) -> tuple[Any, dict]:
    """The masked-value batch for ``perturbation.mask_value`` and a provenance record."""
    from .apply import climatology_fill, normalisation_fill, smoothed_fill

    kind = settings.mask_value
    if kind == "normalised_zero":
        return normalisation_fill(batch, getattr(model, "surf_stats", None)), {"mask_value": kind}
    if kind == "climatology":
        window = settings.climatology_window_days
        exclude = settings.climatology_exclude_case_year
        fill, times = climatology_fill(source, case.time, window, exclude)
        years = sorted({int(t.year) for t in times})
        log.info("climatology fill: %d days, years %s", len(times), years)
        return fill, {
            "mask_value": kind,
            "climatology_days": len(times),
            "climatology_years": ",".join(map(str, years)),
            "climatology_window_days": window,
        }
    if kind == "smooth":
        sk = settings.smooth_kind
        scale = settings.smooth_scale_deg
        return smoothed_fill(batch, sk, scale), {"mask_value": kind, "smooth_kind": sk, "smooth_scale_deg": scale}
    raise ValueError(f"perturbation.mask_value: unknown {kind!r}")


def truth_field(source: Any, case: Case, step: pd.Timedelta) -> np.ndarray | None:
    """The verifying raw field of ``case.variable`` at ``case.time + step`` (None if not stored)."""
    valid = case.time + step
    if not source.has_time(valid):
        return None
    b = source.batch(valid)
    if case.level is None:
        return b.surf_vars[case.variable][0, -1].double().numpy()
    levels = [float(v) for v in b.metadata.atmos_levels]
    return b.atmos_vars[case.variable][0, -1, levels.index(float(case.level))].double().numpy()


def run_case(
    settings: Settings,
    case_name: str,
    lrp_relevance: xr.Dataset | None = None,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
) -> PerturbationResult:
    """Run the experiment for ``case_name`` as the settings say.

    Args:
        settings: Holds the ``perturbation`` keys, ``perturbation.cases.<case_name>``,
            ``model``, ``data``, ``dates.history_hours``, ``regions`` and ``seed``.
        case_name: The case.
        lrp_relevance: Precomputed LRP relevance (the ``compute_relevance`` rule's
            output); otherwise LRP is computed here with every other method.
        device: Where the model runs.
        batch_size: Masked copies per forward pass (``None``: the settings' default).
    """
    from aurora_xai.model import build_model, checkpoint_id

    pert = settings.perturbation
    if batch_size is not None:
        pert = dataclasses.replace(pert, batch_size=int(batch_size))
    case = settings.perturbation_cases[case_name]
    source = settings.data.open(settings.history_hours)
    spec = settings.model
    model = build_model(spec, device=device)
    batch = source.batch(case.time)
    target = relevance_target(case, pert.relevance_target, pert.latent_layer)
    pre = {}
    if lrp_relevance is not None:
        if lrp_relevance.attrs.get("target") not in (None, target.describe()):
            log.warning(
                "the LRP relevance file's target (%s) differs from the perturbation target (%s)",
                lrp_relevance.attrs.get("target"),
                target.describe(),
            )
        pre["lrp"] = lrp_relevance
    rel = compute_relevances(
        model,
        batch,
        target,
        pert.methods,
        pre,
        attention_rule=pert.attention_rule,
        epsilon=pert.epsilon,
        ig_steps=pert.ig_steps,
    )
    shape = (len(source.lat), len(source.lon))
    maps = masking_maps(rel, shape, pert)
    fill, fill_info = build_fill(pert, source, batch, model, case)
    truth = truth_field(source, case, getattr(model, "timestep", pd.Timedelta(hours=6)))
    if truth is None:
        log.info("the store has no %s at %s: no truth reference", case.variable, case.time + pd.Timedelta(hours=6))
    result = run_experiment(model, batch, maps, case, pert, fill, truth)
    result.draws.attrs.update({k: v for k, v in fill_info.items()})
    result.draws.attrs["relevance_target"] = target.describe()
    result.draws.attrs["checkpoint"] = checkpoint_id(spec)
    for m, ds in rel.items():
        if ds is not None:
            for key in ("target_value", "relevance_sum", "conservation_error", "completeness_error"):
                if key in ds.attrs:
                    result.draws.attrs[f"{m}_{key}"] = float(ds.attrs[key])
    return result
