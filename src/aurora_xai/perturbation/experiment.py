"""The perturbation experiment: mask relevant cells, mask random cells, compare the damage.

For one case (a sample time, a target for the relevance, an evaluation region, a sector)
and each attribution method:

1. the masking relevance map of the method (:mod:`~aurora_xai.perturbation.relevance`);
2. for each fraction ``p`` (percent of the sector's cells), the top-``p`` mask of the
   sector is compared with ``n_draws`` random masks of the same size inside the sector,
   scattered cells (the study's control; shared by all methods) and contiguous blobs
   matched to the top mask's components (per method);
3. every mask is applied to every selected field (:mod:`~aurora_xai.perturbation.apply`)
   and the model runs on batches of masked copies (:mod:`~aurora_xai.perturbation.forward`);
   the degradation is the MSE of the predicted target variable over the evaluation
   region against the clean prediction (the study's) and, when the store has the
   verifying time, against the truth.

Seeds: scattered draws use ``(seed, "scattered", p)``; blob draws ``(seed, "blobs",
method, p)``; the bootstrap of the random mean ``(seed, "bootstrap_mean", ...)``; the random map ``(seed,
"random_relevance")``; see :func:`~aurora_xai.perturbation.masks.rng_for`.
"""

from __future__ import annotations

import dataclasses
import logging
import time as _time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from aurora_xai.latents.geometry import cropped_grid
from aurora_xai.memory import peak_bytes

from .forward import AUTO, cast_to_model, copy_input_bytes, history_step_hours, masked_mse, memory_batch_size
from .masks import (
    connected_components,
    is_global_longitude,
    n_cells,
    random_blob_masks,
    random_scattered_masks,
    rng_for,
    sector_cells,
    top_mask,
)
from .metrics import (
    UNIT_SCALES,
    aopc,
    bootstrap_mean_ci,
    eval_weights,
    physical_field,
    region_mse,
)
from .rank import aopc_rank_ratio, rank_ratio
from .settings import Case, PerturbationSettings

__all__ = ["PerturbationResult", "run_experiment"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PerturbationResult:
    """Outputs of :func:`run_experiment`.

    Attributes:
        table: One row per method, random kind, fraction and metric reference:
            ``case, method, mask_kind, p, n_cells, mse_relevant, mse_random_mean, ratio,
            ci_low, ci_high, n_draws, metric_reference`` (``ratio`` = relevant MSE over
            the mean random MSE, with its rank interval, the top mask taken as one more
            draw: :func:`~aurora_xai.perturbation.rank.rank_interval`, ``[0, inf)`` with
            fewer than 39 draws at 95 %), then ``units``, ``mse_clean``,
            ``mse_random_ci_low``, ``mse_random_ci_high`` (the bootstrap interval of the
            random mean), ``n_components`` (4-connected components of the top mask) and
            ``p_exceed`` (:func:`~aurora_xai.perturbation.rank.exceedance_p`, the
            one-sided rank p of the top mask among the random masks).
        aopc: One row per method, random kind and metric reference: AOPC of the relevant
            and of the random curve, their ratio with its rank interval and ``p_exceed``
            (each random draw's curve over the fractions is one draw:
            :func:`~aurora_xai.perturbation.rank.aopc_rank_ratio`).
        draws: Every MSE, the masking relevance maps, the sector and the top masks
            (the attribution method's dimension is ``attribution``, since xarray's
            ``sel`` reserves the keyword ``method``).
    """

    table: pd.DataFrame
    aopc: pd.DataFrame
    draws: xr.Dataset


def _auto_batch_size(settings: PerturbationSettings, per_copy: int, device: torch.device) -> int:
    """``perturbation.batch_size: auto``: copies per pass from memory, logged."""
    most = settings.n_draws + (1 if "blobs" in settings.random_kinds else 0)
    return memory_batch_size(per_copy, most, device, "perturbation.batch_size", "masked copies", log)


def run_experiment(
    model: torch.nn.Module,
    batch: Any,
    maps: Mapping[str, np.ndarray],
    case: Case,
    settings: PerturbationSettings,
    fill: Any,
    truth: np.ndarray | None = None,
    history_hours: float | None = None,
) -> PerturbationResult:
    """Run the perturbation experiment for one case.

    Args:
        model: An Aurora model (evaluation mode).
        batch: The sample, batch size 1, raw units.
        maps: Masking relevance ``(lat, lon)`` per method
            (:func:`~aurora_xai.perturbation.relevance.masking_maps`).
        case: The case.
        settings: The settings.
        fill: Batch of the masked values (:mod:`~aurora_xai.perturbation.apply`).
        truth: The verifying field of ``case.variable`` at the forecast time on the input
            grid in raw units (``None``: no truth reference).
        history_hours: Hours between the batch's history steps (``dates.history_hours``),
            which place the masked steps ``perturbation.masked.history``; ``None``: the
            model's forecast step.
    """
    settings.masked.check(batch, history_step_hours(model, history_hours))
    batch, fill = cast_to_model(model, batch, fill)
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

    batch_size = settings.batch_size
    with torch.no_grad():
        if batch_size == AUTO:  # the clean pass is one copy's forward pass: measure it
            device = next(model.parameters(), torch.empty(0)).device
            pred, peak = peak_bytes(lambda: model(batch), device)
            batch_size = _auto_batch_size(settings, peak + copy_input_bytes(batch), device)
        else:
            pred = model(batch)
        clean = physical_field(pred, case.variable, case.level)[0].cpu().numpy()
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
        batch_size=batch_size,
        history_hours=history_hours,
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
                    rank = rank_ratio(mse_rel[ir, im, ip], rnd, settings.ci_level)
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
                            "ratio": rank.ratio,
                            "ci_low": rank.ci_low,
                            "ci_high": rank.ci_high,
                            "n_draws": int(N),
                            "metric_reference": r,
                            "units": units,
                            "mse_clean": mse_clean[r],
                            "mse_random_ci_low": mlo,
                            "mse_random_ci_high": mhi,
                            "n_components": int(n_components[im, ip]),
                            "p_exceed": rank.p_exceed,
                        }
                    )
                a_rank = aopc_rank_ratio(mse_rel[ir, im], rnd_all, settings.ci_level)
                aopc_rows.append(
                    {
                        "case": case.name,
                        "method": method,
                        "mask_kind": kind,
                        "metric_reference": r,
                        "aopc_relevant": aopc(mse_rel[ir, im]),
                        "aopc_random": aopc(rnd_all.mean(axis=1)),
                        "ratio": a_rank.ratio,
                        "ci_low": a_rank.ci_low,
                        "ci_high": a_rank.ci_high,
                        "n_fractions": P,
                        "n_draws": int(N),
                        "units": units,
                        "p_exceed": a_rank.p_exceed,
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
