"""One perturbation case as the settings say: model, sample, relevance, fill, truth, experiment.

:func:`run_case` is what the ``run_perturbation`` rule runs: it builds the model, reads
the case's sample, computes (or reuses) the relevance of every method, builds the
masked values of ``perturbation.mask_value`` (:func:`build_fill`) and the verifying
field when the store has it (:func:`truth_field`), and runs the experiment.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Any

import numpy as np
import torch
import xarray as xr

from aurora_xai.data.batch import select_field
from aurora_xai.model import ModelSpec, build_model, checkpoint_id, forecast_step

from .apply import climatology_fill, normalisation_fill, smoothed_fill
from .experiment import PerturbationResult, run_experiment
from .relevance import compute_relevances, masking_maps, relevance_target
from .settings import Case, PerturbationSettings

__all__ = ["build_fill", "run_case", "truth_field"]

log = logging.getLogger(__name__)


def build_fill(
    settings: PerturbationSettings, source: Any, batch: Any, model: torch.nn.Module, case: Case
) -> tuple[Any, dict]:
    """The masked-value batch for ``perturbation.mask_value`` and a provenance record."""
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


def truth_field(source: Any, case: Case, step: datetime.timedelta) -> np.ndarray | None:
    """The verifying field ``(lat, lon)`` of ``case.variable`` at ``case.time + step``.

    Args:
        source: The opened store (:class:`~aurora_xai.data.era5.ERA5Source`).
        case: The case (its variable and level).
        step: The forecast's lead time (:func:`~aurora_xai.model.forecast_step`).

    Returns:
        The field on the input grid in the store's units (float64), or ``None`` when the
        store does not hold the verifying time.
    """
    valid = case.time + step
    if not source.has_time(valid):
        return None
    return select_field(source.batch(valid), case.variable, case.level)[0].double().numpy()


def run_case(
    settings: PerturbationSettings,
    case: Case,
    source: Any,
    spec: ModelSpec,
    history_hours: float,
    lrp_relevance: xr.Dataset | None = None,
    device: str | torch.device = "cpu",
    batch_size: int | str | None = None,
    checkpointing: bool | str = False,
) -> PerturbationResult:
    """Run the experiment for ``case`` as the settings say.

    Args:
        settings: The ``perturbation`` section (with ``seed``).
        case: The case (``perturbation.cases.<name>``).
        source: The opened store (:class:`~aurora_xai.data.era5.ERA5Source`, history
            ``history_hours``).
        spec: The model (``model``).
        history_hours: ``dates.history_hours``.
        lrp_relevance: Precomputed LRP relevance (the ``compute_relevance`` rule's
            output); otherwise LRP is computed here with every other method.
        device: Where the model runs.
        batch_size: Masked copies per forward pass, or ``"auto"`` (sized from memory);
            ``None``: the settings' default.
        checkpointing: Activation checkpointing of the relevance computed here
            (``attribution.checkpointing``, an execution setting: the same relevance).
    """
    pert = settings
    if batch_size is not None:
        pert = dataclasses.replace(pert, batch_size=batch_size if batch_size == "auto" else int(batch_size))
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
        checkpointing=checkpointing,
    )
    shape = (len(source.lat), len(source.lon))
    maps = masking_maps(rel, shape, pert)
    fill, fill_info = build_fill(pert, source, batch, model, case)
    step = forecast_step(model)
    truth = truth_field(source, case, step)
    if truth is None:
        log.info("the store has no %s at %s: no truth reference", case.variable, case.time + step)
    result = run_experiment(model, batch, maps, case, pert, fill, truth, history_hours=history_hours)
    result.draws.attrs.update({k: v for k, v in fill_info.items()})
    result.draws.attrs["relevance_target"] = target.describe()
    result.draws.attrs["checkpoint"] = checkpoint_id(spec)
    for m, ds in rel.items():
        if ds is not None:
            for key in ("target_value", "relevance_sum", "conservation_error", "completeness_error"):
                if key in ds.attrs:
                    result.draws.attrs[f"{m}_{key}"] = float(ds.attrs[key])
    return result
