"""Settings of the perturbation experiment and its cases (torch-free).

:class:`PerturbationSettings` is the ``perturbation`` section of the config (defaults:
the schema's), :class:`Case` one entry of ``perturbation.cases`` and :class:`MaskFields`
which fields a mask touches; :func:`aurora_xai.config.check_perturbation_config` checks
the section against the rest of the config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd

from aurora_xai.dates import utc_timestamp
from aurora_xai.regions import Region
from aurora_xai.sections import from_section, require, schema_default

__all__ = [
    "MASK_VALUES",
    "METHODS",
    "RANDOM_KINDS",
    "Case",
    "MaskFields",
    "PerturbationSettings",
    "PerturbationWiring",
    "history_indices",
]

#: Attribution methods the experiment knows (``random``: seeded random relevance).
METHODS = ("lrp", "input_x_gradient", "integrated_gradients", "random")
#: Random controls.
RANDOM_KINDS = ("scattered", "blobs")
MASK_VALUES = ("normalised_zero", "climatology", "smooth")


@dataclasses.dataclass(frozen=True)
class MaskFields:
    """Which fields a mask touches.

    Args:
        variables: Aurora names of surface and atmospheric variables; ``None``: all.
        levels: Pressure levels (hPa) of the atmospheric variables; ``None``: all.
        history: History steps in hours relative to the batch time; ``None``: all.
    """

    variables: tuple[str, ...] | None
    levels: tuple[float, ...] | None
    history: tuple[float, ...] | None

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> MaskFields:
        """From the ``perturbation.masked`` section."""
        return from_section(cls, "perturbation.masked", sec)

    @classmethod
    def everything(cls) -> MaskFields:
        """Every variable, level and history step."""
        return cls(variables=None, levels=None, history=None)

    def check(self, batch: Any, step_hours: float = 6.0) -> None:
        known = set(batch.surf_vars) | set(batch.atmos_vars)
        if self.variables is not None:
            bad = sorted(set(self.variables) - known)
            if bad:
                raise KeyError(f"masked variables {bad} not in the batch (it has {sorted(known)})")
        if self.levels is not None:
            have = [float(v) for v in batch.metadata.atmos_levels]
            bad = [v for v in self.levels if v not in have]
            if bad:
                raise KeyError(f"masked levels {bad} hPa not in the batch (it has {have})")
        T = next(iter(batch.surf_vars.values())).shape[1]
        history_indices(self.history, T, step_hours)


def history_indices(hours: Sequence[float] | None, T: int, step_hours: float = 6.0) -> list[int]:
    """Indices into the history axis (oldest first) of steps given in hours (``-6``, ``0``)."""
    if hours is None:
        return list(range(T))
    out = []
    for h in hours:
        k = (T - 1) + float(h) / step_hours
        if not float(k).is_integer() or not 0 <= k < T:
            offsets = [(i - (T - 1)) * step_hours for i in range(T)]
            raise ValueError(f"history step {h} h is not one of the batch's steps {offsets}")
        out.append(int(k))
    return out


@dataclasses.dataclass(frozen=True)
class Case:
    """One perturbation case.

    Args:
        name: Identifier (file names).
        time: The sample's current time (the forecast is valid one step later).
        variable, level: Predicted variable whose degradation is measured (and the
            relevance target's variable); ``level`` in hPa for atmospheric variables.
        target_region: Region of the relevance target (mean of the predicted variable).
        eval_region: Region over which the MSE is taken.
        sector: Region inside which masks are drawn.
    """

    name: str
    time: pd.Timestamp
    variable: str
    level: float | None
    target_region: Region
    eval_region: Region
    sector: Region

    @classmethod
    def from_config(cls, name: str, cfg: Mapping[str, Any], regions: Mapping[str, Region]) -> Case:
        section = f"perturbation.cases.{name}"

        def region(key: str) -> Region:
            rname = require(section, cfg, key)
            if rname not in regions:
                raise KeyError(f"{section}.{key}: unknown region {rname!r}; defined: {sorted(regions)}")
            return regions[rname]

        return from_section(
            cls,
            section,
            cfg,
            name=name,
            time=utc_timestamp(require(section, cfg, "time")),
            target_region=region("target_region"),
            eval_region=region("eval_region"),
            sector=region("sector"),
        )


@dataclasses.dataclass(frozen=True)
class PerturbationSettings:
    """Settings of the experiment (the ``perturbation`` config section, minus the cases).

    Args:
        fractions: Mask sizes in percent of the sector's cells.
        n_draws: Random masks per fraction and kind.
        seed: Seed of every random choice.
        random_kinds: Random controls to run (``scattered``, ``blobs``).
        methods: Attribution methods.
        mask_value: ``normalised_zero``, ``climatology`` or ``smooth``.
        masked: Which fields the masks touch.
        relevance_variables, relevance_levels, relevance_history: What the masking
            relevance sums over (``None``: all surface and atmospheric variables, all
            levels, both history steps).
        batch_size: Masked copies per forward pass, or ``"auto"`` (sized from the memory
            one copy's forward pass takes and the memory available,
            :func:`~aurora_xai.perturbation.forward.auto_batch_size`); an execution
            setting: results do not depend on it; :meth:`from_config` takes the schema's
            default (the job's value reaches it as a resource).
        n_boot: Bootstrap resamples.
        ci_level: Level of the intervals.
        area_weighted: Exact cell-area weights in the MSE (:func:`aurora_xai.grid.lat_weights`).
        relevance_target: ``forecast`` or ``latent`` (the case's relevance target).
        latent_layer: Layer of a latent target.
        attention_rule: LRP rule of the attention (``cp``, ``attnlrp``, ``gradient``).
        epsilon: Epsilon of the LRP rule of linear layers.
        ig_steps: Steps of integrated gradients.
        climatology_window_days: Half-window (days) of the day-of-year climatology fill.
        climatology_exclude_case_year: Leave the case's year out of that climatology.
        smooth_kind, smooth_scale_deg: Smoothing of the ``smooth`` fill.
    """

    fractions: tuple[float, ...]
    n_draws: int
    seed: int
    random_kinds: tuple[str, ...]
    methods: tuple[str, ...]
    mask_value: str
    masked: MaskFields
    relevance_variables: tuple[str, ...] | None
    relevance_levels: tuple[float, ...] | None
    relevance_history: tuple[float, ...] | None
    batch_size: int | str
    n_boot: int
    ci_level: float
    area_weighted: bool
    relevance_target: str
    latent_layer: str
    attention_rule: str
    epsilon: float
    ig_steps: int
    climatology_window_days: int
    climatology_exclude_case_year: bool
    smooth_kind: str
    smooth_scale_deg: float

    def __post_init__(self) -> None:
        if not self.fractions or any(not 0 < p <= 100 for p in self.fractions):
            raise ValueError(f"perturbation.fractions: percentages in (0, 100], got {self.fractions}")
        if self.n_draws < 2:
            raise ValueError("perturbation.n_draws: need at least 2 random draws")
        bad = set(self.random_kinds) - set(RANDOM_KINDS)
        if bad or not self.random_kinds:
            raise ValueError(f"perturbation.random_kinds: choose from {RANDOM_KINDS}, got {self.random_kinds}")
        bad = set(self.methods) - set(METHODS)
        if bad or not self.methods:
            raise ValueError(f"perturbation.methods: choose from {METHODS}, got {self.methods}")
        if self.mask_value not in MASK_VALUES:
            raise ValueError(f"perturbation.mask_value: choose from {MASK_VALUES}, got {self.mask_value!r}")
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ValueError(f"perturbation.batch_size: an integer >= 1 or 'auto', got {self.batch_size!r}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], seed: int) -> PerturbationSettings:
        """From the ``perturbation`` section (``cases``, ``headline_case``, ``lrp_source``
        and the execution key ``batch_size`` are read elsewhere).

        Raises:
            UndeclaredSettingError: a key is missing, naming it.
            ValueError: a value is out of range, naming the key.
        """
        rel = require("perturbation", cfg, "relevance")
        masked = require("perturbation", cfg, "masked")
        return from_section(
            cls,
            "perturbation",
            cfg,
            seed=int(seed),
            masked=MaskFields.from_config(masked),
            relevance_variables=_optional(require("perturbation.relevance", rel, "variables"), str),
            relevance_levels=_optional(require("perturbation.relevance", rel, "levels"), float),
            relevance_history=_optional(require("perturbation.relevance", rel, "history"), float),
            batch_size=schema_default("perturbation.batch_size"),
        )


@dataclasses.dataclass(frozen=True)
class PerturbationWiring:
    """The ``perturbation`` keys that place the experiment in the workflow rather than
    enter its computation.

    Attributes:
        headline_case: The case whose rows get the plain headline names (empty: the
            first case, :meth:`headline`).
        lrp_source: ``compute`` (the experiment computes its LRP) or ``rule`` (it reads
            rule ``compute_relevance``'s).
    """

    SECTION: ClassVar[str] = "perturbation"

    headline_case: str
    lrp_source: str

    def headline(self, cases: Sequence[str]) -> str:
        """The headline case among ``cases``: ``headline_case``, or the first of the sorted
        ``cases`` when it is empty (``""`` without cases), so that leaving it empty and
        naming that case are the same settings."""
        return self.headline_case or (sorted(cases)[0] if cases else "")


def _optional(values: Sequence[Any] | None, convert: Any) -> tuple[Any, ...] | None:
    return None if values is None else tuple(convert(v) for v in values)
