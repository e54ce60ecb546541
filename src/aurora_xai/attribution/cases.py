"""Attribution cases from the config: settings, the storm of a case, summaries, headline rows.

Torch-free, so the analysis and plotting rules can use it; the relevance computation
itself is in :mod:`aurora_xai.attribution.study`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd
import xarray as xr

from ..regions import Region
from ..sections import from_section
from ..storms.catalogue import StormEvent
from .summaries import relevance_centroids, relevance_table, vertical_profile

__all__ = [
    "DAY_KEYS",
    "AttributionCases",
    "AttributionSettings",
    "MapSettings",
    "day_settings",
    "case_event",
    "case_summaries",
    "case_headline",
    "map_dataset",
    "track_points",
]


@dataclasses.dataclass(frozen=True)
class AttributionSettings:
    """How relevance is computed: the computation keys of the ``attribution`` section.

    The section's other keys are read where they are used: ``cases`` shapes the
    workflow's jobs, ``map_levels`` and ``map_variable`` only the maps, and
    ``checkpointing`` (memory, not results) is an execution setting.

    Args:
        method: ``lrp``, ``input_x_gradient`` or ``integrated_gradients``.
        attention_rule: ``cp`` or ``attnlrp``.
        epsilon: Epsilon of the linear layers' rule.
        target: ``forecast`` or ``latent``.
        target_variable: Forecast variable (``msl``, ``2t``, ``z``, ...).
        target_level: Pressure level of an atmospheric forecast variable (hPa).
        target_region: ``box`` (the storm's box) or a region name.
        latent_layer: Layer of a latent target (``backbone``, ``encoder``, ...).
        dtype: ``float32`` or ``float64``.
    """

    SECTION: ClassVar[str] = "attribution"

    method: str
    attention_rule: str
    epsilon: float
    target: str
    target_variable: str
    target_level: float | None
    target_region: str
    latent_layer: str
    dtype: str

    def __post_init__(self) -> None:
        if self.target not in ("forecast", "latent"):
            raise ValueError(f"attribution.target: expected forecast or latent, got {self.target!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"attribution.dtype: expected float32 or float64, got {self.dtype!r}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> AttributionSettings:
        """From the ``attribution`` section (its other keys are ignored).

        Raises:
            UndeclaredSettingError: a computation key is missing, naming it.
        """
        return from_section(cls, "attribution", cfg)


@dataclasses.dataclass(frozen=True)
class AttributionCases:
    """The storm cases of the attribution (``attribution.cases``: names in ``storms``)."""

    SECTION: ClassVar[str] = "attribution"

    cases: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class MapSettings:
    """What the relevance maps show (rule ``plot_relevance_maps``): the pressure levels
    (hPa; those the relevance lacks are left out) and the variable (``all``: every one)."""

    SECTION: ClassVar[str] = "attribution"

    map_levels: tuple[int, ...]
    map_variable: str


#: The ``attribution`` keys the labelled days read: the cases' computation keys except
#: ``target_region`` (a day's target and summaries lie in the labels' box).
DAY_KEYS = ("method", "attention_rule", "epsilon", "target", "target_variable", "target_level", "latent_layer", "dtype")


def day_settings(cfg: Mapping[str, Any]) -> AttributionSettings:
    """The computation keys of the labelled days (:data:`DAY_KEYS` of the ``attribution``
    section ``cfg``).

    ``target_region`` is not read (``box``, unused): a day's target and its summaries lie
    in the labels' box.

    Raises:
        UndeclaredSettingError: a key of :data:`DAY_KEYS` was not declared, naming it.
    """
    return from_section(AttributionSettings, "attribution", cfg, target_region="box")


def case_event(case: str, event: StormEvent | None) -> StormEvent:
    """The catalogued storm ``event`` of the attribution case ``case``, checked
    (``None``: the case is not among the catalogued storms).

    Raises:
        ValueError: the storm is not catalogued or has no ``case_time``; names the key.
    """
    if event is None:
        raise ValueError(f"attribution.cases: {case!r} is not in storms")
    if event.case_time is None:
        raise ValueError(f"storms.{case}.case_time: needed for an attribution case")
    return event


def case_summaries(ds: xr.Dataset, box: Region) -> dict[str, pd.DataFrame]:
    """Per variable/level table, vertical profile and centroids of relevance inside ``box``."""
    return {
        "table": relevance_table(ds, box),
        "profile": vertical_profile(ds, box).reset_index(),
        "centroids": relevance_centroids(ds, box),
    }


def case_headline(ds: xr.Dataset, case: str) -> list[dict[str, Any]]:
    """Conservation error, share absorbed by constant terms, and closure error of a case."""
    method = "one case's relevance budget, computed exactly; no interval (a single case, nothing resampled)"
    extra = {"method": method, "n_unit": "cases"}
    rows = [
        {"metric": f"lrp_conservation_error_{case}", "value": float(ds.attrs["conservation_error"]), "n": 1, **extra}
    ]
    for key in ("share_absorbed", "closure_error"):
        if key in ds.attrs:
            rows.append({"metric": f"lrp_{key}_{case}", "value": float(ds.attrs[key]), "n": 1, **extra})
    return rows


def map_dataset(ds: xr.Dataset, variable: str) -> tuple[xr.Dataset, str]:
    """The dataset and variable name to map (``all``: signed sum of atmospheric relevance)."""
    if variable != "all":
        return ds, variable
    atmos = [v for v in ds.data_vars if "level" in ds[v].dims]
    total = sum(ds[v] for v in atmos)
    out = ds.assign(all_atmospheric=total)
    return out, "all_atmospheric"


def track_points(event: StormEvent) -> Sequence[tuple[float, float]]:
    return [(p.lat, p.lon) for p in event.track]
