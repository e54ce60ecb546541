"""The ``pca`` and ``regimes`` sections: the PCA's features and the regime statistics'
resampling and cross-validation (defaults: the schema's).

Beside each whole section, the parts a single analysis reads (a rule declares exactly
those keys, so that changing another key of the section does not rerun it): each a
frozen dataclass whose fields are the keys it reads and whose ``SECTION`` names their
section, built by :meth:`aurora_xai.settings.Settings.view`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from ..sections import from_section

__all__ = [
    "BootstrapSettings",
    "PCAFeatures",
    "PCASettings",
    "PermutationSettings",
    "PooledFeatures",
    "RegimeSettings",
    "SeparabilitySettings",
    "SweepResampling",
]


@dataclasses.dataclass(frozen=True)
class PCASettings:
    """The ``pca`` section: which pooled features enter the PCA."""

    SECTION: ClassVar[str] = "pca"

    region: str
    levels: tuple[str, ...]
    n_components: int
    standardize: bool

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> PCASettings:
        return from_section(cls, "pca", sec)


@dataclasses.dataclass(frozen=True)
class PCAFeatures:
    """The PCA's features and their scaling, as the PCA bootstrap and the layer sweep
    refit it (``pca.region``, ``pca.levels``, ``pca.standardize``)."""

    SECTION: ClassVar[str] = "pca"

    region: str
    levels: tuple[str, ...]
    standardize: bool


@dataclasses.dataclass(frozen=True)
class PooledFeatures:
    """The pooled features the storm/calm test reads (``pca.region``, ``pca.levels``);
    its classifiers scale them themselves."""

    SECTION: ClassVar[str] = "pca"

    region: str
    levels: tuple[str, ...]


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

    SECTION: ClassVar[str] = "regimes"

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
        return from_section(cls, "regimes", sec)


@dataclasses.dataclass(frozen=True)
class BootstrapSettings:
    """The PCA bootstrap's part of ``regimes`` (rule ``bootstrap_pca``; see :class:`RegimeSettings`)."""

    SECTION: ClassVar[str] = "regimes"

    n_bootstrap: int
    bootstrap_k: int
    bootstrap_block: int | str


@dataclasses.dataclass(frozen=True)
class PermutationSettings:
    """The permutations of the PCA's headline tests (rule ``fit_pca``, which runs ten
    times ``regimes.n_permutations``)."""

    SECTION: ClassVar[str] = "regimes"

    n_permutations: int


@dataclasses.dataclass(frozen=True)
class SeparabilitySettings:
    """The storm/calm test's part of ``regimes`` (rule ``score_storm_calm``; see :class:`RegimeSettings`)."""

    SECTION: ClassVar[str] = "regimes"

    n_permutations: int
    cv_folds: int
    separability_pcs: int
    cv_blocking: str
    cv_gap_days: int | str


@dataclasses.dataclass(frozen=True)
class SweepResampling:
    """The layer sweep's part of ``regimes`` (rule ``layer_sweep``; see :class:`RegimeSettings`)."""

    SECTION: ClassVar[str] = "regimes"

    n_bootstrap: int
    bootstrap_block: int | str
    cv_folds: int
    cv_blocking: str
    cv_gap_days: int | str
