"""The ``probes`` section: linear probes of the latents and their controls (defaults: the schema's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..sections import from_section

__all__ = ["ProbeSettings"]


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """The ``probes`` section: linear probes of the latents and their controls (see the schema)."""

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
