"""The intervention experiment as the settings say: directions, dates, pushes, responses.

:func:`run_interventions` is what the ``run_interventions`` rule runs. For each chosen
date (``interventions.dates_per_class`` storm and calm days of the label table), the
sample goes through the model once unpushed and once per (direction or random control,
alpha), in batched forward passes (:func:`~aurora_xai.interventions.push.responses`);
the pushes of all directions share a date's passes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..latents.geometry import cropped_grid
from ..logs import Progress
from ..memory import peak_bytes
from ..model import ModelSpec, build_model, checkpoint_id, model_dtype
from ..perturbation.forward import AUTO, copy_input_bytes, memory_batch_size
from ..regimes.settings import PCASettings
from ..regions import Region
from .directions import DirectionData, build_directions, choose_dates, random_directions
from .push import QUANTITIES, quantity_weights, region_token_mask, responses
from .settings import InterventionSettings
from .summary import slopes

__all__ = ["run_interventions"]

log = logging.getLogger(__name__)


def _shifts(vectors: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """``(V * A, C, D)`` pushes ``alpha * vector`` for vectors ``(V, C, D)``, alpha fastest."""
    a = np.asarray(alphas, dtype=np.float64)
    return (vectors[:, None] * a[None, :, None, None]).reshape(-1, *vectors.shape[1:])


def run_interventions(
    cfg: InterventionSettings,
    pca: PCASettings,
    region: Region,
    spec: ModelSpec,
    source: Any,
    seed: int,
    pooled: xr.Dataset,
    labels: pd.DataFrame,
    device: str | torch.device = "cpu",
    batch_size: int | str = 16,
    targets: xr.Dataset | None = None,
) -> xr.Dataset:
    """Push every chosen date's tokens along each direction and its random controls.

    Args:
        cfg: The ``interventions`` section (its empty tap and region resolved).
        pca: The ``pca`` section (the directions' features).
        region: The region pushed and read (``interventions.region``).
        spec: The model (``model``).
        source: The opened store (:class:`~aurora_xai.data.era5.ERA5Source`).
        seed: ``seed`` (the random controls).
        pooled: Pooled latents of the tap (``results/latents/pooled.nc`` or
            ``pooled_<tap>.nc``).
        labels: The storm/calm label table.
        device: Where the model runs.
        batch_size: Copies per forward pass (``interventions.batch_size``), or ``"auto"``:
            as many as fit in memory
            (:func:`~aurora_xai.perturbation.forward.memory_batch_size`), measured from the first
            date's unpushed forward pass (1: the unpushed sample in a pass of its own,
            :func:`~aurora_xai.interventions.push.responses`).
        targets: The probe targets (``results/probes/targets.nc``), for the planted
            directions (:data:`~aurora_xai.interventions.directions.PLANTED_DIRECTIONS`).

    Returns:
        Dataset with ``response (date, direction, member, alpha, quantity)`` (pushed
        minus unpushed region mean; member 0 the direction, 1..K random controls),
        ``slope (date, direction, member, quantity)`` (per unit alpha), ``reference
        (date, quantity)`` (unpushed region means), ``vector (direction, member,
        latent_level, channel)``, ``label (date)`` (1 storm), ``units (quantity)``,
        ``token_rms_norm (date)`` (root mean square norm of the region's tokens) and
        attributes ``tap``, ``region``, each direction's description and mean share.

    Raises:
        ValueError: for an unknown tap, region, direction or quantity (naming the
            config key), or a pooled file of another tap.
    """
    from ..latents.taps import capture_latents

    if pooled.attrs.get("tap", cfg.tap) != cfg.tap:
        raise ValueError(f"interventions.tap: {cfg.tap!r} but the pooled latents are of tap {pooled.attrs['tap']!r}")
    data = DirectionData(pooled, labels, pca.region, pca.levels, pca.standardize, targets)
    directions = build_directions(cfg.directions, data)
    for d in directions.values():
        log.info("direction %s: %s (mean share of the axis %.3f)", d.name, d.description, d.mean_share)
    vectors = np.stack(
        [np.concatenate([d.vector[None], random_directions(d, cfg.n_random, seed)]) for d in directions.values()]
    )  # (direction, member, C, D)
    chosen = choose_dates(labels, pooled["date"].values, cfg.dates_per_class)
    log.info("%d dates: %d storm, %d calm", len(chosen), int(chosen["label"].sum()), int((1 - chosen["label"]).sum()))

    model = build_model(spec, device=device)
    model.eval()
    lat, lon = np.asarray(source.lat), np.asarray(source.lon)
    token_mask, res = region_token_mask(model, cfg.tap, lat, lon, region)
    if vectors.shape[2] != res[0]:
        raise ValueError(f"directions over {vectors.shape[2]} latent levels, tap {cfg.tap!r} has {res[0]}")
    lat_kept, _ = cropped_grid(lat, model.encoder.patch_size)
    weights = quantity_weights(region, lat_kept, lon)
    shifts = _shifts(vectors.reshape(-1, *vectors.shape[2:]), cfg.alphas)
    nd, nm, na, nq = len(directions), vectors.shape[1], len(cfg.alphas), len(cfg.quantities)
    response = np.empty((len(chosen), nd, nm, na, nq))
    reference = np.empty((len(chosen), nq))
    token_norm = np.empty(len(chosen))
    dt = model_dtype(model)
    progress = Progress(len(chosen), unit="date", every=1)
    for i, t in enumerate(chosen["time"]):
        batch = source.batch(pd.Timestamp(t)).type(dt).to(device)
        with capture_latents(model, cfg.tap) as box, torch.no_grad():
            if batch_size == AUTO:  # the unpushed pass is one copy's forward pass: measure it
                _, peak = peak_bytes(functools.partial(model.forward, batch), device)
                batch_size = memory_batch_size(
                    peak + copy_input_bytes(batch), 1 + len(shifts), device, "interventions.batch_size", logger=log
                )
                if batch_size == 1:
                    log.info("interventions.batch_size auto: the unpushed sample gets a pass of its own")
            else:
                model.forward(batch)
        tok = box["tokens"].reshape(1, res[0], -1, box["tokens"].shape[-1])[:, :, torch.as_tensor(token_mask)]
        token_norm[i] = float(tok.double().norm(dim=-1).square().mean().sqrt())
        r, reference[i] = responses(model, batch, cfg.tap, token_mask, shifts, cfg.quantities, weights, batch_size)
        response[i] = r.reshape(nd, nm, na, nq)
        if progress.update(i + 1):
            log.info(
                "[%d/%d] %s (%s): %d pushes (%s)",
                i + 1,
                len(chosen),
                f"{pd.Timestamp(t):%Y-%m-%d %H:%M}",
                "storm" if chosen["label"][i] else "calm",
                len(shifts),
                progress.rate(),
            )
    ds = xr.Dataset(
        {
            "response": (("date", "direction", "member", "alpha", "quantity"), response),
            "slope": (("date", "direction", "member", "quantity"), slopes(response, cfg.alphas, axis=3)),
            "reference": (("date", "quantity"), reference),
            "vector": (("direction", "member", "latent_level", "channel"), vectors),
            "label": (("date",), chosen["label"].to_numpy(dtype=np.int64)),
            "units": (("quantity",), [QUANTITIES[q][0] for q in cfg.quantities]),
            "long_name": (("quantity",), [QUANTITIES[q][1] for q in cfg.quantities]),
            "token_rms_norm": (("date",), token_norm),
        },
        coords={
            "date": pd.DatetimeIndex(chosen["time"]).values,
            "direction": list(directions),
            "member": np.arange(nm),
            "alpha": np.asarray(cfg.alphas),
            "quantity": list(cfg.quantities),
            "latent_level": list(data.latent_levels),
            "channel": pooled["channel"].values,
        },
    )
    ds["response"].attrs["long_name"] = "region mean of the pushed forecast minus the unpushed one"
    ds["slope"].attrs["long_name"] = "least-squares slope through the origin per unit alpha"
    ds["member"].attrs["long_name"] = "0: the direction; 1..K: random directions of the same per-level norms"
    ds["label"].attrs["flag_meanings"] = "0 calm, 1 storm"
    ds["token_rms_norm"].attrs["long_name"] = "root mean square norm of the pushed tokens before the push"
    attrs: dict[str, Any] = {
        "tap": cfg.tap,
        "region": cfg.region,
        "direction_region": pca.region,
        "n_random": cfg.n_random,
        "checkpoint": checkpoint_id(spec),
        "forward_passes_per_date": int(1 + len(shifts) if batch_size == 1 else np.ceil(len(shifts) / (batch_size - 1))),
        "seconds": round(progress.elapsed, 2),
    }
    for d in directions.values():
        attrs[f"{d.name}_description"] = d.description
        attrs[f"{d.name}_mean_share"] = d.mean_share
    ds.attrs.update(attrs)
    return ds
