"""The ``pca`` and ``regimes`` sections: the PCA's features and the regime statistics'
resampling and cross-validation (defaults: the schema's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..sections import from_section, require

__all__ = ["PCASettings", "RegimeSettings"]


@dataclasses.dataclass(frozen=True)
class PCASettings:
    """The ``pca`` section: which pooled features enter the PCA."""

    region: str
    levels: tuple[str, ...]
    n_components: int
    standardize: bool

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> PCASettings:
        return from_section(cls, "pca", sec)


@dataclasses.dataclass(frozen=True)
class RegimeSettings:
    """The ``regimes`` section: resampling and cross-validation of the regime statistics.

    Attributes:
        n_bootstrap, bootstrap_k: Bootstrap resamples of the PCA and its top-k subspace.
        n_permutations: Permutations of the storm/calm tests.
        cv_folds: Cross-validation folds.
        separability_pcs: Leading PCs the separability uses.
        cv_blocking: ``episode``, ``week`` or ``none`` (how the folds are blocked in time).
        cv_gap_days: Days left out between training and test folds, or ``auto`` (the
            features' measured decorrelation length).
        bootstrap_block: Block length of the bootstrap (days), ``auto`` or ``none``.
    """

    n_bootstrap: int
    bootstrap_k: int
    n_permutations: int
    cv_folds: int
    separability_pcs: int
    cv_blocking: str
    cv_gap_days: int | str
    bootstrap_block: int | str

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> RegimeSettings:
        block = require("regimes", sec, "bootstrap_block")
        gap = require("regimes", sec, "cv_gap_days")
        return from_section(
            cls,
            "regimes",
            sec,
            bootstrap_block=block if isinstance(block, str) else int(block),
            cv_gap_days=gap if isinstance(gap, str) else int(gap),
        )
