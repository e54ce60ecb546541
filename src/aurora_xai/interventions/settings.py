"""The ``interventions`` section, with the defaults it names resolved (defaults: the schema's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..sections import from_section, require

__all__ = ["InterventionSettings"]


@dataclasses.dataclass(frozen=True)
class InterventionSettings:
    """The ``interventions`` section, with the defaults it names resolved.

    Attributes:
        tap: Where to push (``interventions.tap``; empty: ``latents.tap``).
        region: Region pushed and read (``interventions.region``; empty: ``pca.region``).
        directions, quantities, alphas, n_random, dates_per_class, n_boot: As the schema.
    """

    tap: str
    region: str
    directions: tuple[str, ...]
    quantities: tuple[str, ...]
    alphas: tuple[float, ...]
    n_random: int
    dates_per_class: int
    n_boot: int

    @classmethod
    def from_config(cls, sec: Mapping[str, Any], tap: str, region: str) -> InterventionSettings:
        """Read ``interventions.*``; ``tap`` and ``region`` stand for an empty
        ``interventions.tap`` and ``interventions.region`` (``latents.tap`` and
        ``pca.region``). The region's name and the alphas are checked against the rest
        of the config by :func:`aurora_xai.config.check_interventions_config`."""
        return from_section(
            cls,
            "interventions",
            sec,
            tap=str(require("interventions", sec, "tap") or tap),
            region=str(require("interventions", sec, "region") or region),
        )
