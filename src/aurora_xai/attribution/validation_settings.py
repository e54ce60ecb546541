"""The ``validation`` section: the checks of attribution (torch-free; the rules declare it).

Read by :func:`~aurora_xai.sections.from_section`; the defaults are the schema's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from ..sections import from_section

__all__ = ["VARIANT_LABELS", "DataRandomisationSettings", "ShuffledTraining", "ValidationSettings"]

#: The method variants the checks know (:data:`aurora_xai.attribution.validation.VARIANTS`).
VARIANT_LABELS = ("lrp_cp", "lrp_attnlrp", "lrp_gradient", "input_x_gradient", "integrated_gradients", "saliency")


@dataclasses.dataclass(frozen=True)
class ValidationSettings:
    """The ``validation`` section (see the schema for each key).

    Attributes:
        methods: Variants scored against the known answer and the searchlight.
        cascade_methods: Variants run through the randomisation cascade.
        target_variable: Aurora's name of the forecast variable of the checks' target
            (its mean over each case's box at +6 h, normalised).
        target_level: Its pressure level in hPa (None for a surface variable).
        ig_steps: Steps of integrated gradients.
        epsilon: Epsilon of LRP's linear layers.
        searchlight_patch: Block edge of the searchlight in grid cells.
        searchlight_groups: ``variable``, ``variable_level`` or ``element``.
        searchlight_margin: Degrees around the case's box whose blocks are perturbed.
        searchlight_batch_size: Perturbed copies per forward pass.
        cascade_seed: Seed of the cascade's redraws.
        top_k: Cells counted by NDCG.
    """

    SECTION: ClassVar[str] = "validation"

    methods: tuple[str, ...]
    cascade_methods: tuple[str, ...]
    target_variable: str
    target_level: float | None
    ig_steps: int
    epsilon: float
    searchlight_patch: int
    searchlight_groups: str
    searchlight_margin: float
    searchlight_batch_size: int
    cascade_seed: int
    top_k: int

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> ValidationSettings:
        return from_section(cls, "validation", sec)

    def __post_init__(self) -> None:
        for key in ("methods", "cascade_methods"):
            _check_methods(key, getattr(self, key))


def _check_methods(key: str, labels: tuple[str, ...]) -> None:
    unknown = [m for m in labels if m not in VARIANT_LABELS]
    if unknown:
        raise ValueError(f"validation.{key}: unknown {unknown}; choose from {list(VARIANT_LABELS)}")


@dataclasses.dataclass(frozen=True)
class DataRandomisationSettings:
    """The keys of ``validation`` that the data-randomisation check reads (a view: the
    rule declares exactly these): each variant of ``cascade_methods`` computed under the
    trained surrogate and under the one trained on shuffled targets, for the checks'
    target (see :class:`ValidationSettings` for each key)."""

    SECTION: ClassVar[str] = "validation"

    cascade_methods: tuple[str, ...]
    target_variable: str
    target_level: float | None
    ig_steps: int
    epsilon: float

    def __post_init__(self) -> None:
        _check_methods("cascade_methods", self.cascade_methods)


@dataclasses.dataclass(frozen=True)
class ShuffledTraining:
    """The key of ``validation`` that the shuffled-target training reads (a view):
    ``data_randomisation_seed``, the seed of the permutation of the +6 h targets across
    the training times (:func:`~aurora_xai.surrogate.samples.shuffled_target_times`)."""

    SECTION: ClassVar[str] = "validation"

    data_randomisation_seed: int
