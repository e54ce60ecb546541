"""The ``probes`` section: linear probes of the latents and their controls (defaults: the schema's).

Beside the whole section, the parts that single rules read (a rule declares exactly
those keys), built by :meth:`aurora_xai.settings.Settings.view`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from ..sections import from_section

__all__ = ["ProbeControlSettings", "ProbeSettings", "ProbeTargetSettings"]


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """The ``probes`` section: linear probes of the latents and their controls (see the schema)."""

    SECTION: ClassVar[str] = "probes"

    region: str
    quantities: tuple[str, ...]
    folds: int
    inner_folds: int
    gap_days: int
    alphas: tuple[float, ...]
    n_bootstrap: int
    random_seed: int

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> ProbeSettings:
        return from_section(cls, "probes", sec)


@dataclasses.dataclass(frozen=True)
class ProbeTargetSettings:
    """What the probes' targets are computed for (rule ``probe_targets``): the region and
    the quantities."""

    SECTION: ClassVar[str] = "probes"

    region: str
    quantities: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ProbeControlSettings:
    """The random-model control's seed (rule ``extract_random_latents``)."""

    SECTION: ClassVar[str] = "probes"

    random_seed: int
