"""The study's attribution cases: relevance for a named storm, its summaries and figures.

A *case* is a catalogued storm with a case time. Its target is either a forecast
variable at +6 h over a region (default: mean sea-level pressure over the storm's box)
or the latent tokens of a layer over a region (the published target: backbone latents
over Europe, here with the true latitude/longitude geometry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..regions import Region
from ..settings import Settings
from ..storms.catalogue import StormEvent
from .cases import AttributionSettings, case_event
from .methods import compute_relevance
from .targets import ForecastTarget, LatentTarget

__all__ = ["case_target", "relevance_for_case"]


def case_target(settings: AttributionSettings, event: StormEvent, regions: Mapping[str, Region]):
    """The scalar target of a case."""
    if settings.target_region == "box":
        region = event.box
    elif settings.target_region in regions:
        region = regions[settings.target_region]
    else:
        raise ValueError(f"attribution.target_region: unknown region {settings.target_region!r}")
    if settings.target == "latent":
        return LatentTarget(layer=settings.latent_layer, region=region)
    return ForecastTarget(variable=settings.target_variable, level=settings.target_level, region=region)


def relevance_for_case(
    model: torch.nn.Module, source: Any, settings: Settings, case: str, checkpointing: bool = False
) -> xr.Dataset:
    """Relevance of every input for the case's target, with the case in the attributes.

    Args:
        model: The Aurora model.
        source: The ERA5 source (:class:`~aurora_xai.data.era5.ERA5Source`).
        settings: Holds the ``attribution`` computation keys, ``regions`` and
            ``storms.<case>``.
        case: The storm's name.
        checkpointing: Activation checkpointing (same relevance, less memory).
    """
    attribution = settings.attribution
    event = case_event(settings, case)
    target = case_target(attribution, event, settings.regions)
    batch = source.batch(event.case_time)
    ds = compute_relevance(
        model,
        batch,
        target,
        method=attribution.method,
        attention_rule=attribution.attention_rule,
        epsilon=attribution.epsilon,
        checkpointing=checkpointing,
        dtype=torch.float64 if attribution.dtype == "float64" else torch.float32,
    )
    lsm = source.static_arrays["lsm"]
    ds = ds.assign_coords(land_sea_mask=(("latitude", "longitude"), np.asarray(lsm, dtype=np.float32)))
    ds.attrs.update(
        case=case,
        case_time=f"{event.case_time:%Y-%m-%dT%H:%M}",
        storm_kind=event.kind,
        box=f"{event.box.lat_min},{event.box.lat_max},{event.box.lon_min},{event.box.lon_max}",
        description=event.description,
    )
    return ds
