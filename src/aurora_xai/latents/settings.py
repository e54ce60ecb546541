"""The ``latents`` section: the tapped layers and their pooling (defaults: the schema's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..sections import from_section

__all__ = ["LatentSettings"]


@dataclasses.dataclass(frozen=True)
class LatentSettings:
    """The ``latents`` section: the tapped layers and their pooling.

    Attributes:
        tap: The analysis tap (PCA, regimes).
        taps: Further taps read from the same forward passes (``latents.taps``).
        stats: Pooling statistics.
        area_weighted: Weight tokens by the area of their patch.
        published_geometry: Pool with the published token geometry.

    (``latents.batch_size`` is an execution setting: it reaches the extraction as a
    Snakemake resource, not through this section.)
    """

    tap: str
    taps: tuple[str, ...]
    stats: tuple[str, ...]
    area_weighted: bool
    published_geometry: bool

    @property
    def all_taps(self) -> tuple[str, ...]:
        """The analysis tap first, then the further taps, each once."""
        return tuple(dict.fromkeys((self.tap, *self.taps)))

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> LatentSettings:
        return from_section(cls, "latents", sec)
