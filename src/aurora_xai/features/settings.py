"""The ``features`` section: token samples, SAEs, their evaluation, atlas and steering.

Torch-free (the workflow reads it in Snakemake's process). Each subsection is a view
(:meth:`aurora_xai.settings.Settings.view`) so that a rule declares exactly the keys it
reads; the defaults are the schema's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..sections import from_section, require

__all__ = [
    "FeatureEvaluationSettings",
    "FeatureSettings",
    "SAESettings",
    "SteeringSettings",
    "TokenSampleSettings",
    "AtlasSettings",
    "feature_taps",
]


def feature_taps(taps: Sequence[str] | None, tap: str, latent_taps: Sequence[str]) -> tuple[str, ...]:
    """The taps that get token samples and SAEs.

    Args:
        taps: ``features.taps`` (None: every extracted tap).
        tap: ``latents.tap``.
        latent_taps: ``latents.taps``.

    Returns:
        The taps in the extraction's order (``latents.tap`` first, then ``latents.taps``).

    Raises:
        ValueError: a tap is not extracted (neither ``latents.tap`` nor in ``latents.taps``),
            naming ``features.taps``.
    """
    extracted = list(dict.fromkeys([tap, *latent_taps]))
    if taps is None:
        return tuple(extracted)
    missing = [t for t in taps if t not in extracted]
    if missing:
        raise ValueError(
            f"features.taps: {missing} are not extracted; add them to latents.taps "
            f"(extracted: {extracted}) or remove them"
        )
    return tuple(t for t in extracted if t in taps)


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    """``features.enabled`` and ``features.taps`` (resolved by :func:`feature_taps`)."""

    SECTION: ClassVar[str] = "features"

    enabled: bool
    taps: tuple[str, ...]

    @classmethod
    def from_config(cls, sec: Mapping[str, Any], tap: str, latent_taps: Sequence[str]) -> FeatureSettings:
        taps = require("features", sec, "taps")
        return cls(
            enabled=bool(require("features", sec, "enabled")),
            taps=feature_taps(None if taps is None else list(taps), tap, latent_taps),
        )


@dataclasses.dataclass(frozen=True)
class TokenSampleSettings:
    """``features.sample``: see :class:`aurora_xai.features.tokens.TokenSample`."""

    SECTION: ClassVar[str] = "features.sample"

    max_tokens: int
    lat_edges: tuple[float, ...]
    seed: int
    chunk_tokens: int


@dataclasses.dataclass(frozen=True)
class SAESettings:
    """``features.sae``: see :class:`aurora_xai.features.sae.SAEConfig` (``seeds[0]`` is
    the analysed SAE)."""

    SECTION: ClassVar[str] = "features.sae"

    expansion: int
    k: int
    k_aux: int | None
    aux_coef: float
    dead_tokens: int
    epochs: int
    batch_size: int
    learning_rate: float | None
    seeds: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class FeatureEvaluationSettings:
    """``features.evaluation``: held-out weeks, the dense threshold, bootstrap size."""

    SECTION: ClassVar[str] = "features.evaluation"

    holdout_every: int
    dense_threshold: float
    n_boot: int


@dataclasses.dataclass(frozen=True)
class AtlasSettings:
    """``features.atlas``: features shown per tap, dates listed per feature, and the
    planted match's gap (days) between the selection's dates and the held-out ones."""

    SECTION: ClassVar[str] = "features.atlas"

    top_features: int
    top_dates: int
    gap_days: int


@dataclasses.dataclass(frozen=True)
class SteeringSettings:
    """``features.steering`` (an empty ``tap`` is ``latents.tap``, resolved by the caller)."""

    SECTION: ClassVar[str] = "features.steering"

    tap: str
    quantities: tuple[str, ...]
    features: int
    alphas: tuple[float, ...]
    n_random: int
    dates_per_class: int
    n_boot: int
    reconstruct: str

    @classmethod
    def from_config(cls, sec: Mapping[str, Any], tap: str) -> SteeringSettings:
        return from_section(cls, "features.steering", sec, tap=str(require("features.steering", sec, "tap") or tap))
